"""The interleaved sequence: segments in, one ``TokenSequence`` out, and back, exactly.

A :class:`Segment` is one piece of a prompt (a text run, an image, a clip, an audio file, a block of image
codes, a control token) already turned into unified ids. :func:`pack` lays segments end to end:

- ``input_ids`` [L]: unified ids; a placeholder id wherever a continuous feature row sits.
- ``modality`` [L]: the :class:`~mmtok.vocab.Modality` of each token (that of its segment).
- ``positions`` [L]: ``0 .. L-1``.
- ``positions_3d`` [3, L]: (t, h, w) rotary positions, M-RoPE style (Qwen2-VL). Each segment gives its own
  relative coordinates (``Segment.pos3d``, smallest value 0); pack shifts them by the segment's offset, which
  is one past the largest position used so far. A text token advances all three axes together, so a text-only
  sequence has ``positions_3d[k] == positions`` for every axis; a media segment places its tokens on its
  (time, row, column) grid, and the text after it continues from its largest position plus one.
- ``spans``: one :class:`Span` per segment (modality, start, length, position offset, number of feature rows,
  metadata).
- ``features``: per continuous modality (``"image"``, ``"video"``, ``"audio"``) one float tensor
  [n_placeholders, dim], rows in sequence order.

``seq.unpack()`` returns the segments (views into the sequence's tensors), ``seq.save(dir)`` writes
``manifest.json`` + ``features.safetensors`` and ``TokenSequence.load(dir)`` restores an equal sequence after
checking every field. A context limit (default 32,768 tokens, Gemini 1.0's) is enforced by :func:`pack`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import torch

from ..errors import ContextLengthError, SequenceError
from .features import Features
from .vocab import PLACEHOLDERS, Modality, Vocab

__all__ = ["Segment", "Span", "TokenSequence", "pack", "sequential_positions", "grid_positions", "DEFAULT_MAX_LENGTH"]

DEFAULT_MAX_LENGTH = 32_768  # Gemini 1.0's context length


def sequential_positions(n: int) -> torch.Tensor:
    """Relative 3D positions of ``n`` tokens read one after another (text, markers): all axes ``0 .. n-1``.

    Returns int64 [3, n].
    """
    return torch.arange(n, dtype=torch.int64).expand(3, n)


def grid_positions(t: int, h: int, w: int) -> torch.Tensor:
    """Relative 3D positions of a ``t x h x w`` block of tokens in row-major (t, h, w) order.

    Returns int64 [3, t*h*w]: axis 0 the frame index, axis 1 the row, axis 2 the column.
    """
    tt, hh, ww = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([tt.reshape(-1), hh.reshape(-1), ww.reshape(-1)])


def _json_meta(meta: Mapping[str, Any], what: str) -> dict:
    """A JSON round trip of ``meta`` (tuples become lists), so that saved and loaded metadata are equal."""
    try:
        return json.loads(json.dumps(dict(meta), allow_nan=False))
    except (TypeError, ValueError) as e:
        raise SequenceError(f"{what} metadata must be JSON-serializable (str keys; numbers, strings, lists, "
                            f"dicts; no NaN): {e}") from None


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
        meta: JSON-serializable metadata (source, grid, timestamps, sample rate, preset name, ...).
    """

    modality: Modality
    input_ids: torch.Tensor
    pos3d: torch.Tensor
    features: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "modality", Modality.parse(self.modality))
        ids, pos = self.input_ids, self.pos3d
        if not isinstance(ids, torch.Tensor) or ids.dtype != torch.int64 or ids.dim() != 1:
            raise SequenceError(f"{self._name()}: input_ids must be an int64 tensor [n], got "
                                f"{_describe(ids)}")
        if not isinstance(pos, torch.Tensor) or pos.dtype != torch.int64 or tuple(pos.shape) != (3, len(ids)):
            raise SequenceError(f"{self._name()}: pos3d must be int64 [3, {len(ids)}], got {_describe(pos)}")
        if len(ids) and int(pos.min()) != 0:
            raise SequenceError(f"{self._name()}: pos3d must start at 0 (smallest value), got {int(pos.min())}")
        if self.modality in (Modality.TEXT, Modality.CONTROL) and not torch.equal(pos, sequential_positions(len(ids))):
            raise SequenceError(f"{self._name()}: text and control tokens are read one after another; their pos3d "
                                f"must be sequential_positions(n)")
        f = self.features
        if f is not None:
            if not isinstance(f, torch.Tensor) or not f.is_floating_point() or f.dim() != 2:
                raise SequenceError(f"{self._name()}: features must be a float tensor [n, dim], got {_describe(f)}")
            if self.modality not in PLACEHOLDERS:
                raise SequenceError(f"{self._name()}: a {self.modality.label} segment carries no features")
            if len(f) == 0:
                object.__setattr__(self, "features", None)  # no rows: stored as None, as unpack gives it back
        object.__setattr__(self, "meta", _json_meta(self.meta, self._name()))

    @classmethod
    def _trusted(cls, modality: Modality, input_ids: torch.Tensor, pos3d: torch.Tensor,
                 features: torch.Tensor | None, meta: dict) -> "Segment":
        """A segment from parts already validated by :func:`pack` (no checks, no copies)."""
        seg = object.__new__(cls)
        for name, value in (("modality", modality), ("input_ids", input_ids), ("pos3d", pos3d),
                            ("features", features), ("meta", meta)):
            object.__setattr__(seg, name, value)
        return seg

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def num_features(self) -> int:
        return 0 if self.features is None else len(self.features)

    def _name(self) -> str:
        src = self.meta.get("source") if isinstance(self.meta, Mapping) else None
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
    """Where one segment sits in a :class:`TokenSequence`.

    ``start``/``length`` index tokens; ``offset`` is the value added to the segment's relative 3D positions;
    ``num_features`` is how many feature rows of its modality it owns (rows follow sequence order).
    """

    modality: Modality
    start: int
    length: int
    offset: int
    num_features: int
    meta: dict

    @property
    def end(self) -> int:
        return self.start + self.length

    def describe(self) -> dict:
        return {"modality": self.modality.label, "start": self.start, "length": self.length,
                "offset": self.offset, "num_features": self.num_features, "meta": self.meta}


def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return f"{x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__


@dataclass(frozen=True, eq=False)
class TokenSequence:
    """An interleaved multimodal token sequence (see the module docstring for the fields' meaning).

    Build one with :func:`pack` (or ``MultimodalTokenizer``); its tensors are treated as immutable.
    """

    input_ids: torch.Tensor  # int64 [L]
    modality: torch.Tensor  # int64 [L]
    positions: torch.Tensor  # int64 [L]
    positions_3d: torch.Tensor  # int64 [3, L]
    spans: tuple[Span, ...]
    features: Features  # modality label -> float [n_placeholders, dim], concatenated on first read
    vocab: Vocab
    max_length: int = DEFAULT_MAX_LENGTH
    truncation: dict | None = None  # set when pack(..., truncate=True) dropped spans

    def __len__(self) -> int:
        return len(self.input_ids)

    def unpack(self) -> list[Segment]:
        """The segments this sequence was packed from (tensors are views; exact inverse of :func:`pack`)."""
        out, rows, part = [], {m.label: 0 for m in PLACEHOLDERS}, {m.label: 0 for m in PLACEHOLDERS}
        for span in self.spans:
            features = None
            if span.num_features:
                label = span.modality.label
                features = self.features.rows(label, rows[label], span.num_features, part[label])
                rows[label] += span.num_features
                part[label] += 1
            out.append(Segment._trusted(span.modality, self.input_ids[span.start:span.end],
                                        self.positions_3d[:, span.start:span.end] - span.offset, features,
                                        span.meta))
        return out

    def equals(self, other: "TokenSequence") -> bool:
        """Exact equality of every field (tensors bit for bit)."""
        return (isinstance(other, TokenSequence) and self.vocab == other.vocab
                and self.max_length == other.max_length and self.truncation == other.truncation
                and self.spans == other.spans and self.features.keys() == other.features.keys()
                and all(torch.equal(self.features[k], other.features[k])
                        and self.features[k].dtype == other.features[k].dtype for k in self.features)
                and all(torch.equal(getattr(self, f), getattr(other, f))
                        for f in ("input_ids", "modality", "positions", "positions_3d")))

    # --- provenance (implemented in mmtok.provenance) ----------------------------------------------------
    def provenance(self, i: int, text_tokenizer=None) -> dict:
        """Where token ``i`` came from: character span, box in original pixels, frame and time, or time span."""
        from ..multimodal.provenance import provenance

        return provenance(self, i, text_tokenizer)

    def provenance_table(self, text_tokenizer=None) -> dict[str, torch.Tensor]:
        """The vectorized form of :meth:`provenance`: one row per token."""
        from ..multimodal.provenance import provenance_table

        return provenance_table(self, text_tokenizer)

    # --- manifests (implemented in mmtok.manifest) ------------------------------------------------------
    def to_manifest(self) -> dict:
        """A JSON-serializable dict of everything but the feature values (their shapes and dtypes are in it)."""
        from .manifest import to_manifest

        return to_manifest(self)

    def save(self, directory) -> None:
        """Write ``manifest.json`` and (when there are features) ``features.safetensors`` into ``directory``."""
        from .manifest import save

        save(self, directory)

    @classmethod
    def load(cls, directory, vocab: Vocab | None = None) -> "TokenSequence":
        """Read a sequence written by :meth:`save`, checking every field; ``vocab`` must match if given."""
        from .manifest import load

        return load(directory, vocab)


def pack(segments: Iterable[Segment], vocab: Vocab, max_length: int = DEFAULT_MAX_LENGTH,
         truncate: bool = False) -> TokenSequence:
    """Lay ``segments`` end to end into one :class:`TokenSequence`.

    Args:
        segments: the pieces in order.
        vocab: the unified vocabulary the ids belong to (every id is checked against it).
        max_length: the context limit. A longer result raises :class:`ContextLengthError` naming the span that
            crosses it, unless ``truncate``.
        truncate: drop whole segments from the first one that does not fit; what was dropped is recorded in
            ``seq.truncation`` (and so in the manifest). A segment is never cut inside.
    """
    segments = list(segments)
    if not isinstance(max_length, int) or max_length < 1:
        raise SequenceError(f"max_length must be a positive int, got {max_length!r}")
    for i, seg in enumerate(segments):
        if not isinstance(seg, Segment):
            raise SequenceError(f"segment {i} is a {type(seg).__name__}, not an mmtok Segment")
    lengths = [len(s) for s in segments]
    total = sum(lengths)
    truncation = None
    if total > max_length:
        start, k = 0, 0
        while start + lengths[k] <= max_length:
            start += lengths[k]
            k += 1
        if not truncate:
            seg = segments[k]
            raise ContextLengthError(
                f"sequence of {total:,} tokens exceeds the context limit of {max_length:,}: segment {k} "
                f"({seg._name()}, tokens {start:,}..{start + lengths[k]:,}) crosses it; shorten the input, raise "
                f"max_length, or pass truncate=True to drop whole segments from there on")
        truncation = {"original_length": total, "original_segments": len(segments), "kept_segments": k,
                      "dropped": [{"modality": s.modality.label, "length": len(s), "source": s.meta.get("source")}
                                  for s in segments[k:]]}
        segments, lengths = segments[:k], lengths[:k]
    return _assemble(segments, lengths, vocab, max_length, truncation)


def _assemble(segments: Sequence[Segment], lengths: list[int], vocab: Vocab, max_length: int,
              truncation: dict | None) -> TokenSequence:
    n = len(segments)
    if n == 0:
        empty = torch.zeros(0, dtype=torch.int64)
        return TokenSequence(empty, empty, empty, torch.zeros(3, 0, dtype=torch.int64), (), Features(), vocab,
                             max_length, truncation)
    input_ids = torch.cat([s.input_ids for s in segments])  # (L,)
    vocab.check(input_ids, "segment ids")
    lengths_t = torch.tensor(lengths, dtype=torch.int64)
    seg_index = torch.repeat_interleave(torch.arange(n), lengths_t)  # (L,) segment of each token
    pos3d = torch.cat([s.pos3d for s in segments], dim=1)  # (3, L) relative positions
    # Offsets: each segment starts one past the largest position used so far.
    tops = torch.zeros(n, dtype=torch.int64).scatter_reduce_(0, seg_index, pos3d.amax(0) + 1, "amax")
    offsets = torch.cumsum(tops, 0) - tops  # (n,) exclusive prefix sum
    positions_3d = pos3d + offsets[seg_index]
    modality = torch.tensor([int(s.modality) for s in segments], dtype=torch.int64)[seg_index]

    counts = _placeholder_counts(input_ids, seg_index, n, vocab).tolist()
    spans, start, offsets_l = [], 0, offsets.tolist()
    parts: dict[Modality, list[torch.Tensor]] = {m: [] for m in PLACEHOLDERS}
    for i, seg in enumerate(segments):
        expected = counts[i][int(seg.modality)] if seg.modality in PLACEHOLDERS else 0
        if sum(counts[i]) != expected:
            raise SequenceError(f"segment {i} ({seg._name()}) holds placeholders of another modality; a "
                                f"{seg.modality.label} segment may only hold its own placeholder")
        if seg.num_features != expected:
            raise SequenceError(f"segment {i} ({seg._name()}) has {expected} placeholder ids but "
                                f"{seg.num_features} feature rows; give one row per placeholder")
        if seg.features is not None:
            parts[seg.modality].append(seg.features)
        spans.append(Span(seg.modality, start, lengths[i], offsets_l[i], expected, seg.meta))
        start += lengths[i]
    for m, p in parts.items():
        if len({(t.shape[1], t.dtype) for t in p}) > 1:
            raise SequenceError(f"{m.label} features disagree in width or dtype across segments: "
                                f"{sorted({(t.shape[1], str(t.dtype)) for t in p})}; use one preset per modality")
    features = Features({m.label: p for m, p in parts.items() if p})
    return TokenSequence(input_ids, modality, torch.arange(len(input_ids)), positions_3d, tuple(spans), features,
                         vocab, max_length, truncation)


def _placeholder_counts(input_ids: torch.Tensor, seg_index: torch.Tensor, n: int, vocab: Vocab) -> torch.Tensor:
    """How many placeholder ids of each modality every segment holds: int64 [n, len(Modality)]."""
    counts = torch.zeros(n, len(Modality), dtype=torch.int64)
    for m in PLACEHOLDERS:
        counts[:, int(m)] = torch.bincount(seg_index[input_ids == vocab.placeholder(m)], minlength=n)
    return counts
