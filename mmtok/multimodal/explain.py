"""What a token or a span of a sequence is, in words and pictures: the notebook view, the demo's Compose tab and
``mmtok tokenize --png`` all read it from here (drawing: :mod:`mmtok.multimodal.pictures`).

- :func:`describe_token`: one sentence for token ``i`` (its span, its source by file name, and what its modality
  knows: the text piece and its characters, the patch box in original pixels, the frame and its display
  interval, the stretch of sound) — never a raw provenance row with -1 / NaN placeholders;
- :func:`token_picture`: that token on its source (the patch box on the original picture, the frame in the clip's
  strip, the interval on the waveform), or None when the source is not a file to read;
- :func:`span_thumbnail`: a small picture of a span from the sequence alone (the processed picture from its
  patches, a clip's frames, a mel thumbnail, a VQ code map; a model's picture from its source file);
- :func:`text_pieces`: a text span cut into its tokens' strings, byte-fallback pieces marked;
- :func:`sequence_picture`: the timeline strip above one row per span (thumbnail and what it is), one PNG.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from PIL import Image as PILImage
from PIL import ImageDraw

from ..audio import SAMPLE_RATE, AudioTokenizer
from ..core.meta import AudioMeta, CodesMeta, ImageMeta, VideoMeta
from ..core.protocol import segment_tokenizer
from ..core.sequence import TokenSequence
from ..core.vocab import Vocab
from ..errors import MmtokError
from ..image import ImageTokenizer
from ..media.audioio import stream_audio
from ..media.imageio import load_image
from ..text import TextTokenizer
from ..video import VideoTokenizer
from ..vq import VQImageTokenizer
from . import pictures

__all__ = ["source_label", "describe_token", "token_picture", "span_thumbnail", "text_pieces", "sequence_picture"]


def source_label(source: Any) -> str:
    """A source as people name it: a path by its file name (an upload's temporary folder left out), anything else
    (``"<array 300x451>"``, a URL) as it is; "unnamed" for none."""
    s = str(source or "")
    if not s:
        return "unnamed"
    return s if s.startswith("<") or "://" in s else (Path(s).name or s)


@functools.lru_cache(maxsize=1)
def _bundled_text() -> TextTokenizer:
    return TextTokenizer.default()


def _text_tokenizer(seq: TokenSequence, given: TextTokenizer | None) -> TextTokenizer | None:
    """The text tokenizer whose ids a mmtok-layout sequence holds: ``given``, else the bundled one when the
    sequence's vocabulary is built on it; None for a model's layout (its text spans carry their own text)."""
    if given is not None:
        return given
    if isinstance(seq.vocab, Vocab) and seq.vocab.text_model in ("", _bundled_text().model_id):
        return _bundled_text()
    return None


def text_pieces(seq: TokenSequence, k: int, text_tokenizer: TextTokenizer | None = None) -> list[tuple[str, bool]]:
    """Span ``k`` (text) as its tokens' strings in order, each with whether it is a byte-fallback piece (a UTF-8
    byte of a character the vocabulary lacks: the character shows on the last byte of it, the others are "")."""
    span = seq.spans[k]
    ids = seq.input_ids[span.start:span.end].tolist()
    text = getattr(span.meta, "text", None)
    if text is not None:  # a model's layout: each token's characters in the piece's text
        chars = list(span.meta.chars)
        return [(text[chars[2 * j]:chars[2 * j + 1]] if chars[2 * j] >= 0 else "", False) for j in range(len(ids))]
    tok = _text_tokenizer(seq, text_tokenizer)
    if tok is None:
        return [(seq.vocab.name(i), False) for i in ids]
    table = tok.provenance_table(seq.segment(k), seq.vocab)["chars"].tolist()
    whole = tok.decode(ids)
    out = []
    for j, (i, (a, b)) in enumerate(zip(ids, table)):
        last = j + 1 == len(table) or table[j + 1] != [a, b]  # the bytes of one character share its span
        out.append((whole[a:b] if a >= 0 and last else "", tok.id_to_piece(i).startswith("<0x")))
    return out


def describe_token(seq: TokenSequence, i: int, text_tokenizer: TextTokenizer | None = None) -> str:
    """Token ``i`` (negative counts from the end) in one sentence."""
    p = seq.provenance(i, _text_tokenizer(seq, text_tokenizer))
    k = p["span"]
    span = seq.spans[k]
    j = p["token"] - span.start
    kind = span.modality.label + (" with its sound" if span.sound_features else "")
    head = (f"Token {p['token']:,} is token {j:,} of the {span.length:,} in span {k} ({kind}, from "
            f"{source_label(p['source'])})")
    if "chars" in p:
        piece, byte = text_pieces(seq, k, text_tokenizer)[j]
        what = (f"a byte-fallback piece ({seq.vocab.name(p['id'])}), one UTF-8 byte of a character"
                if byte else f"the text piece {piece!r}")
        return f"{head}: {what}, characters {p['chars'][0]}–{p['chars'][1]} of the span's text."
    parts = []
    if "frame" in p:
        parts.append(f"frame {p['frame']} of the sampled frames (frame {p['frame_index']} of the clip), shown "
                     f"{p['time'][0]:.2f}–{p['time'][1]:.2f} s")
    elif "time" in p:
        parts.append(f"the sound from {p['time'][0]:.2f} to {p['time'][1]:.2f} s")
    if "box" in p:
        x0, y0, x1, y1 = p["box"]
        parts.append(f"the patch ({x0:.0f}, {y0:.0f})–({x1:.0f}, {y1:.0f}) in the original picture's pixels"
                     + (f", block {p['block']}" if "block" in p else ""))
    if not parts:
        name = seq.vocab.name(p["id"])
        return f"{head}: the marker {name}, which stands for no part of the input."
    return f"{head}: " + "; ".join(parts) + "."


def _readable(src: Any) -> bool:
    return isinstance(src, (str, Path)) and not str(src).startswith("<") and Path(src).is_file()


def token_picture(seq: TokenSequence, i: int, text_tokenizer: TextTokenizer | None = None,
                  max_media_seconds: float = 4 * 3600.0) -> PILImage.Image | None:
    """Token ``i`` shown on its source: a picture's patch box (the span's boxes outlined, this one filled), a
    clip's frame strip with its frame framed, a sound's waveform and mel with its interval shaded; None for text,
    markers and sources that are not files."""
    p = seq.provenance(i, _text_tokenizer(seq, text_tokenizer))
    k, src = p["span"], p["source"]
    span = seq.spans[k]
    if not _readable(src) or ("box" not in p and "time" not in p):
        return None
    if "frame" in p:
        seg = seq.segment(k)
        tok = segment_tokenizer(seg, seq.vocab)
        if isinstance(tok, VideoTokenizer):
            tokens = tok.from_segment(seg)
            frames = tok.decode(tokens)
            return pictures.frame_strip(frames, tokens.timestamps.tolist(), [len(f.patches) for f in tokens.frames],
                                        highlight=p["frame"])
    if "box" in p:
        table = seq.provenance_table(_text_tokenizer(seq, text_tokenizer))
        boxes = table["box"][span.start:span.end].float()
        original = load_image(src).pixels
        return pictures.patch_grid(original, boxes, torch.arange(span.length) == p["token"] - span.start)
    wave = torch.cat([torch.from_numpy(c) for c in stream_audio(src, target_rate=SAMPLE_RATE, sample_rate=None,
                                                                max_duration=max_media_seconds,
                                                                chunk_seconds=30.0)])
    return pictures.waveform(wave, SAMPLE_RATE, tuple(p["time"]))


def span_thumbnail(seq: TokenSequence, k: int, side: int = 96) -> PILImage.Image | None:
    """A small picture of span ``k`` made from the sequence itself: the processed picture (from its patches), a
    clip's first, middle and last frames, a mel thumbnail of a sound, a VQ code map; a model-layout picture
    from its source file. None for text and markers, and for a span with nothing to show."""
    seg = seq.segment(k)
    meta = seg.meta
    try:
        tok = segment_tokenizer(seg, seq.vocab)
        if isinstance(meta, CodesMeta) and isinstance(tok, VQImageTokenizer):
            pic = pictures.code_map(tok.from_segment(seg, seq.vocab), cell=4)
        elif isinstance(meta, VideoMeta) and isinstance(tok, VideoTokenizer):
            frames = tok.decode(tok.from_segment(seg))
            picks = sorted({0, len(frames) // 2, len(frames) - 1})
            pic = _row([pictures.to_pil(frames[f]) for f in picks], side)
        elif isinstance(meta, ImageMeta) and isinstance(tok, ImageTokenizer):
            pic = pictures.to_pil(tok.decode(tok.from_segment(seg)))
        elif isinstance(meta, AudioMeta) and isinstance(tok, AudioTokenizer):
            pic = pictures.mel_picture(tok.from_segment(seg).features, meta.stack, height_scale=1, max_width=400)
        elif seg.modality.label == "image" and _readable(meta.source):
            pic = pictures.to_pil(load_image(meta.source).pixels)
        else:
            return None
    except MmtokError:  # a span whose parts cannot be rebuilt (e.g. a legacy manifest): no thumbnail
        return None
    pic = pic.copy()
    pic.thumbnail((side * 3, side))
    return pic


def _row(frames: list[PILImage.Image], side: int) -> PILImage.Image:
    for f in frames:
        f.thumbnail((side, side))
    out = PILImage.new("RGB", (sum(f.width for f in frames) + 2 * (len(frames) - 1), frames[0].height), "white")
    x = 0
    for f in frames:
        out.paste(f, (x, 0))
        x += f.width + 2
    return out


def sequence_picture(seq: TokenSequence, width: int = 960, max_spans: int = 40) -> PILImage.Image:
    """The timeline strip, then one row per span (up to ``max_spans``; the rest counted at the end): its
    thumbnail and a line saying what it is — what ``mmtok tokenize --png`` writes."""
    strip = pictures.timeline_strip(seq, width)
    shown = seq.spans[:max_spans]
    thumbs = [span_thumbnail(seq, k, side=56) for k in range(len(shown))]
    heights = [max(20, (t.height if t else 0) + 6) for t in thumbs]
    more = len(seq.spans) - len(shown)
    out = PILImage.new("RGB", (width, strip.height + 8 + sum(heights) + (20 if more else 0)), "white")
    out.paste(strip, (0, 0))
    draw, font = ImageDraw.Draw(out), pictures._font(12)
    y = strip.height + 8
    for k, (span, thumb, h) in enumerate(zip(shown, thumbs, heights)):
        draw.rectangle([0, y + 3, 8, y + 13], fill=pictures.MODALITY_COLORS[span.modality.label])
        line = (f"span {k} · {span.modality.label}{' + sound' if span.sound_features else ''} · "
                f"{span.length:,} tokens · {source_label(span.meta.source)}")
        draw.text((14, y + 2), line, fill="black", font=font)
        if thumb is not None:
            out.paste(thumb, (width - thumb.width - 4, y + 2))
        y += h
    if more:
        draw.text((14, y + 2), f"... and {more} more spans", fill="black", font=font)
    return out
