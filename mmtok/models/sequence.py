"""``ModelProcessor(name)(contents)``: a prompt as one :class:`~mmtok.TokenSequence` in the model's layout.

The family module's ``hf_inputs`` makes the ids and tensors (so they are the processor's, exactly); this module
cuts them into one span per prompt piece and builds the sequence:

- ``input_ids``: ``hf_inputs(contents)["input_ids"][0]`` (Whisper: see :mod:`mmtok.models.seq_families`), in a
  :class:`~mmtok.core.model_vocab.ModelVocab` (the tokenizer's ids and the model's markers; its ``text_model``
  names the tokenizer).
- spans: a BOS (or other prefix) the tokenizer adds is a CONTROL span (``role="prefix"``), so is a suffix it adds;
  each text piece a TEXT span; each picture, clip or sound a span of its modality holding its markers, the
  timestamp text the model writes for a clip, and its placeholders. With a Hugging Face tokenizer the text
  between two markers is tokenized as one string: a token that crosses from one piece into the next belongs to
  the first (char offsets decide), and a piece left with no token of its own has no span.
- features: one row per placeholder, regrouped from the model's tensors without changing a value (the family's
  docstring in :mod:`mmtok.models.seq_families`); :func:`hf_inputs_from_sequence` gives the tensors back.
- positions: Qwen-VL's M-RoPE ``get_rope_index`` positions (equal to ``proc.position_ids``); other models
  sequential positions on all three rows.

Provenance: :mod:`mmtok.models.seqmeta`.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.meta import SpanMeta
from ..core.model_vocab import ModelVocab
from ..core.positions import sequential_positions
from ..core.segment import Segment
from ..core.sequence import DEFAULT_MAX_LENGTH, TokenSequence, pack
from ..core.vocab import Modality
from ..errors import ConfigError
from .base import Piece, TextIds, _HFObject, _SentencePieceFile, _TokenizersFile
from .seqmeta import ModelControlMeta, ModelTextMeta

__all__ = ["Item", "model_vocab", "model_sequence", "hf_inputs_from_sequence", "FAMILIES"]

Parts = list[tuple[str, str]]


@dataclass(eq=False)
class Item:
    """One prompt piece on its way to a span.

    ``parts`` are what it writes into the prompt string (``("text", s)`` / ``("special", marker)``); a piece outside
    the text stream (Whisper's encoder positions) gives its ``ids`` instead. ``positions(ids)`` gives relative
    pos3d [3, n] and the span's extent (None: sequential, max + 1)."""

    modality: Modality
    parts: Parts = field(default_factory=list)
    meta: SpanMeta | None = None
    features: torch.Tensor | None = None
    ids: torch.Tensor | None = None
    positions: Callable[[torch.Tensor], tuple[torch.Tensor, int | None]] | None = None


# --- the vocabulary ------------------------------------------------------------------------------------------
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def model_vocab(model: str, text: TextIds, placeholders: dict[Modality, str], appended: tuple[str, ...] = ()
                ) -> tuple[ModelVocab, dict[str, int]]:
    """The :class:`ModelVocab` of a model's :class:`TextIds` and the ids of the ``appended`` markers (given the ids
    after the tokenizer's)."""
    enc, pad = text.enc, 0
    if enc is None:
        size, ident = text.sp.vocab_size + len(text.specials), f"mmtok-sentencepiece:{text.sp.model_id}"
    elif isinstance(enc, _SentencePieceFile):
        size, ident = enc.sp.get_piece_size(), "sentencepiece:" + _sha(enc.sp.serialized_model_proto())
    elif isinstance(enc, _TokenizersFile):
        size = max(enc.tok.get_vocab(with_added_tokens=True).values()) + 1
        ident = "tokenizers:" + _sha(enc.tok.to_str().encode())
    else:
        assert isinstance(enc, _HFObject)
        size = max(enc.vocab.values()) + 1
        backend = getattr(enc.tok, "backend_tokenizer", None)
        raw = backend.to_str() if backend is not None else json.dumps(sorted(enc.vocab.items()))
        ident = "tokenizers:" + _sha(raw.encode())
        pad = enc.tok.pad_token_id if isinstance(enc.tok.pad_token_id, int) else 0
    extra = {name: size + i for i, name in enumerate(appended)}
    markers = tuple((s, text.special_ids[s]) for s in text.specials) + tuple(extra.items())
    vocab = ModelVocab(model, size + len(appended), markers, tuple((m.label, n) for m, n in placeholders.items()),
                       ident, pad)
    return vocab, extra


# --- cutting the text stream ---------------------------------------------------------------------------------
def _text_chars(text: TextIds, s: str, ids: list[int]) -> list[tuple[int, int]] | None:
    """Character spans in ``s`` of its tokens ``ids`` encoded alone, or None when unknown."""
    if text.enc is None:
        return [tuple(p) for p in text.sp.char_spans(torch.tensor(ids, dtype=torch.int64)).tolist()]
    return _offsets(text, s, ids)


def _offsets(text: TextIds, s: str, ids: list[int]) -> list[tuple[int, int]] | None:
    """Char offsets of a Hugging Face tokenizer's tokens of ``s`` if it gives them and they are of ``ids``."""
    enc = text.enc
    try:
        if isinstance(enc, _TokenizersFile):
            e = enc.tok.encode(s, add_special_tokens=False)
            got, offs = list(e.ids), list(e.offsets)
        elif isinstance(enc, _HFObject):
            e = enc.tok(s, add_special_tokens=False, return_offsets_mapping=True)
            got, offs = list(e["input_ids"]), list(e["offset_mapping"])
        elif isinstance(enc, _SentencePieceFile):  # byte offsets into the input -> character offsets
            pieces = enc.sp.encode(s, return_type="proto").pieces
            to_char = [i for i, ch in enumerate(s) for _ in ch.encode("utf-8")] + [len(s)]
            got, offs = [p.id for p in pieces], [(to_char[p.begin], to_char[p.end]) for p in pieces]
        else:
            return None
    except (NotImplementedError, ValueError, TypeError, AttributeError, IndexError):
        return None
    return [tuple(o) for o in offs] if got == ids else None


def _split_stream(text: TextIds, items: list[Item], ids: list[int]) -> tuple[list[int], list[list[int]], list[int],
                                                                                 list[list[tuple[int, int]] | None]]:
    """``(prefix, ids of each item, suffix, chars of each item)``: the stream ids cut at the items' parts."""
    parts = [(k, kind, s) for k, it in enumerate(items) for kind, s in it.parts]
    if isinstance(text.enc, (_HFObject, _TokenizersFile)):
        plain = text.enc.ids("".join(s for _, _, s in parts), add_special_tokens=False)
        starts = [i for i in range(len(ids) - len(plain) + 1) if ids[i:i + len(plain)] == plain]
        assert starts, "the tokenizer's ids do not contain the prompt's own ids"
        pre, joint = starts[0], True
    else:
        pre = len(text.enc.ids("", add_special_tokens=True)) if text.enc is not None else 0
        plain, joint = ids[pre:], False
        plain = plain[:sum(1 if kind == "special" else len(_encode_alone(text, s)) for _, kind, s in parts)]
    out: list[list[int]] = [[] for _ in items]
    chars: list[list[tuple[int, int]] | None] = [[] for _ in items]
    marker_ids = set(text.special_ids.values())
    p, j = 0, 0
    while j < len(parts):
        k, kind, s = parts[j]
        if kind == "special":
            assert plain[p] == text.special_ids[s], (p, s)
            out[k].append(plain[p])
            chars[k] = None if chars[k] is None else chars[k] + [(-1, -1)]
            p, j = p + 1, j + 1
            continue
        run = [parts[j]]
        while j + len(run) < len(parts) and parts[j + len(run)][1] == "text":
            run.append(parts[j + len(run)])
        if joint:
            end = p
            while end < len(plain) and plain[end] not in marker_ids:
                end += 1
            _assign_joint(text, run, plain[p:end], out, chars)
        else:
            end = p
            for k2, _, s2 in run:
                n = len(_encode_alone(text, s2))
                tok = plain[end:end + n]
                out[k2] += tok
                c = _text_chars(text, s2, tok)
                chars[k2] = None if chars[k2] is None or c is None else chars[k2] + c
                end += n
        p, j = end, j + len(run)
    return ids[:pre], out, ids[pre + len(plain):], chars


def _encode_alone(text: TextIds, s: str) -> list[int]:
    return text.sp.encode(s) if text.enc is None else text.enc.ids(s, add_special_tokens=False)


def _assign_joint(text: TextIds, run: list[tuple[int, str, str]], tok: list[int], out: list[list[int]],
                  chars: list) -> None:
    """Give each token of a jointly tokenized text run to the piece its first character is in."""
    joined = "".join(s for _, _, s in run)
    starts = [0]
    for _, _, s in run:
        starts.append(starts[-1] + len(s))
    offs = _offsets(text, joined, tok)
    if offs is None:  # no offsets: the whole run goes to its first piece
        out[run[0][0]] += tok
        chars[run[0][0]] = None
        return
    for t, (a, b) in zip(tok, offs):
        r = max(0, min(bisect.bisect_right(starts, a) - 1, len(run) - 1))
        k = run[r][0]
        out[k].append(t)
        if chars[k] is not None:
            chars[k].append((a - starts[r], min(b, starts[r + 1]) - starts[r]))


# --- the sequence ----------------------------------------------------------------------------------------------
def _segment(model: str, it: Item, ids: list[int] | torch.Tensor, chars: list | None) -> Segment | None:
    ids = torch.as_tensor(ids, dtype=torch.int64)
    if not len(ids):
        return None
    meta = it.meta
    if it.modality == Modality.TEXT and meta is None:
        flat = tuple(v for c in chars for v in c) if chars is not None and len(chars) == len(ids) else ()
        meta = ModelTextMeta(model=model, text="".join(s for _, s in it.parts), chars=flat)
    pos, extent = it.positions(ids) if it.positions is not None else (sequential_positions(len(ids)), None)
    if extent is not None:
        meta = dataclasses.replace(meta, extent=extent)
    return Segment(it.modality, ids, pos.contiguous(), it.features, meta)


def assemble(model: str, text: TextIds, vocab: ModelVocab, items: list[Item], stream_ids: torch.Tensor,
             max_length: int | None) -> TokenSequence:
    """Pack ``items`` into a sequence: those with ``parts`` cut ``stream_ids`` (the processor's ids) among them."""
    stream = [it for it in items if it.ids is None]
    segs: list[Segment | None] = []
    if stream:
        prefix, ids, suffix, chars = _split_stream(text, stream, stream_ids.tolist())
        first, last = items.index(stream[0]), items.index(stream[-1])
        got = dict(zip(map(id, stream), zip(ids, chars)))
        in_stream: list[Segment | None] = []
        for k, it in enumerate(items):
            if k == first and prefix:
                in_stream.append(Segment(Modality.CONTROL, torch.tensor(prefix), sequential_positions(len(prefix)),
                                         meta=ModelControlMeta(model=model, role="prefix")))
                segs.append(in_stream[-1])
            if it.ids is None:
                in_stream.append(_segment(model, it, *got[id(it)]))
                segs.append(in_stream[-1])
            else:
                segs.append(_segment(model, it, it.ids, None))
            if k == last and suffix:
                in_stream.append(Segment(Modality.CONTROL, torch.tensor(suffix), sequential_positions(len(suffix)),
                                         meta=ModelControlMeta(model=model, role="suffix")))
                segs.append(in_stream[-1])
        cut = torch.cat([s.input_ids for s in in_stream if s is not None])
        assert torch.equal(cut, stream_ids), "the spans do not cut the processor's ids exactly"
    else:
        segs = [_segment(model, it, it.ids, None) for it in items]
    segs = [s for s in segs if s is not None]
    total = sum(len(s) for s in segs)
    return pack(segs, vocab, max(DEFAULT_MAX_LENGTH, total) if max_length is None else max_length)


FamilySequence = Callable[[Any, list[Piece], str], tuple[ModelVocab, list[Item], torch.Tensor]]
FamilyInverse = Callable[[TokenSequence], dict[str, torch.Tensor]]
FAMILIES: dict[str, tuple[FamilySequence, FamilyInverse]] = {}  # filled by mmtok.models.seq_families


def model_sequence(proc: Any, pieces: list[Piece], max_length: int | None = None) -> TokenSequence:
    """The sequence of ``proc`` (a :class:`~mmtok.models.ModelProcessor`) for ``pieces``."""
    if proc.spec.family not in FAMILIES:
        proc._impl.hf_inputs(pieces)  # the counts-only rules raise their typed InputError here
        raise ConfigError(f"{proc.name} has no sequence layout in mmtok.models")
    build, _ = FAMILIES[proc.spec.family]
    vocab, items, stream_ids = build(proc._impl, pieces, proc.name)
    return assemble(proc.name, proc._impl.text, vocab, items, stream_ids, max_length)


def hf_inputs_from_sequence(seq: TokenSequence) -> dict[str, torch.Tensor]:
    """The model's tensors rebuilt from a model sequence alone (the inverse of the regrouping): equal to
    ``ModelProcessor(name).hf_inputs(contents)`` for the contents the sequence was made from."""
    from .base import MODELS

    if not isinstance(seq.vocab, ModelVocab):
        raise ConfigError("hf_inputs_from_sequence takes a sequence made by ModelProcessor(name)(contents); this one "
                          "uses mmtok's own vocabulary")
    family = MODELS[seq.vocab.model].family
    return FAMILIES[family][1](seq)
