"""Where every token of a sequence came from.

``provenance_table(seq)`` is the vectorized form (one row per token, tensors of length L); ``provenance(seq, i)``
is one row as a dict. Per modality:

- text: ``chars`` = [start, end) character span in the segment's text (a byte-fallback piece that is part of a
  multi-byte character points at that whole character);
- image patches: ``box`` = (x0, y0, x1, y1) in ORIGINAL pixels (NaN for padding-only patches) and ``block``;
- video patches: ``frame`` (sampled frame number), ``frame_index`` (in the clip), ``time`` = its timestamp, and
  ``box`` in the frame's original pixels;
- audio tokens: ``time`` = [start, end) in seconds;
- image codes: ``box`` = the code cell in original pixels;
- markers and control tokens: only their span.
"""

from __future__ import annotations

import torch

from ..errors import SequenceError
from ..image.plan import ImageConfig, plan_image
from ..core.sequence import TokenSequence
from ..core.vocab import PLACEHOLDERS, Modality

__all__ = ["provenance_table", "provenance"]


def provenance_table(seq: TokenSequence, text_tokenizer=None) -> dict[str, torch.Tensor]:
    """Columns (length L): span, chars [L, 2] (-1 if none), box [L, 4] (NaN if none), frame, frame_index (-1 if
    none), time [L, 2] (NaN if none)."""
    L = len(seq)
    span_of = torch.empty(L, dtype=torch.int64)
    chars = torch.full((L, 2), -1, dtype=torch.int64)
    box = torch.full((L, 4), float("nan"), dtype=torch.float64)
    frame = torch.full((L,), -1, dtype=torch.int64)
    frame_index = torch.full((L,), -1, dtype=torch.int64)
    time = torch.full((L, 2), float("nan"), dtype=torch.float64)
    for k, span in enumerate(seq.spans):
        s, e = span.start, span.end
        span_of[s:e] = k
        m, meta = span.modality, span.meta
        if m == Modality.TEXT:
            chars[s:e] = _char_spans(seq.input_ids[s:e], text_tokenizer, seq)
        elif m in (Modality.IMAGE, Modality.VIDEO):
            where = (seq.input_ids[s:e] == seq.vocab.placeholder(m)).nonzero().flatten() + s
            if not len(where):
                continue
            boxes = _patch_boxes(meta)
            n = len(boxes)
            k_patch = torch.arange(len(where))
            box[where] = boxes[k_patch % n]
            if m == Modality.VIDEO:
                f = k_patch // n
                frame[where] = f + meta.get("first_frame", 0)  # a clip with sound has one frame per segment
                frame_index[where] = torch.tensor(meta["frame_indices"])[f]
                t = torch.tensor(meta["timestamps"], dtype=torch.float64)[f]
                time[where] = torch.stack([t, t], 1)
        elif m == Modality.AUDIO:
            where = (seq.input_ids[s:e] == seq.vocab.placeholder(m)).nonzero().flatten() + s
            first = meta.get("first_token", 0)  # a slice of a clip's sound starts further in
            j = torch.arange(first, first + len(where) + 1, dtype=torch.float64) * meta["stack"] / 100.0
            time[where] = torch.stack([j[:-1], torch.clamp(j[1:], max=meta["duration"])], 1)
            if len(where) and first + len(where) == meta.get("audio_tokens", len(where)):
                time[where[-1], 1] = meta["duration"]  # the last token ends where the sound ends
        elif m == Modality.IMAGE_CODES and meta.get("original_size"):
            h, w = meta["original_size"]
            cfg = ImageConfig(size=meta["image_size"], aspect="crop", patch_size=meta["downsample"])
            from ..image.tokenizer import view_boxes

            box[s + 1:e - 1] = view_boxes(plan_image(h, w, cfg).views[0], meta["downsample"])
    return {"span": span_of, "chars": chars, "box": box, "frame": frame, "frame_index": frame_index, "time": time}


def provenance(seq: TokenSequence, i: int, text_tokenizer=None) -> dict:
    """One token's provenance as a dict (see the module docstring)."""
    if not 0 <= i < len(seq):
        raise SequenceError(f"token {i} is outside the sequence of {len(seq)} tokens")
    span = next(s for s in seq.spans if s.start <= i < s.end)
    tab = provenance_table(_only(seq, span), text_tokenizer)
    r = i - span.start
    out: dict = {"token": i, "span": seq.spans.index(span), "modality": span.modality.label,
                 "source": span.meta.get("source"), "id": int(seq.input_ids[i]),
                 "placeholder": span.modality in PLACEHOLDERS and int(seq.input_ids[i]) == seq.vocab.placeholder(
                     span.modality)}
    if int(tab["chars"][r, 0]) >= 0:
        out["chars"] = tab["chars"][r].tolist()
    if not torch.isnan(tab["box"][r, 0]):
        out["box"] = tab["box"][r].tolist()
    if int(tab["frame"][r]) >= 0:
        out["frame"], out["frame_index"] = int(tab["frame"][r]), int(tab["frame_index"][r])
    if not torch.isnan(tab["time"][r, 0]):
        out["time"] = tab["time"][r].tolist()
    return out


def _only(seq: TokenSequence, span) -> TokenSequence:
    """A one-span view of ``seq`` (positions relative to the span), for computing one span's provenance."""
    from dataclasses import replace

    sl = slice(span.start, span.end)
    return TokenSequence(seq.input_ids[sl], seq.modality[sl], seq.positions[sl], seq.positions_3d[:, sl],
                         (replace(span, start=0),), seq.features, seq.vocab, seq.max_length, seq.truncation)


def _patch_boxes(meta: dict) -> torch.Tensor:
    """Boxes of one picture's patches (for video: one frame's), float64 [n, 4], from the span metadata."""
    from ..image.tokenizer import view_boxes

    cfg = ImageConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["image_config"].items()})
    h, w = meta["original_size"]
    plan = plan_image(h, w, cfg)
    return torch.cat([view_boxes(v, cfg.patch_size) for v in plan.views])


def _char_spans(ids: torch.Tensor, text_tokenizer, seq: TokenSequence) -> torch.Tensor:
    """[n, 2] character spans of text ids within the text they decode to."""
    from ..text.tokenizer import TextTokenizer

    tok = text_tokenizer or TextTokenizer.default()
    if seq.vocab.text_model and tok.model_id != seq.vocab.text_model:
        raise SequenceError(f"the sequence's text model is {seq.vocab.text_model}; pass its TextTokenizer")
    nbytes = []
    for p in (tok.id_to_piece(i) for i in ids.tolist()):
        if len(p) == 6 and p.startswith("<0x") and p.endswith(">"):
            nbytes.append(1)
        else:
            nbytes.append(len(p.replace("\u2581", " ").encode("utf-8")))
    text = tok.decode(ids)
    byte_to_char = []
    for ci, ch in enumerate(text):
        byte_to_char += [ci] * len(ch.encode("utf-8"))
    byte_to_char.append(len(text))
    out, b = [], 0
    for n in nbytes:
        start = byte_to_char[min(b, len(byte_to_char) - 1)]
        end = byte_to_char[min(b + n - 1, len(byte_to_char) - 1)] + 1 if n else start
        out.append((start, min(end, len(text))))
        b += n
    return torch.tensor(out, dtype=torch.int64).reshape(-1, 2)
