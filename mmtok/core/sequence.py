"""The interleaved sequence: segments in, one ``TokenSequence`` out, and back, exactly.

A :class:`Segment` is one piece of a prompt (a text run, an image, a clip, an audio file, a block of image
codes, a control token) already turned into unified ids. :func:`pack` lays segments end to end:

- ``input_ids`` [L]: unified ids; a placeholder id wherever a continuous feature row sits.
- ``modality`` [L]: the :class:`~mmtok.core.vocab.Modality` of each token: that of its segment, except the audio
  runs inside a clip with its sound (``<start_of_audio>``, audio placeholders, ``<end_of_audio>``), which are audio.
- ``positions`` [L]: ``0 .. L-1``.
- ``positions_3d`` [3, L]: (t, h, w) rotary positions, M-RoPE style (Qwen2-VL). Each segment gives its own
  relative coordinates (``Segment.pos3d``, smallest value 0); pack shifts them by the segment's offset, which
  is one past the largest position used so far (or, when the segment's metadata has an ``extent``, the previous
  offset plus that extent: a Qwen-VL clip, whose text goes on from its last marker, not past its time axis). A text token advances all three axes together, so a text-only
  sequence has ``positions_3d[k] == positions`` for every axis; a media segment places its tokens on its
  (time, row, column) grid, and the text after it continues from its largest position plus one.
- ``spans``: one :class:`Span` per segment (modality, start, length, position offset, number of feature rows,
  metadata); a clip with its sound is one video span holding its frames and its sound.
- ``features``: per continuous modality (``"image"``, ``"video"``, ``"audio"``) one float tensor
  [n_placeholders, dim], rows in sequence order.

``seq.unpack()`` returns the segments (views into the sequence's tensors), ``seq.save(dir)`` writes
``manifest.json`` + ``features.safetensors`` and ``TokenSequence.load(dir)`` restores an equal sequence after
checking every field. ``seq.provenance(i)`` says where token ``i`` came from, and ``seq.tokens_at(span, xy=...)``
or ``tokens_at(span, t=...)`` which tokens came from a pixel or an instant (its inverse). A sequence in a model's
layout (``mmtok.ModelProcessor(name)(contents)``) has the same fields over a
:class:`~mmtok.core.model_vocab.ModelVocab`. A context limit (default 32,768 tokens, Gemini 1.0's) is enforced by
:func:`pack`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ContextLengthError, ManifestError, MmtokError, SequenceError
from . import display
from . import manifest as _manifest
from .features import Features
from .model_vocab import AnyVocab, placeholder_counts, placeholder_ids, sound_ids
from .positions import grid_positions, sequential_positions
from .protocol import ModalityTokenizer, empty_provenance, segment_tokenizer
from .segment import Segment, Span
from .table import span_table, summary
from .threads import one_torch_thread
from .vocab import PLACEHOLDERS, Modality

__all__ = ["Segment", "Span", "TokenSequence", "pack", "sequential_positions", "grid_positions", "DEFAULT_MAX_LENGTH",
           "from_manifest"]

DEFAULT_MAX_LENGTH = 32_768  # Gemini 1.0's context length


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
    vocab: AnyVocab  # mmtok's Vocab, or a ModelVocab for a sequence in a model's layout
    max_length: int = DEFAULT_MAX_LENGTH
    truncation: dict | None = None  # set when pack(..., truncate=True) dropped spans

    def __len__(self) -> int:
        return len(self.input_ids)

    def __repr__(self) -> str:
        """Short: the length, its share of the context and the spans by modality (the fields: :meth:`table`,
        :meth:`to_manifest`)."""
        return summary(self)

    def _repr_html_(self) -> str:
        """The notebook view: the timeline strip, the span table with a small picture of each span and the text
        coloured token by token (:mod:`mmtok.multimodal.notebook`; ``mmtok.show(seq)`` returns the same)."""
        return display.html(self)

    def table(self) -> str:
        """The span table ``mmtok tokenize`` prints: one row per span (modality, tokens, shape, seconds, source)
        and the total."""
        return span_table(self)

    def unpack(self) -> list[Segment]:
        """The segments this sequence was packed from (tensors are views; exact inverse of :func:`pack`)."""
        if not self.spans:
            return []
        with one_torch_thread():  # small ops: see pack
            lengths = [span.length for span in self.spans]
            offsets = torch.tensor([span.offset for span in self.spans]).repeat_interleave(torch.tensor(lengths))
            ids = self.input_ids.split(lengths)  # one call for every span's view
            pos3d = (self.positions_3d - offsets).split(lengths, dim=1)  # (3, L) relative positions, split
            rows, parts = _counters(), _counters()
            out = []
            for k, span in enumerate(self.spans):
                own, sound = self._take(span, rows, parts)
                out.append(Segment._trusted(span.modality, ids[k], pos3d[k], own, span.meta, sound))
            return out

    def _take(self, span: Span, rows: dict[str, int], parts: dict[str, int]) -> tuple[torch.Tensor | None, ...]:
        """(own rows, sound rows) of ``span``, whose feature rows of each modality start at ``rows[label]``
        (``parts[label]``: how many spans with rows of that modality come before it); moves both counters past it."""
        own = sound = None
        for label, n in span.feature_rows():
            got = self.features.rows(label, rows[label], n, parts[label])
            if span.sound_features and label == _AUDIO:
                sound = got
            else:
                own = got
            rows[label] += n
            parts[label] += 1
        return own, sound

    def equals(self, other: TokenSequence) -> bool:
        """Exact equality of every field (tensors bit for bit)."""
        return (isinstance(other, TokenSequence) and self.vocab == other.vocab
                and self.max_length == other.max_length and self.truncation == other.truncation
                and self.spans == other.spans and self.features.keys() == other.features.keys()
                and all(torch.equal(self.features[k], other.features[k])
                        and self.features[k].dtype == other.features[k].dtype for k in self.features)
                and all(torch.equal(getattr(self, f), getattr(other, f))
                        for f in ("input_ids", "modality", "positions", "positions_3d")))

    # --- provenance (each span asks the tokenizer of its modality: mmtok.core.protocol) -------------------
    def provenance(self, i: int, text_tokenizer: ModalityTokenizer | None = None) -> dict:
        """Where token ``i`` came from (negative ``i`` counts from the end): its span, its modality (a clip's
        sound tokens are audio), source and id, plus what its modality knows — character span, box in original
        pixels and block, frame and its display interval, or time span (:meth:`tokens_at` is the inverse).
        ``text_tokenizer``: the one that made the text (needed when it is not mmtok's bundled model)."""
        try:
            i = operator.index(i)
        except TypeError:
            raise SequenceError(f"a token is given by its index (an int), got {i!r}") from None
        if not -len(self) <= i < len(self):
            raise SequenceError(f"token {i} is outside the sequence of {len(self)} tokens")
        i %= len(self)
        k = self.span_index(i)
        span, seg = self.spans[k], self.segment(k)
        token, modality = int(self.input_ids[i]), Modality(int(self.modality[i]))
        out: dict = {"token": i, "span": k, "modality": modality.label, "source": span.meta.source,
                     "id": token, "placeholder": token == placeholder_ids(self.vocab).get(modality)}
        tok = self._tokenizer(seg, text_tokenizer)
        return out | (tok.provenance(seg, i - span.start, self.vocab) if tok is not None else {})

    def provenance_table(self, text_tokenizer: ModalityTokenizer | None = None) -> dict[str, torch.Tensor]:
        """The vectorized form of :meth:`provenance`: columns of length L (``span`` and those of
        :func:`~mmtok.core.protocol.empty_provenance`)."""
        table = empty_provenance(len(self)) | {"span": torch.empty(len(self), dtype=torch.int64)}
        for k, (span, seg) in enumerate(zip(self.spans, self.unpack())):
            table["span"][span.start:span.end] = k
            tok = self._tokenizer(seg, text_tokenizer)
            if tok is not None:
                for name, column in tok.provenance_table(seg, self.vocab).items():
                    table[name][span.start:span.end] = column
        return table

    def tokens_at(self, span: int, *, xy: tuple[float, float] | None = None, t: float | None = None) -> list[int]:
        """The tokens of span ``span`` (negative counts from the end) whose :meth:`provenance` covers pixel
        ``xy`` = (x, y) of the ORIGINAL picture or the instant ``t`` seconds from the start of the clip or sound:
        sequence indices in order, the inverse of :meth:`provenance`.

        A pixel lies in a box when x0 <= x < x1 and y0 <= y < y1, an instant in a time span when start <= t < end.
        So a pixel gives one patch per view (tiles: the thumbnail's and a tile's, told apart by ``block``) and per
        frame of a clip; an instant gives the patches of the frame on screen then (each frame's display interval)
        and, in a clip with its sound or a sound, the audio token then (none when no sampled frame or token covers
        it). Give exactly one of ``xy`` and ``t``. A span outside the sequence, a pixel outside the picture (0 <=
        x < width, 0 <= y < height), an instant outside [0, duration] or a span without pixels (``xy``) or times
        (``t``) raise :class:`SequenceError`."""
        if (xy is None) == (t is None):
            raise SequenceError("give exactly one of xy=(x, y) (a pixel of the original picture) or t=seconds")
        k = self._span_number(span)
        s, seg = self.spans[k], self.segment(k)
        tok = self._tokenizer(seg, None)
        table = tok.provenance_table(seg, self.vocab) if tok is not None else empty_provenance(len(seg))
        what = f"span {k} ({s.modality.label}{f', {s.meta.source}' if s.meta.source else ''})"
        if xy is not None:
            x, y = _numbers(xy, 2, "xy")
            box = table["box"]
            known = ~torch.isnan(box[:, 0])
            if not known.any():
                raise SequenceError(f"{what} has no pixels; tokens_at(span, xy=...) finds the tokens of a picture, a "
                                    f"clip or image codes (give t= for a clip or a sound)")
            height, width = getattr(s.meta, "original_size", None) or (float(box[known, 3].max()),
                                                                          float(box[known, 2].max()))
            if not (0 <= x < width and 0 <= y < height):
                raise SequenceError(f"pixel ({x:g}, {y:g}) is outside the {width} x {height} picture of {what}; "
                                    f"give 0 <= x < {width} and 0 <= y < {height}")
            hit = (box[:, 0] <= x) & (x < box[:, 2]) & (box[:, 1] <= y) & (y < box[:, 3])
        else:
            (t,) = _numbers((t,), 1, "t")
            times = table["time"]
            known = ~torch.isnan(times[:, 0])
            if not known.any():
                raise SequenceError(f"{what} has no times; tokens_at(span, t=...) finds the tokens of a clip or a "
                                    f"sound (give xy= for a picture)")
            end = max(float(getattr(s.meta, "duration", 0.0)), float(times[known, 1].max()))
            if not 0 <= t <= end:
                raise SequenceError(f"t={t:g} s is outside {what}, which lasts {end:g} s; give 0 <= t <= {end:g}")
            hit = (times[:, 0] <= t) & (t < times[:, 1])
        return (hit.nonzero()[:, 0] + s.start).tolist()

    def span_index(self, i: int) -> int:
        """The index of the span that holds token ``i``."""
        starts = torch.tensor([s.start for s in self.spans])
        return int(torch.searchsorted(starts, torch.tensor(i), right=True)) - 1

    def segment(self, k: int) -> Segment:
        """Segment ``k`` (negative counts from the end), as :meth:`unpack` gives it, without unpacking the others."""
        k = self._span_number(k)
        rows, parts = _counters(), _counters()
        for span in self.spans[:k]:
            for label, n in span.feature_rows():
                rows[label] += n
                parts[label] += 1
        span = self.spans[k]
        own, sound = self._take(span, rows, parts)
        ids, pos3d = self.input_ids[span.start:span.end], self.positions_3d[:, span.start:span.end] - span.offset
        return Segment._trusted(span.modality, ids, pos3d, own, span.meta, sound)

    def _span_number(self, k: int) -> int:
        """Span ``k`` as an index ``0 .. len(spans)-1`` (negative ``k`` counts from the end)."""
        n = len(self.spans)
        try:
            k = operator.index(k)
        except TypeError:
            raise SequenceError(f"a span is given by its index (an int), got {k!r}") from None
        if not -n <= k < n:
            raise SequenceError(f"span {k} is outside the sequence's {n} spans; give an index in [{-n}, {n})")
        return k % n

    def _tokenizer(self, seg: Segment, text_tokenizer: ModalityTokenizer | None) -> ModalityTokenizer | None:
        if seg.modality == Modality.TEXT and text_tokenizer is not None:
            return text_tokenizer
        return segment_tokenizer(seg, self.vocab)

    # --- manifests (mmtok.core.manifest) ----------------------------------------------------------------
    def to_manifest(self) -> dict:
        """A JSON-serializable dict of everything but the feature values (their shapes and dtypes are in it)."""
        return _manifest.to_manifest(self)

    def save(self, directory) -> None:
        """Write ``manifest.json`` and (when there are features) ``features.safetensors`` into ``directory``."""
        _manifest.write(self, directory)

    @classmethod
    def load(cls, directory, vocab: AnyVocab | None = None) -> TokenSequence:
        """Read a sequence written by :meth:`save` (or by mmtok 0.1), checking every field; ``vocab`` must match
        if given."""
        path, manifest, features = _manifest.read(directory)
        try:
            return from_manifest(manifest, features, vocab)
        except MmtokError as e:  # ids out of range, placeholder mismatch, ... found while rebuilding
            raise ManifestError(f"{path}: {e}") from None


def from_manifest(manifest: Any, features: dict[str, torch.Tensor], vocab: AnyVocab | None = None) -> TokenSequence:
    """Rebuild a sequence from a manifest dict and its feature tensors: the spans' segments are packed again and
    every stored field must equal what packing gives."""
    parsed = _manifest.parse(manifest, features, vocab)
    seq = pack(parsed.segments, parsed.vocab, parsed.max_length)
    _manifest.verify(seq, parsed)
    return TokenSequence(seq.input_ids, seq.modality, seq.positions, seq.positions_3d, seq.spans, seq.features,
                         parsed.vocab, parsed.max_length, parsed.truncation)


def pack(segments: Iterable[Segment], vocab: AnyVocab, max_length: int = DEFAULT_MAX_LENGTH,
         truncate: bool = False) -> TokenSequence:
    """Lay ``segments`` end to end into one :class:`TokenSequence`.

    Args:
        segments: the pieces in order.
        vocab: the unified vocabulary the ids belong to (every id is checked against it), or a model's
            (:class:`~mmtok.core.model_vocab.ModelVocab`).
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
                      "dropped": [{"modality": s.modality.label, "length": len(s), "source": s.meta.source}
                                  for s in segments[k:]]}
        segments, lengths = segments[:k], lengths[:k]
    # One torch thread: a few dozen small ops, where two OpenMP threads spin at every op's barrier on a shared
    # machine (pack + unpack of 100 spans: 126 ms on two threads against 23 ms on one beside other work).
    with one_torch_thread():
        return _assemble(segments, lengths, vocab, max_length, truncation)


_AUDIO = Modality.AUDIO.label


def _counters() -> dict[str, int]:
    """A count per modality with feature rows (rows, or parts, seen so far)."""
    return {m.label: 0 for m in PLACEHOLDERS}


def _assemble(segments: Sequence[Segment], lengths: list[int], vocab: AnyVocab, max_length: int,
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
    # Offsets: each segment starts one past the largest position used so far, unless its metadata gives the
    # positions it takes (``meta.extent``: a Qwen-VL clip, whose temporal axis may run past where the text goes on).
    tops = torch.zeros(n, dtype=torch.int64).scatter_reduce_(0, seg_index, pos3d.amax(0) + 1, "amax")
    for i, seg in enumerate(segments):
        extent = getattr(seg.meta, "extent", None)
        if extent is not None:
            tops[i] = extent
    offsets = torch.cumsum(tops, 0) - tops  # (n,) exclusive prefix sum
    positions_3d = pos3d + offsets.repeat_interleave(lengths_t)
    modality = torch.tensor([int(s.modality) for s in segments], dtype=torch.int64).repeat_interleave(lengths_t)
    if any(s.modality == Modality.VIDEO for s in segments):
        in_clip = (modality == int(Modality.VIDEO)) & torch.isin(input_ids, sound_ids(vocab))
        modality[in_clip] = int(Modality.AUDIO)  # the audio runs of a clip with its sound

    counts = placeholder_counts(input_ids, seg_index, n, vocab).tolist()
    spans, start, offsets_l = [], 0, offsets.tolist()
    parts: dict[Modality, list[torch.Tensor]] = {m: [] for m in PLACEHOLDERS}
    for i, seg in enumerate(segments):
        _check_rows(i, seg, counts[i])
        if seg.features is not None:
            parts[seg.modality].append(seg.features)
        if seg.sound is not None:
            parts[Modality.AUDIO].append(seg.sound)
        spans.append(Span(seg.modality, start, lengths[i], offsets_l[i], seg.num_features, seg.meta,
                          seg.num_sound_features))
        start += lengths[i]
    for m, p in parts.items():
        if len({(t.shape[1], t.dtype) for t in p}) > 1:
            raise SequenceError(f"{m.label} features disagree in width or dtype across segments: "
                                f"{sorted({(t.shape[1], str(t.dtype)) for t in p})}; use one preset per modality")
    features = Features({m.label: p for m, p in parts.items() if p})
    return TokenSequence(input_ids, modality, torch.arange(len(input_ids)), positions_3d, tuple(spans), features,
                         vocab, max_length, truncation)


def _check_rows(i: int, seg: Segment, counts: list[int]) -> None:
    """Segment ``i`` holds only its own placeholders (and a clip with sound rows, audio ones), one feature row
    each; ``counts``: its placeholders of each modality."""
    own = counts[int(seg.modality)] if seg.modality in PLACEHOLDERS else 0
    sound = counts[int(Modality.AUDIO)] if seg.sound is not None else 0
    if sum(counts) != own + sound:
        raise SequenceError(f"segment {i} ({seg._name()}) holds placeholders of another modality; a "
                            f"{seg.modality.label} segment may only hold its own placeholder (and a clip, its "
                            f"sound's, with Segment(sound=...))")
    if seg.num_features != own:
        raise SequenceError(f"segment {i} ({seg._name()}) has {own} placeholder ids but "
                            f"{seg.num_features} feature rows; give one row per placeholder")
    if seg.num_sound_features != sound:
        raise SequenceError(f"segment {i} ({seg._name()}) has {sound} audio placeholder ids but "
                            f"{seg.num_sound_features} sound rows; give one row per audio placeholder")


def _numbers(values: Any, n: int, name: str) -> tuple[float, ...]:
    """``values`` as ``n`` finite floats (``name`` in the error)."""
    try:
        out = tuple(float(v) for v in values if not isinstance(v, (str, bytes)))
    except (TypeError, ValueError):
        out = ()
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise SequenceError(f"{name} must be {'a finite number' if n == 1 else f'{n} finite numbers'}, "
                            f"got {values if n > 1 else values[0]!r}")
    return out
