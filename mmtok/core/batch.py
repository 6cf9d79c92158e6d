"""Batches of sequences: padded (``collate``) and packed training rows (``pack_rows``), both invertible.

Both place whole sequences into a ``[rows, width]`` grid; every token keeps its own sequence's positions, so in
packed rows ``positions`` and ``positions_3d`` restart at each document (M-RoPE ids are never computed across
documents). Feature rows are concatenated in the order their placeholders appear when the grid is read row by
row, so ``batch["features"]["image"][k]`` belongs to the k-th image placeholder of ``batch["input_ids"]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import ContextLengthError, SequenceError
from .features import Features
from .sequence import TokenSequence
from .vocab import Modality

__all__ = ["collate", "uncollate", "pack_rows", "unpack_rows", "document_attention_mask"]


def collate(seqs: Sequence[TokenSequence], pad_to_multiple_of: int | None = None) -> dict:
    """Right-pad sequences into one batch.

    Returns a dict with ``input_ids``, ``attention_mask`` (1 = real token), ``modality``, ``positions``
    (int64 [B, T]), ``positions_3d`` (int64 [B, 3, T]), ``lengths`` [B], ``features`` ({label: float [N, dim]}),
    and ``spans``, ``max_length``, ``truncation`` (one entry per sequence) plus ``vocab``, which
    :func:`uncollate` needs to give the sequences back. Padding uses ``<pad>``, modality CONTROL, position 0.
    """
    seqs = _check(seqs)
    width = max(len(s) for s in seqs)
    if pad_to_multiple_of is not None:
        if not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1:
            raise SequenceError(f"pad_to_multiple_of must be a positive int, got {pad_to_multiple_of!r}")
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    batch = _place(seqs, [(i, 0) for i in range(len(seqs))], len(seqs), width)
    batch["lengths"] = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    del batch["document_ids"]
    return batch


def uncollate(batch: dict) -> list[TokenSequence]:
    """The sequences of a :func:`collate` batch, equal to the ones collated."""
    lengths = batch["lengths"].tolist()
    return _take(batch, [(i, 0, n) for i, n in enumerate(lengths)])


def pack_rows(seqs: Sequence[TokenSequence], row_length: int) -> dict:
    """Pack whole sequences (documents) into rows of ``row_length`` tokens, first fit in input order.

    A document never spans two rows; one longer than ``row_length`` raises :class:`ContextLengthError`.
    Returns the keys of :func:`collate` (without ``lengths``) plus ``document_ids`` (int64 [R, row_length],
    index into ``seqs``, -1 on padding) and ``documents`` (int64 [D, 3]: row, start, length of each sequence).
    """
    seqs = _check(seqs)
    if not isinstance(row_length, int) or row_length < 1:
        raise SequenceError(f"row_length must be a positive int, got {row_length!r}")
    free: list[int] = []  # tokens still free in each row
    placements = []
    for i, s in enumerate(seqs):
        if len(s) > row_length:
            raise ContextLengthError(f"document {i} has {len(s):,} tokens, more than row_length={row_length:,}; "
                                     f"raise row_length or split the document at a span boundary first")
        row = next((r for r, f in enumerate(free) if f >= len(s)), len(free))
        if row == len(free):
            free.append(row_length)
        placements.append((row, row_length - free[row]))
        free[row] -= len(s)
    batch = _place(seqs, placements, len(free), row_length)
    batch["documents"] = torch.tensor([(r, c, len(s)) for (r, c), s in zip(placements, seqs)],
                                      dtype=torch.int64).reshape(-1, 3)
    return batch


def unpack_rows(rows: dict) -> list[TokenSequence]:
    """The documents of a :func:`pack_rows` result, in their original order, equal to the ones packed."""
    return _take(rows, [tuple(d) for d in rows["documents"].tolist()])


def document_attention_mask(document_ids: torch.Tensor) -> torch.Tensor:
    """Causal attention restricted to each document: bool [R, T, T] from ``document_ids`` [R, T]."""
    same = document_ids[:, :, None] == document_ids[:, None, :]  # (R, T, T)
    causal = torch.ones(document_ids.shape[1], document_ids.shape[1], dtype=torch.bool).tril()
    return same & causal & (document_ids[:, :, None] >= 0)


def _check(seqs: Sequence[TokenSequence]) -> list[TokenSequence]:
    seqs = list(seqs)
    if not seqs:
        raise SequenceError("no sequences given; pass at least one TokenSequence")
    for i, s in enumerate(seqs):
        if not isinstance(s, TokenSequence):
            raise SequenceError(f"item {i} is a {type(s).__name__}, not a TokenSequence")
        if s.vocab != seqs[0].vocab:
            raise SequenceError(f"sequence {i} uses {s.vocab}, sequence 0 uses {seqs[0].vocab}; a batch needs one "
                                f"vocabulary")
    return seqs


def _place(seqs: list[TokenSequence], placements: list[tuple[int, int]], rows: int, width: int) -> dict:
    vocab = seqs[0].vocab
    input_ids = torch.full((rows, width), vocab.pad_id, dtype=torch.int64)
    modality = torch.full((rows, width), int(Modality.CONTROL), dtype=torch.int64)
    positions = torch.zeros(rows, width, dtype=torch.int64)
    positions_3d = torch.zeros(rows, 3, width, dtype=torch.int64)
    attention_mask = torch.zeros(rows, width, dtype=torch.int64)
    document_ids = torch.full((rows, width), -1, dtype=torch.int64)
    for i, (s, (r, c)) in enumerate(zip(seqs, placements)):
        n = len(s)
        input_ids[r, c:c + n] = s.input_ids
        modality[r, c:c + n] = s.modality
        positions[r, c:c + n] = s.positions
        positions_3d[r, :, c:c + n] = s.positions_3d
        attention_mask[r, c:c + n] = 1
        document_ids[r, c:c + n] = i
    order = sorted(range(len(seqs)), key=lambda i: placements[i])  # grid (row-major) order
    features = {}
    for label in sorted({k for s in seqs for k in s.features}):
        parts = [p for i in order if label in seqs[i].features for p in seqs[i].features.parts(label)]
        if len({(p.shape[1], p.dtype) for p in parts}) > 1:
            raise SequenceError(f"{label} features differ in width or dtype across sequences; batch sequences made "
                                f"with one preset per modality")
        features[label] = torch.cat(parts)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "modality": modality,
            "positions": positions, "positions_3d": positions_3d, "document_ids": document_ids,
            "features": features, "spans": [s.spans for s in seqs], "max_length": [s.max_length for s in seqs],
            "truncation": [s.truncation for s in seqs], "vocab": vocab}


def _take(batch: dict, places: list[tuple[int, int, int]]) -> list[TokenSequence]:
    order = sorted(range(len(places)), key=lambda i: places[i][:2])
    feats: list[dict[str, list[torch.Tensor]]] = [{} for _ in places]
    cursor = {label: 0 for label in batch["features"]}
    for i in order:
        for span in batch["spans"][i]:
            for label, n in span.feature_rows():  # a clip with its sound owns video and audio rows
                k = cursor[label]
                feats[i].setdefault(label, []).append(batch["features"][label][k:k + n])
                cursor[label] = k + n
    out = []
    for i, (r, c, n) in enumerate(places):
        out.append(TokenSequence(batch["input_ids"][r, c:c + n], batch["modality"][r, c:c + n],
                                 batch["positions"][r, c:c + n], batch["positions_3d"][r, :, c:c + n],
                                 batch["spans"][i], Features(feats[i]), batch["vocab"], batch["max_length"][i],
                                 batch["truncation"][i]))
    return out
