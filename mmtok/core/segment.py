"""A :class:`Segment` is one piece of a prompt (a text run, an image, a clip, an audio file, a block of image
codes, a control token) already turned into unified ids; a :class:`Span` is where one sits in a packed
:class:`~mmtok.core.sequence.TokenSequence`. Both carry typed metadata (:mod:`mmtok.core.meta`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import SequenceError
from .meta import SpanMeta, default_meta, meta_from_dict
from .positions import sequential_positions
from .vocab import PLACEHOLDERS, Modality

__all__ = ["Segment", "Span", "describe_value"]


@dataclass(frozen=True, eq=False)
class Segment:
    """One piece of a prompt as unified ids.

    Args:
        modality: what the segment is; every token of it gets this modality, except the sound of a clip (below).
        input_ids: int64 [n] unified ids (markers, text or code ids, placeholders).
        pos3d: int64 [3, n] relative (t, h, w) positions with smallest value 0 (``sequential_positions(n)``
            for tokens read one after another).
        features: float [n_placeholders, dim], one row per placeholder of this modality in ``input_ids``, in
            order; ``None`` for segments without placeholders (an empty tensor is stored as ``None``).
        meta: the modality's typed metadata (:mod:`mmtok.core.meta`); a dict is read by
            :func:`~mmtok.core.meta.meta_from_dict`, ``None`` gives the modality's defaults.
        sound: a clip with its sound (a video segment) holds its audio runs (``<start_of_audio>``, audio
            placeholders, ``<end_of_audio>``) between its frames: float [n_audio_placeholders, dim], one row per
            audio placeholder, in order. Those runs' tokens have the audio modality. ``None`` otherwise.
    """

    modality: Modality
    input_ids: torch.Tensor
    pos3d: torch.Tensor
    features: torch.Tensor | None = None
    meta: SpanMeta | Mapping[str, Any] | None = None
    sound: torch.Tensor | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "modality", Modality.parse(self.modality))
        meta = self.meta
        if meta is None:
            meta = default_meta(self.modality)
        elif not isinstance(meta, SpanMeta):
            meta = meta_from_dict(self.modality, meta, f"{self.modality.label} segment")
        elif meta.modality != self.modality:
            raise SequenceError(f"{self.modality.label} segment: its metadata is {type(meta).__name__}, made for "
                                f"{meta.modality.label} segments")
        object.__setattr__(self, "meta", meta)
        self._check_ids()
        f = self.features
        if f is not None:
            if not isinstance(f, torch.Tensor) or not f.is_floating_point() or f.dim() != 2:
                raise SequenceError(f"{self._name()}: features must be a float tensor [n, dim], got "
                                    f"{describe_value(f)}")
            if self.modality not in PLACEHOLDERS:
                raise SequenceError(f"{self._name()}: a {self.modality.label} segment carries no features")
            if len(f) == 0:
                object.__setattr__(self, "features", None)  # no rows: stored as None, as unpack gives it back
        a = self.sound
        if a is not None:
            if not isinstance(a, torch.Tensor) or not a.is_floating_point() or a.dim() != 2:
                raise SequenceError(f"{self._name()}: sound must be a float tensor [n, dim], got {describe_value(a)}")
            if self.modality != Modality.VIDEO:
                raise SequenceError(f"{self._name()}: only a video segment (a clip) carries sound rows")
            if len(a) == 0:
                object.__setattr__(self, "sound", None)

    def _check_ids(self) -> None:
        ids, pos = self.input_ids, self.pos3d
        if not isinstance(ids, torch.Tensor) or ids.dtype != torch.int64 or ids.dim() != 1:
            raise SequenceError(f"{self._name()}: input_ids must be an int64 tensor [n], got {describe_value(ids)}")
        if not isinstance(pos, torch.Tensor) or pos.dtype != torch.int64 or tuple(pos.shape) != (3, len(ids)):
            raise SequenceError(f"{self._name()}: pos3d must be int64 [3, {len(ids)}], got {describe_value(pos)}")
        if len(ids) and int(pos.min()) != 0:
            raise SequenceError(f"{self._name()}: pos3d must start at 0 (smallest value), got {int(pos.min())}")
        if self.modality in (Modality.TEXT, Modality.CONTROL) and not torch.equal(pos, sequential_positions(len(ids))):
            raise SequenceError(f"{self._name()}: text and control tokens are read one after another; their pos3d "
                                f"must be sequential_positions(n)")

    @classmethod
    def _trusted(cls, modality: Modality, input_ids: torch.Tensor, pos3d: torch.Tensor,
                 features: torch.Tensor | None, meta: SpanMeta, sound: torch.Tensor | None = None) -> Segment:
        """A segment from parts already validated by :func:`~mmtok.core.sequence.pack` (no checks, no copies)."""
        seg = object.__new__(cls)
        seg.__dict__.update(modality=modality, input_ids=input_ids, pos3d=pos3d, features=features, meta=meta,
                            sound=sound)  # the frozen fields, set as dataclasses' own __init__ would
        return seg

    def __len__(self) -> int:
        return self.input_ids.shape[0]  # not len(): torch's Tensor.__len__ costs ~1 us more, per segment in pack

    @property
    def num_features(self) -> int:
        """Feature rows of the segment's own modality (a clip's sound rows are :attr:`sound`)."""
        return 0 if self.features is None else self.features.shape[0]

    @property
    def num_sound_features(self) -> int:
        return 0 if self.sound is None else self.sound.shape[0]

    def _name(self) -> str:
        src = getattr(self.meta, "source", None)
        return f"{Modality.parse(self.modality).label} segment" + (f" ({src})" if src else "")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Segment):
            return NotImplemented
        return (self.modality == other.modality and torch.equal(self.input_ids, other.input_ids)
                and torch.equal(self.pos3d, other.pos3d) and _same_rows(self.features, other.features)
                and _same_rows(self.sound, other.sound) and self.meta == other.meta)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Span:
    """Where one segment sits in a :class:`~mmtok.core.sequence.TokenSequence`.

    ``start``/``length`` index tokens; ``offset`` is the value added to the segment's relative 3D positions;
    ``num_features`` is how many feature rows of its modality it owns and ``sound_features`` how many audio rows
    a clip with its sound holds (rows follow sequence order).
    """

    modality: Modality
    start: int
    length: int
    offset: int
    num_features: int
    meta: SpanMeta
    sound_features: int = 0

    def feature_rows(self) -> tuple[tuple[str, int], ...]:
        """``(modality label, rows)`` of every modality whose feature rows this span owns, own modality first."""
        got = self.__dict__.get("_feature_rows")
        if got is None:  # computed once per span (unpack asks for every span): kept beside the fields
            rows = ((self.modality.label, self.num_features), (Modality.AUDIO.label, self.sound_features))
            got = tuple((label, n) for label, n in rows if n)
            self.__dict__["_feature_rows"] = got
        return got

    @property
    def end(self) -> int:
        return self.start + self.length

    def describe(self) -> dict:
        """JSON values, as a manifest stores them."""
        out = {"modality": self.modality.label, "start": self.start, "length": self.length,
               "offset": self.offset, "num_features": self.num_features, "meta": self.meta.to_dict()}
        return out | ({"sound_features": self.sound_features} if self.sound_features else {})


def _same_rows(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    """Feature rows equal bit for bit, dtype included (or both absent)."""
    return (a is None and b is None) or (a is not None and b is not None and a.dtype == b.dtype
                                         and torch.equal(a, b))


def describe_value(x: object) -> str:
    """A short description of a value in an error message: a tensor's dtype and shape, else its type."""
    if isinstance(x, torch.Tensor):
        return f"{x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__
