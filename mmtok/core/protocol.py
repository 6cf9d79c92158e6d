"""The face every modality shares (:class:`ModalityTokenizer`) and provenance dispatched through it.

Each modality package registers, for its :class:`~mmtok.core.vocab.Modality`, a factory that gives the tokenizer
which made a segment from the segment's metadata and vocabulary (:func:`register_segment_tokenizer`). A
sequence's provenance then asks that tokenizer, so ``core`` imports no modality. A package that defines its own
span metadata types (:mod:`mmtok.models`: one per model layout) registers a factory for those types
(:func:`register_meta_tokenizer`); the metadata's type is asked first, then the modality.

Provenance columns (one row per token of a segment; :func:`empty_provenance`): ``chars`` [n, 2] character span
in the segment's text (-1 if none), ``box`` [n, 4] (x0, y0, x1, y1) in original pixels (NaN if none), ``block``
[n] which block of its picture or frame a patch is in (0 for a picture of one block; tiles: 0 the thumbnail,
1 + r * cols + c the tile in row r, column c; -1 if none), ``frame`` [n] sampled frame number and ``frame_index``
[n] its index in the clip (-1 if none), ``time`` [n, 2] [start, end) seconds (a clip's patch: its frame's display
interval; NaN if none).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch

from ..errors import SequenceError
from .registry import Registry
from .segment import Segment
from .vocab import Modality, Vocab

__all__ = ["ModalityTokenizer", "ProvenanceFromTable", "register_segment_tokenizer", "register_meta_tokenizer",
           "segment_tokenizer",
           "empty_provenance", "provenance_row"]


@runtime_checkable
class ModalityTokenizer(Protocol):
    """What :class:`~mmtok.TextTokenizer`, ``ImageTokenizer``, ``VideoTokenizer``, ``AudioTokenizer`` and
    ``VQImageTokenizer`` all do.

    - ``encode(src)`` -> the modality's tokens; ``decode(tokens)`` -> the content back (exact or approximate, as
      each module says).
    - ``num_tokens(...)`` THE count of tokens (without markers) from sizes or a duration, without decoding;
      ``segment_length(...)`` the tokens of the segment with its markers.
    - ``segment(tokens, vocab=None, source=None)`` -> a :class:`Segment` (``vocab`` defaults to mmtok's);
      ``from_segment(segment, vocab=None)`` -> the tokens back, the exact inverse.
    - ``provenance(segment, i, vocab=None)`` -> where token ``i`` of the segment came from (a dict);
      ``provenance_table(segment, vocab=None)`` -> the same for every token, as columns (module docstring).
    """

    def encode(self, src: Any, /) -> Any: ...

    def decode(self, tokens: Any, /) -> Any: ...

    def num_tokens(self, *args: Any) -> int: ...

    def segment_length(self, *args: Any) -> int: ...

    def segment(self, tokens: Any, vocab: Vocab | None = None, source: str | None = None) -> Segment: ...

    def from_segment(self, segment: Segment, vocab: Vocab | None = None) -> Any: ...

    def provenance(self, segment: Segment, i: int, vocab: Vocab | None = None) -> dict: ...

    def provenance_table(self, segment: Segment, vocab: Vocab | None = None) -> dict[str, torch.Tensor]: ...


def empty_provenance(n: int) -> dict[str, torch.Tensor]:
    """Provenance columns of ``n`` tokens that come from nothing in particular (markers)."""
    return {"chars": torch.full((n, 2), -1, dtype=torch.int64),
            "box": torch.full((n, 4), float("nan"), dtype=torch.float64),
            "block": torch.full((n,), -1, dtype=torch.int64),
            "frame": torch.full((n,), -1, dtype=torch.int64),
            "frame_index": torch.full((n,), -1, dtype=torch.int64),
            "time": torch.full((n, 2), float("nan"), dtype=torch.float64)}


def provenance_row(table: dict[str, torch.Tensor], i: int) -> dict:
    """Row ``i`` of provenance columns as a dict holding only what is known (``chars``, ``box``, ``block``,
    ``frame`` and ``frame_index``, ``time``)."""
    out: dict = {}
    if int(table["chars"][i, 0]) >= 0:
        out["chars"] = table["chars"][i].tolist()
    if not torch.isnan(table["box"][i, 0]):
        out["box"] = table["box"][i].tolist()
    if int(table["block"][i]) >= 0:
        out["block"] = int(table["block"][i])
    if int(table["frame"][i]) >= 0:
        out["frame"], out["frame_index"] = int(table["frame"][i]), int(table["frame_index"][i])
    if not torch.isnan(table["time"][i, 0]):
        out["time"] = table["time"][i].tolist()
    return out


class ProvenanceFromTable:
    """``provenance(segment, i, vocab)`` as row ``i`` of ``self.provenance_table(segment, vocab)``."""

    def provenance(self, segment: Segment, i: int, vocab: Vocab | None = None) -> dict:
        if not -len(segment) <= i < len(segment):
            raise SequenceError(f"token {i} is outside the {segment.modality.label} segment of {len(segment)} tokens")
        table = self.provenance_table(segment, vocab)  # type: ignore[attr-defined]
        return provenance_row(table, i % len(segment))


SegmentTokenizerFactory = Callable[[Segment, Vocab], ModalityTokenizer]
_FACTORIES: Registry[SegmentTokenizerFactory] = Registry("segment tokenizer")


def register_segment_tokenizer(modality: Modality, factory: SegmentTokenizerFactory) -> None:
    """Say how to get the tokenizer that made a segment of ``modality``: ``factory(segment, vocab)`` (called by
    each modality package when it is imported)."""
    _FACTORIES.register(Modality.parse(modality).label, factory)


_META_FACTORIES: dict[type, SegmentTokenizerFactory] = {}


def register_meta_tokenizer(meta_type: type, factory: SegmentTokenizerFactory) -> None:
    """Say how to get the provenance of a segment whose metadata is a ``meta_type`` (or a subclass of it):
    ``factory(segment, vocab)``, asked before the modality's factory. A type registers once."""
    if meta_type in _META_FACTORIES:
        raise SequenceError(f"metadata type {meta_type.__name__} already has a segment tokenizer")
    _META_FACTORIES[meta_type] = factory


def segment_tokenizer(segment: Segment, vocab: Any) -> ModalityTokenizer | None:
    """The tokenizer that gives a segment's provenance: the one registered for its metadata's type (or a base of
    it), else the one of its modality, configured from its metadata; None for control tokens without one."""
    for cls in type(segment.meta).__mro__:
        if cls in _META_FACTORIES:
            return _META_FACTORIES[cls](segment, vocab)
    if segment.modality == Modality.CONTROL:
        return None
    return _FACTORIES[segment.modality.label](segment, vocab)
