"""What the same prompt costs under other models: one row per model, each counted by that model's processor.

``mmtok.budget(contents, models=[...])`` returns one row per model: tokens per modality and the total. The
``mmtok`` row is this project's layout (``MultimodalTokenizer``), markers included, equal to ``len(tok(contents))``
(tested). Every other row is a registered model (:func:`mmtok.list_models`), and each piece is counted by
``mmtok.ModelProcessor(name).segment_length``: the model's own count with its markers, equal to the model's
transformers processor where one exists (``tests/test_models*.py``), or the published rule for ``gemini-api`` and
mmtok's reading of the Gemini 1.0 report (:mod:`mmtok.models.gemini`, assumptions marked). This module keeps no
formula of its own. A piece a model refuses (an aspect ratio over its limit, media it does not take) is listed in
the row's ``unsupported`` with the processor's own message instead of a number.

Each piece is probed once (a picture's size from its header; a clip's size, rotation, duration and frame count
from its packets, cached per file by :mod:`mmtok.models.probe`); text is counted by each row's own text ids
(mmtok's SentencePiece model carrying the model's special tokens, as ``ModelProcessor`` does without a
``tokenizer=``), so the text column is the same in every row and only the media columns are each model's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..audio import SAMPLE_RATE
from ..core.registry import Registry
from ..errors import InputError
from ..media.contents import Audio, Image, Video
from ..media.files import resolve_file
from ..media.imageio import image_size
from ..models import ModelProcessor, list_models
from ..models.probe import audio_samples, clip_info
from ..vq.tokenizer import codes_segment_length
from .interleave import sound_slices_length

__all__ = ["budget", "budget_models", "MODEL_PRESETS", "format_budget"]


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
    piece = resolve_file(piece)
    if isinstance(piece, str):
        return _Media("text", text=piece, content=piece)
    if isinstance(piece, Image):
        w, h = image_size(piece.src)
        return _Media("image" if piece.as_ == "patches" else "codes", height=h, width=w, content=piece)
    if isinstance(piece, Video):
        info = clip_info(piece.src)
        n = audio_samples(piece.src, None, SAMPLE_RATE) if piece.audio else 0
        return _Media("video", height=info.height, width=info.width, seconds=info.seconds, frames=info.frames,
                      has_audio=info.has_audio, samples16k=n, with_sound=piece.audio, content=piece)
    if isinstance(piece, Audio):
        n = audio_samples(piece.src, piece.sample_rate, SAMPLE_RATE)
        return _Media("audio", seconds=n / SAMPLE_RATE, samples16k=n, content=piece)
    raise InputError(f"cannot budget a {type(piece).__name__}; give str, mmtok.Image, mmtok.Video, mmtok.Audio or "
                     f"mmtok.File (or a pathlib.Path)")


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
MODEL_PRESETS.register("mmtok", _mmtok)


def budget_models() -> list[str]:
    """The rows :func:`budget` gives by default: ``mmtok`` and every registered model (:func:`mmtok.list_models`),
    in registration order. :data:`MODEL_PRESETS` holds each row's counter; a model registered after import is
    added on first use."""
    for name in list_models():
        if name not in MODEL_PRESETS:
            MODEL_PRESETS.register(name, _ModelRow(name))
    return MODEL_PRESETS.list()


budget_models()
_COLUMNS = ("text", "image", "video", "audio")


def budget(contents: Sequence[Any], models: Sequence[str] | None = None, tokenizer=None) -> list[dict]:
    """One row per model: ``{"model", "text", "image", "video", "audio", "total", "unsupported"}``.

    Image codes count in the image column. ``unsupported`` lists the pieces a model cannot take, each as
    ``"piece i (kind): reason"`` (``i`` counts from 0 in ``contents``); their tokens are left out of the row's
    total. The reason is the model processor's refusal for the rows of :mod:`mmtok.models` (e.g. ``"piece 0
    (image): qwen2-vl refuses a 5000x10 picture (width x height): its aspect ratio 500.0 is over 200, ..."``), and
    ``"the NAME preset has no KIND rule"`` for the formula rows. ``tokenizer`` is the ``MultimodalTokenizer`` whose
    layout the ``mmtok`` row describes (the default layout if None).
    """
    from .tokenizer import MultimodalTokenizer

    names = budget_models()
    models = names if models is None else list(models)
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
