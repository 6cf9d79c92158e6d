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
        modality: what the segment is; every token of it gets this modality.
        input_ids: int64 [n] unified ids (markers, text or code ids, placeholders).
        pos3d: int64 [3, n] relative (t, h, w) positions with smallest value 0 (``sequential_positions(n)``
            for tokens read one after another).
        features: float [n_placeholders, dim], one row per placeholder of this modality in ``input_ids``, in
            order; ``None`` for segments without placeholders (an empty tensor is stored as ``None``).
        meta: the modality's typed metadata (:mod:`mmtok.core.meta`); a dict is read by
            :func:`~mmtok.core.meta.meta_from_dict`, ``None`` gives the modality's defaults.
    """

    modality: Modality
    input_ids: torch.Tensor
    pos3d: torch.Tensor
    features: torch.Tensor | None = None
    meta: SpanMeta | Mapping[str, Any] | None = None

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
                 features: torch.Tensor | None, meta: SpanMeta) -> Segment:
        """A segment from parts already validated by :func:`~mmtok.core.sequence.pack` (no checks, no copies)."""
        seg = object.__new__(cls)
        for name, value in (("modality", modality), ("input_ids", input_ids), ("pos3d", pos3d),
                            ("features", features), ("meta", meta)):
            object.__setattr__(seg, name, value)
        return seg

    def __len__(self) -> int:
        return self.input_ids.shape[0]  # not len(): torch's Tensor.__len__ costs ~1 us more, per segment in pack

    @property
    def num_features(self) -> int:
        return 0 if self.features is None else self.features.shape[0]

    def _name(self) -> str:
        src = getattr(self.meta, "source", None)
        return f"{Modality.parse(self.modality).label} segment" + (f" ({src})" if src else "")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Segment):
            return NotImplemented
        same_features = (self.features is None and other.features is None) or (
            self.features is not None and other.features is not None
            and self.features.dtype == other.features.dtype and torch.equal(self.features, other.features))
        return (self.modality == other.modality and torch.equal(self.input_ids, other.input_ids)
                and torch.equal(self.pos3d, other.pos3d) and same_features and self.meta == other.meta)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Span:
    """Where one segment sits in a :class:`~mmtok.core.sequence.TokenSequence`.

    ``start``/``length`` index tokens; ``offset`` is the value added to the segment's relative 3D positions;
    ``num_features`` is how many feature rows of its modality it owns (rows follow sequence order).
    """

    modality: Modality
    start: int
    length: int
    offset: int
    num_features: int
    meta: SpanMeta

    @property
    def end(self) -> int:
        return self.start + self.length

    def describe(self) -> dict:
        """JSON values, as a manifest stores them."""
        return {"modality": self.modality.label, "start": self.start, "length": self.length,
                "offset": self.offset, "num_features": self.num_features, "meta": self.meta.to_dict()}


def describe_value(x: object) -> str:
    """A short description of a value in an error message: a tensor's dtype and shape, else its type."""
    if isinstance(x, torch.Tensor):
        return f"{x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__
