"""What the same prompt costs under other models: each model row's rule, with its source.

``mmtok.budget(contents, models=[...])`` probes each piece (picture size from the header; a clip's size,
rotation, duration and frame count from its packets; audio's exact sample count by decoding without features)
and returns one row per model: tokens per modality and the total. Text is counted with mmtok's SentencePiece
model for every row (the other models' tokenizers are not bundled), so only the media columns are each
model's own. A piece a row cannot count is listed in the row's ``unsupported`` with the reason.

The Qwen-VL rows keep no formula here: each piece is counted by ``mmtok.ModelProcessor(name).segment_length`` (a
picture by its size), the count that equals the model's transformers processor (``tests/test_models.py``), and a
piece the processor refuses is unsupported with the processor's own message (its aspect-ratio limit, media it
does not take). The other rows are formulas of this module, written from their sources and not yet run against
the models' processors (issue 19).

| row | image | video | audio | source |
|---|---|---|---|---|
| ``mmtok`` | this project's layout (``MultimodalTokenizer``), markers included | 16 frames x image + markers (+ the sound's tokens and 2 markers per frame for ``Video(src, audio=True)``) | the layout's audio preset + 2 markers | equals ``len(tok(contents))`` (tested) |
| ``gemini-1.0-report`` | 196 (224-pixel ViT, 16-pixel patches) | 16 frames x 196 | none stated | Gemini 1.0 report: 16 frames per video, ViT patches |
| ``gemini-api`` | 258 if both sides <= 384, else 258 per 768x768 tile (ceil per side) | 258 per frame at 1 frame/s + 32/s of audio | 32 per second | Gemini API token counting docs |
| ``qwen2-vl``, ``qwen2.5-vl``, ``qwen3-vl`` | ``ModelProcessor(name).segment_length``: the model's smart_resize, 2x2-merged patches + 2 markers; an aspect ratio over 200 is refused | not yet: mmtok.models has no Qwen video path, so a clip is listed as unsupported (the earlier ``qwen2-vl`` estimate, 2 frames/s with qwen-vl-utils' frame limits, is gone: it was never run against a processor, and transformers' ``Qwen2VLVideoProcessor`` keeps every frame it is given unless ``do_sample_frames=True``) | none (the model takes no audio) | :mod:`mmtok.models.qwen`, equal to transformers' processors |
| ``gemma-3`` | 256 + 2 per image (pan-and-scan off, the default) | none | none | Gemma 3 technical report / processor |
| ``gemma-3n`` | 256 + 2 per image | none | 6.25 per second | Gemma 3n model card |
| ``chameleon`` | 1024 per image (512x512, VQ f16) + 2 | none | none | Chameleon paper |

A picture to write as VQ codes (``Image(src, as_="codes")``) counts as a picture in the formula rows; the Qwen-VL
processors refuse it (they read pictures, they write none).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..audio import SAMPLE_RATE
from ..core.registry import Registry
from ..errors import InputError
from ..media.contents import Audio, Image, Video
from ..media.imageio import image_size
from ..models import ModelProcessor
from ..vq.tokenizer import codes_segment_length
from .interleave import sound_slices_length

__all__ = ["budget", "MODEL_PRESETS", "format_budget"]


@dataclass(frozen=True)
class _Media:
    kind: str  # text | image | video | audio | codes
    text: str = ""
    height: int = 0
    width: int = 0
    seconds: float = 0.0  # video/audio duration
    frames: int = 0  # video frames in the clip
    samples16k: int = 0  # audio (and a clip whose sound is interleaved): exact 16 kHz sample count
    has_audio: bool = False
    with_sound: bool = False  # Video(audio=True)
    content: Any = None  # the prompt piece itself, for the model processors (they refuse what they cannot read)


def _probe(piece: Any) -> _Media:
    if isinstance(piece, str):
        return _Media("text", text=piece, content=piece)
    if isinstance(piece, Image):
        w, h = image_size(piece.src)
        return _Media("image" if piece.as_ == "patches" else "codes", height=h, width=w, content=piece)
    if isinstance(piece, Video):
        from ..media.container import source_name
        from ..video.index import open_video, read_index

        name = source_name(piece.src)
        container, stream = open_video(piece.src, name)
        try:
            idx = read_index(container, stream, name, 1e9)
            rotation = 0
            container.seek(0)
            for frame in container.decode(stream):  # the display rotation is only known from a decoded frame
                rotation = int(getattr(frame, "rotation", 0) or 0)
                break
            has_audio = bool(container.streams.audio)
        finally:
            container.close()
        w, h = idx.width, idx.height
        if rotation % 180:
            w, h = h, w
        n = _samples16k(piece.src, None) if piece.audio else 0
        return _Media("video", height=h, width=w, seconds=idx.duration, frames=len(idx.pts), has_audio=has_audio,
                      samples16k=n, with_sound=piece.audio, content=piece)
    if isinstance(piece, Audio):
        n = _samples16k(piece.src, piece.sample_rate)
        return _Media("audio", seconds=n / SAMPLE_RATE, samples16k=n, content=piece)
    raise InputError(f"cannot budget a {type(piece).__name__}; give str, mmtok.Image, mmtok.Video or mmtok.Audio")


def _samples16k(src, sample_rate) -> int:
    """The exact number of 16 kHz samples mmtok's audio path makes of ``src`` (decoded, not featurized)."""
    from ..media.audioio import stream_audio

    return sum(len(c) for c in stream_audio(src, target_rate=SAMPLE_RATE, sample_rate=sample_rate, max_duration=24 * 3600.0, chunk_seconds=30))


# --- the formulas ------------------------------------------------------------------------------------------
def _mmtok(m: _Media, tok) -> int | None:
    if m.kind == "text":
        return tok.text.num_tokens(m.text)
    if m.kind == "image":
        return tok.image.segment_length(m.height, m.width)
    if m.kind == "codes":
        return codes_segment_length(tok.vq_num_tokens(m.height, m.width))
    if m.kind == "video":
        frames = tok.video.segment_length(m.height, m.width)
        if not m.with_sound:
            return frames
        return frames + sound_slices_length(tok.audio.num_tokens(m.samples16k / SAMPLE_RATE), tok.video.config.num_frames)
    return tok.audio.segment_length(m.samples16k / SAMPLE_RATE)


def _gemini_report(m: _Media) -> int | None:
    return {"image": 196, "codes": 196, "video": 16 * 196}.get(m.kind)


def _gemini_api(m: _Media) -> int | None:
    if m.kind in ("image", "codes"):
        if m.height <= 384 and m.width <= 384:
            return 258
        return 258 * math.ceil(m.height / 768) * math.ceil(m.width / 768)
    if m.kind == "video":
        return 258 * max(1, math.ceil(m.seconds)) + (math.ceil(32 * m.seconds) if m.has_audio else 0)
    if m.kind == "audio":
        return math.ceil(32 * m.seconds)
    return None


class _ModelRow:
    """A row counted by :mod:`mmtok.models`: ``ModelProcessor(name).segment_length`` of each piece (a picture by
    its probed size), no formula here. A piece the processor refuses raises its ``InputError``, which names the
    model and its rule; :func:`budget` lists the piece as unsupported with that message."""

    def __init__(self, name: str) -> None:
        self.name = name

    @cached_property
    def processor(self) -> ModelProcessor:  # built on first use: import mmtok builds no processor
        return ModelProcessor(self.name)

    def __call__(self, m: _Media) -> int:
        return self.processor.segment_length((m.height, m.width) if m.kind == "image" else m.content)

    def __repr__(self) -> str:
        return f"_ModelRow({self.name!r})"


MODEL_PRESETS: Registry[Callable] = Registry("model preset")
for _name, _formula in (
        ("mmtok", _mmtok),
        ("gemini-1.0-report", _gemini_report),
        ("gemini-api", _gemini_api),
        ("qwen2-vl", _ModelRow("qwen2-vl")),
        ("qwen2.5-vl", _ModelRow("qwen2.5-vl")),
        ("qwen3-vl", _ModelRow("qwen3-vl")),
        ("gemma-3", lambda m: 258 if m.kind in ("image", "codes") else None),
        ("gemma-3n", lambda m: 258 if m.kind in ("image", "codes") else math.ceil(6.25 * m.seconds)
         if m.kind == "audio" else None),
        ("chameleon", lambda m: 1026 if m.kind in ("image", "codes") else None)):
    MODEL_PRESETS.register(_name, _formula)
_COLUMNS = ("text", "image", "video", "audio")


def budget(contents: Sequence[Any], models: Sequence[str] = tuple(MODEL_PRESETS), tokenizer=None) -> list[dict]:
    """One row per model: ``{"model", "text", "image", "video", "audio", "total", "unsupported"}``.

    Image codes count in the image column. ``unsupported`` lists the pieces a model cannot take, each as
    ``"piece i (kind): reason"`` (``i`` counts from 0 in ``contents``); their tokens are left out of the row's
    total. The reason is the model processor's refusal for the rows of :mod:`mmtok.models` (e.g. ``"piece 0
    (image): qwen2-vl refuses a 5000x10 picture (width x height): its aspect ratio 500.0 is over 200, ..."``), and
    ``"the NAME preset has no KIND rule"`` for the formula rows. ``tokenizer`` is the ``MultimodalTokenizer`` whose
    layout the ``mmtok`` row describes (the default layout if None).
    """
    from .tokenizer import MultimodalTokenizer

    formulas = {name: MODEL_PRESETS.get(name) for name in models}  # an unknown name: UnknownNameError
    tok = tokenizer or MultimodalTokenizer.default()
    media = [_probe(p) for p in ([contents] if isinstance(contents, (str, Image, Video, Audio)) else contents)]
    rows = []
    for name in models:
        row: dict = {"model": name, **{c: 0 for c in _COLUMNS}, "unsupported": []}
        if name == "mmtok" and tok.layout.bos:
            row["text"] += 1
        for i, m in enumerate(media):
            col = "image" if m.kind == "codes" else m.kind
            reason = f"the {name} preset has no {m.kind} rule"
            if m.kind == "text":
                n = tok.text.num_tokens(m.text)
            elif name == "mmtok":
                n = _mmtok(m, tok)
            else:
                try:
                    n = formulas[name](m)
                except InputError as e:  # a model processor refuses the piece: its message names the rule
                    n, reason = None, str(e)
            if n is None:
                row["unsupported"].append(f"piece {i} ({m.kind}): {reason}")
            else:
                row[col] += n
        row["total"] = sum(row[c] for c in _COLUMNS)
        rows.append(row)
    return rows


def format_budget(rows: list[dict]) -> str:
    """A readable table of :func:`budget` rows: the counts, the unsupported pieces by name, then (when there are
    any) one line per unsupported piece with its reason."""
    head = ("model",) + _COLUMNS + ("total", "not supported")
    body = [(r["model"], *(str(r[c]) for c in _COLUMNS), str(r["total"]),
             ", ".join(u.split(": ", 1)[0] for u in r["unsupported"]) or "-") for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    table = ["  ".join(c.ljust(w) if j in (0, 6) else c.rjust(w) for j, (c, w) in enumerate(zip(line, widths)))
             .rstrip() for line in (head, *body)]
    reasons = [f"{r['model'].ljust(widths[0])}  {u}" for r in rows for u in r["unsupported"]]
    return "\n".join(table + ([""] + reasons if reasons else []))
