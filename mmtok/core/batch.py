"""Batches of sequences: :class:`Batch`, made by ``collate`` (padded rows) and ``pack_rows`` (packed rows), both
invertible (``uncollate`` / ``unpack_rows``).

Both place whole sequences (documents) into a ``[rows, width]`` grid; every token keeps its own sequence's
positions, so in packed rows ``positions`` and ``positions_3d`` restart at each document (M-RoPE ids are never
computed across documents). Feature rows are concatenated in the order their placeholders appear when the grid is
read row by row, so ``batch["features"]["image"][k]`` belongs to the k-th image placeholder of
``batch["input_ids"]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from ..errors import ContextLengthError, SequenceError
from .features import Features
from .model_vocab import placeholder_ids
from .sequence import TokenSequence
from .vocab import Modality

__all__ = ["Batch", "IGNORE_INDEX", "as_batch", "collate", "uncollate", "pack_rows", "unpack_rows",
           "document_attention_mask"]

IGNORE_INDEX = -100  # a label that is no target: the ignore_index of torch's cross_entropy and transformers' losses

GRID_KEYS = ("input_ids", "attention_mask", "labels", "modality", "positions", "document_ids")  # each int64 [R, T]
PER_DOCUMENT = ("spans", "max_length", "truncation")  # one entry per document


class Batch(Mapping[str, Any]):
    """A batch of token sequences: a read-only mapping with one set of keys, whoever made it.

    ``mmtok.collate`` (one sequence per row, right-padded), ``mmtok.pack_rows`` (several whole sequences per row)
    and the tokenizer's Hugging Face style call (``tok(text=..., images=..., return_tensors="pt")``, which collates)
    all return a ``Batch`` with these keys (R rows of width T holding D sequences, called documents):

    - ``input_ids`` int64 [R, T]: unified ids; padding is ``<pad>``.
    - ``attention_mask`` int64 [R, T]: 1 on a real token, 0 on padding (packed rows: use ``document_ids``).
    - ``labels`` int64 [R, T]: the Hugging Face causal-LM convention, ``input_ids`` with :data:`IGNORE_INDEX`
      (-100) where there is nothing to learn; the model shifts (the logits at t are scored against
      ``labels[t + 1]``, as transformers' ``ForCausalLMLoss`` and :class:`mmtok.TinyDecoder` do). -100 at
      padding, at ``<pad>``, at every placeholder (image / video / audio feature tokens: their rows are inputs, not
      tokens to write) and at the first token of each document (nothing before it in its document predicts it; in
      packed rows this keeps a document from being the target of the previous one, as transformers'
      ``DataCollatorWithFlattening`` does). Text ids, special markers and VQ code ids are kept.
    - ``modality`` int64 [R, T]: :class:`mmtok.Modality` of each token (CONTROL on padding).
    - ``positions`` int64 [R, T] and ``positions_3d`` int64 [R, 3, T]: each document's own 1D and (t, h, w)
      positions, 0 on padding (a Hugging Face model takes them as ``position_ids``).
    - ``document_ids`` int64 [R, T]: which document each token belongs to, -1 on padding.
    - ``documents`` int64 [D, 3]: (row, start, length) of each document, in the order given; ``documents[:, 2]``
      are the sequence lengths.
    - ``features``: {modality label: float [N, dim]} feature rows, the k-th row at the k-th placeholder of that
      modality in row-major order.
    - ``grids``: {"image" / "video": int64 [n, 2]} (rows, cols) of patches of each picture, tile or frame whose
      rows are in ``features``, in the same order (so ``sum(rows * cols) == len(features[label])``).
    - ``spans``, ``max_length``, ``truncation``: one entry per document (its spans with their metadata, its
      context limit, its truncation record) and ``vocab``, the vocabulary: what ``uncollate`` needs to give the
      sequences back.

    ``Batch(mapping)`` checks a mapping (a missing or unknown key, a shape that disagrees: :class:`SequenceError`
    naming it); ``Batch({**batch, "labels": mine})`` is a batch with other labels. ``batch.to(device)`` moves
    every tensor (the feature and grid dicts too); ``batch.to(torch.bfloat16)`` casts the floating-point tensors
    (the features) and leaves ids, masks, labels and positions int64, as transformers' ``BatchFeature.to`` does.
    """

    KEYS = ("input_ids", "attention_mask", "labels", "modality", "positions", "positions_3d", "document_ids",
            "documents", "features", "grids", "spans", "max_length", "truncation", "vocab")

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise SequenceError(f"a Batch is made from a mapping, got {type(data).__name__}")
        missing = [k for k in self.KEYS if k not in data]
        if missing:
            raise SequenceError(f"the batch has no {', '.join(map(repr, missing))}; a batch holds "
                                f"{', '.join(self.KEYS)} (make one with mmtok.collate, mmtok.pack_rows or the "
                                f"tokenizer's text= call)")
        unknown = sorted(str(k) for k in data if k not in self.KEYS)
        if unknown:
            raise SequenceError(f"the batch has unknown key(s) {', '.join(map(repr, unknown))}; a batch holds "
                                f"{', '.join(self.KEYS)}")
        self._data = {k: data[k] for k in self.KEYS}
        _check_shapes(self._data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        rows, width = self._data["input_ids"].shape
        targets = int((self._data["labels"] != IGNORE_INDEX).sum())
        feats = {k: tuple(v.shape) for k, v in self._data["features"].items()}
        return (f"Batch(rows={rows}, width={width}, documents={len(self._data['documents'])}, targets={targets}, "
                f"features={feats})")

    def to(self, device: str | int | torch.device | torch.dtype | None = None, dtype: torch.dtype | None = None,
           *, non_blocking: bool = False) -> Batch:
        """A new batch with every tensor on ``device`` and the floating-point ones (features) cast to ``dtype``.

        ``batch.to(torch.float16)`` (a dtype first) casts only; ids, masks, labels, positions and grids keep their
        integer dtype. Tensors already there are shared, not copied (as ``Tensor.to``)."""
        if isinstance(device, torch.dtype):
            if dtype is not None:
                raise SequenceError("give the dtype once: batch.to(device, dtype) or batch.to(dtype)")
            device, dtype = None, device
        if dtype is not None and not dtype.is_floating_point:
            raise SequenceError(f"batch.to({dtype}) would cast the features to integers; give a floating-point "
                                f"dtype (ids, masks, labels and positions stay int64 anyway)")

        def move(v: Any) -> Any:
            if isinstance(v, torch.Tensor):
                return v.to(device=device, dtype=dtype if v.is_floating_point() else None, non_blocking=non_blocking)
            if isinstance(v, Mapping):
                return {k: move(x) for k, x in v.items()}
            return v

        return Batch({k: move(v) for k, v in self._data.items()})


def as_batch(batch: Mapping[str, Any]) -> Batch:
    """``batch`` itself when it is a :class:`Batch`, else the checked ``Batch(batch)``."""
    return batch if isinstance(batch, Batch) else Batch(batch)


def _check_shapes(d: dict[str, Any]) -> None:
    ids = d["input_ids"]
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
        raise SequenceError(f"batch['input_ids'] must be a tensor [rows, width], got "
                            f"{getattr(ids, 'shape', type(ids).__name__)}")
    rows, width = ids.shape
    docs = d["documents"]
    if not isinstance(docs, torch.Tensor) or docs.dim() != 2 or docs.shape[1] != 3:
        raise SequenceError(f"batch['documents'] must be a tensor [documents, 3] (row, start, length), got "
                            f"{getattr(docs, 'shape', type(docs).__name__)}")
    want = {k: (rows, width) for k in GRID_KEYS} | {"positions_3d": (rows, 3, width)}
    for key, shape in want.items():
        v = d[key]
        if not isinstance(v, torch.Tensor) or tuple(v.shape) != shape:
            raise SequenceError(f"batch[{key!r}] must be a tensor of shape {list(shape)} (from input_ids "
                                f"[{rows}, {width}]), got {getattr(v, 'shape', type(v).__name__)}")
    for key in ("features", "grids"):
        if not isinstance(d[key], Mapping) or not all(isinstance(v, torch.Tensor) for v in d[key].values()):
            raise SequenceError(f"batch[{key!r}] must be a dict of modality label -> tensor")
    for key in PER_DOCUMENT:
        if not isinstance(d[key], Sequence) or len(d[key]) != len(docs):
            raise SequenceError(f"batch[{key!r}] must be a list with one entry per document ({len(docs)})")


def collate(seqs: Sequence[TokenSequence], pad_to_multiple_of: int | None = None) -> Batch:
    """Right-pad sequences into one :class:`Batch`, sequence i in row i at column 0.

    Padding uses ``<pad>``, modality CONTROL, position 0, ``attention_mask`` 0, ``labels`` -100, document -1; with
    ``pad_to_multiple_of`` the width is rounded up to a multiple of it.
    """
    seqs = _check(seqs)
    width = max(len(s) for s in seqs)
    if pad_to_multiple_of is not None:
        if not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1:
            raise SequenceError(f"pad_to_multiple_of must be a positive int, got {pad_to_multiple_of!r}")
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    return _place(seqs, [(i, 0) for i in range(len(seqs))], len(seqs), width)


def uncollate(batch: Mapping[str, Any]) -> list[TokenSequence]:
    """The sequences of a :class:`Batch` (from ``collate``, ``pack_rows`` or the tokenizer's text= call), equal to
    the ones batched, in their order."""
    batch = as_batch(batch)
    return _take(batch, [tuple(d) for d in batch["documents"].tolist()])


def pack_rows(seqs: Sequence[TokenSequence], row_length: int) -> Batch:
    """Pack whole sequences (documents) into rows of ``row_length`` tokens, first fit in input order: a
    :class:`Batch` whose ``documents`` say where each went.

    A document never spans two rows; one longer than ``row_length`` raises :class:`ContextLengthError`. Attention
    must stay inside a document: :func:`document_attention_mask` of ``batch["document_ids"]``.
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
    return _place(seqs, placements, len(free), row_length)


def unpack_rows(rows: Mapping[str, Any]) -> list[TokenSequence]:
    """The documents of a :func:`pack_rows` batch, in their original order, equal to the ones packed (the same as
    :func:`uncollate`: every batch says where its documents are)."""
    return uncollate(rows)


def document_attention_mask(document_ids: torch.Tensor) -> torch.Tensor:
    """Causal attention restricted to each document: bool [R, T, T] from ``document_ids`` [R, T]."""
    same = document_ids[:, :, None] == document_ids[:, None, :]  # (R, T, T)
    causal = torch.ones(document_ids.shape[1], document_ids.shape[1], dtype=torch.bool,
                        device=document_ids.device).tril()
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


def _place(seqs: list[TokenSequence], placements: list[tuple[int, int]], rows: int, width: int) -> Batch:
    vocab = seqs[0].vocab
    input_ids = torch.full((rows, width), vocab.pad_id, dtype=torch.int64)
    modality = torch.full((rows, width), int(Modality.CONTROL), dtype=torch.int64)
    positions = torch.zeros(rows, width, dtype=torch.int64)
    positions_3d = torch.zeros(rows, 3, width, dtype=torch.int64)
    document_ids = torch.full((rows, width), -1, dtype=torch.int64)
    for i, (s, (r, c)) in enumerate(zip(seqs, placements)):
        n = len(s)
        input_ids[r, c:c + n] = s.input_ids
        modality[r, c:c + n] = s.modality
        positions[r, c:c + n] = s.positions
        positions_3d[r, :, c:c + n] = s.positions_3d
        document_ids[r, c:c + n] = i
    attention_mask = (document_ids >= 0).long()
    not_targets = (attention_mask == 0) | (input_ids == vocab.pad_id)
    not_targets |= torch.isin(input_ids, torch.tensor(list(placeholder_ids(vocab).values()), dtype=torch.int64))
    for s, (r, c) in zip(seqs, placements):
        if len(s):
            not_targets[r, c] = True  # each document's first token
    order = sorted(range(len(seqs)), key=lambda i: placements[i])  # grid (row-major) order
    features, grids = {}, {}
    for label in sorted({k for s in seqs for k in s.features}):
        parts = [p for i in order if label in seqs[i].features for p in seqs[i].features.parts(label)]
        if len({(p.shape[1], p.dtype) for p in parts}) > 1:
            raise SequenceError(f"{label} features differ in width or dtype across sequences; batch sequences made "
                                f"with one preset per modality")
        features[label] = torch.cat(parts)
        found = [g for i in order for g in _grids(seqs[i], label)]
        if found:
            grids[label] = torch.tensor(found, dtype=torch.int64).reshape(-1, 2)
    documents = torch.tensor([(r, c, len(s)) for (r, c), s in zip(placements, seqs)], dtype=torch.int64)
    return Batch({"input_ids": input_ids, "attention_mask": attention_mask,
                  "labels": input_ids.masked_fill(not_targets, IGNORE_INDEX), "modality": modality,
                  "positions": positions, "positions_3d": positions_3d, "document_ids": document_ids,
                  "documents": documents.reshape(-1, 3), "features": features, "grids": grids,
                  "spans": [s.spans for s in seqs], "max_length": [s.max_length for s in seqs],
                  "truncation": [s.truncation for s in seqs], "vocab": vocab})


def _grids(seq: TokenSequence, label: str) -> list[tuple[int, int]]:
    """(rows, cols) of each picture, tile or frame whose feature rows ``seq`` holds for ``label``, in order: a span
    of ``num_features`` rows in blocks of ``meta.grid`` holds ``num_features / (rows * cols)`` blocks."""
    out = []
    for span in seq.spans:
        grid = getattr(span.meta, "grid", None)
        if span.modality.label == label and span.num_features and grid is not None:
            blocks, rest = divmod(span.num_features, grid[0] * grid[1])
            assert rest == 0, f"{span.num_features} {label} rows are not whole {grid} blocks"
            out += [tuple(grid)] * blocks
    return out


def _take(batch: Batch, places: list[tuple[int, int, int]]) -> list[TokenSequence]:
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
