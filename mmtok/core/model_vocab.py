"""A model's own id space, for sequences laid out as one model reads them (``mmtok.ModelProcessor(name)(contents)``).

mmtok's :class:`~mmtok.core.vocab.Vocab` is a layout of its own (text pieces, then its special tokens, then VQ
codes). A model's ids are another space: its tokenizer's ids, its marker tokens among them, and one placeholder id
per continuous modality it reads (Qwen's ``<|image_pad|>``, Gemma 4's ``<|audio|>``, ...). :class:`ModelVocab`
describes that space with the calls sequences, packing, batching, manifests and provenance make on a vocabulary
(``check``, ``placeholder``, ``placeholders``, ``name``, ``pad_id``, ``describe`` / ``from_description``).

In a manifest a model vocabulary is written with ``"kind": "model"``; :func:`vocab_from_description` reads both
kinds (a description without ``kind`` is mmtok's :class:`Vocab`, as every manifest written before).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from ..errors import ConfigError, VocabError
from .vocab import PLACEHOLDERS, Modality, Vocab

__all__ = ["ModelVocab", "vocab_from_description", "AnyVocab", "placeholder_ids", "placeholder_counts", "sound_ids"]

MODEL_KIND = "model"


@dataclass(frozen=True)
class ModelVocab:
    """The ids of one model's tokenizer setup.

    Args:
        model: the registered model name (``"qwen2-vl"``, ...).
        size: number of ids: ids lie in ``[0, size)`` (the tokenizer's ids plus any marker mmtok appends, such as
            Whisper's ``<|audio_position|>``; the model's embedding table may be larger).
        markers: ``(name, id)`` of each marker token the model's prompts use, in the model's order.
        placeholders: ``(modality label, marker name)`` of the placeholder standing for one feature row, for each
            continuous modality the model reads.
        text_model: identity of the tokenizer: ``"mmtok-sentencepiece:<id>"`` (mmtok's bundled model with the
            markers appended), ``"tokenizers:<sha256 prefix>"`` or ``"sentencepiece:<sha256 prefix>"``.
        pad_id: the id batches pad with (attention mask 0 there): the tokenizer's pad token when known, else 0.
    """

    model: str
    size: int
    markers: tuple[tuple[str, int], ...]
    placeholders: tuple[tuple[str, str], ...]
    text_model: str = ""
    pad_id: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"ModelVocab.model must be a model name, got {self.model!r}")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 1:
            raise ConfigError(f"ModelVocab.size must be a positive int, got {self.size!r}")
        markers = tuple((str(n), i) for n, i in self.markers)
        names = [n for n, _ in markers]
        if len(set(names)) != len(names):
            raise ConfigError(f"{self.model}: ModelVocab.markers name a token twice: {names}")
        for n, i in markers:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < self.size:
                raise ConfigError(f"{self.model}: marker {n} has id {i!r}, outside [0, {self.size})")
        object.__setattr__(self, "markers", markers)
        places = tuple((Modality.parse(m).label, str(n)) for m, n in self.placeholders)
        for m, n in places:
            if Modality.parse(m) not in PLACEHOLDERS:
                raise ConfigError(f"{self.model}: {m} carries no features, so it has no placeholder")
            if n not in names:
                raise ConfigError(f"{self.model}: the {m} placeholder {n} is not one of the markers {names}")
        ids = [self.marker(n) for _, n in places]
        if len(set(ids)) != len(ids) or len({m for m, _ in places}) != len(places):
            raise ConfigError(f"{self.model}: each modality needs its own placeholder id, got {places}")
        object.__setattr__(self, "placeholders", places)
        if not isinstance(self.text_model, str):
            raise ConfigError(f"{self.model}: ModelVocab.text_model must be a str, got {self.text_model!r}")
        if not isinstance(self.pad_id, int) or isinstance(self.pad_id, bool) or not 0 <= self.pad_id < self.size:
            raise ConfigError(f"{self.model}: pad_id {self.pad_id!r} is outside [0, {self.size})")

    def marker(self, name: str) -> int:
        """The id of a marker token, e.g. ``vocab.marker("<|vision_start|>")``."""
        for n, i in self.markers:
            if n == name:
                return i
        raise VocabError(f"{self.model} has no marker {name!r}; its markers: {', '.join(n for n, _ in self.markers)}")

    special = marker  # the name Vocab uses

    def placeholder(self, modality: Modality) -> int:
        """The placeholder id of one feature row of ``modality``; a modality the model does not read raises."""
        label = Modality.parse(modality).label
        for m, n in self.placeholders:
            if m == label:
                return self.marker(n)
        raise VocabError(f"{self.model} reads no {label} features; its placeholders: "
                         f"{', '.join(m for m, _ in self.placeholders) or 'none'}")

    def placeholder_ids(self) -> dict[Modality, int]:
        """``modality -> placeholder id`` for every continuous modality the model reads."""
        return {Modality.parse(m): self.marker(n) for m, n in self.placeholders}

    def name(self, token_id: int) -> str:
        """A readable name for one id: the marker's name, else ``"text:<id>"``."""
        self.check(torch.tensor([token_id]))
        for n, i in self.markers:
            if i == token_id:
                return n
        return f"text:{token_id}"

    def check(self, ids: torch.Tensor, what: str = "ids") -> None:
        """Raise :class:`VocabError` unless every id lies in ``[0, size)``."""
        if ids.numel() == 0:
            return
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= self.size:
            raise VocabError(f"{what} hold id {lo if lo < 0 else hi}, outside {self.model}'s ids [0, {self.size}); "
                             f"check that they were made with the same tokenizer ({self.text_model})")

    def describe(self) -> dict:
        """A JSON-serializable description with ``"kind": "model"``; :func:`vocab_from_description` inverts it."""
        return {"kind": MODEL_KIND, "model": self.model, "size": self.size,
                "markers": [[n, i] for n, i in self.markers],
                "placeholders": [[m, n] for m, n in self.placeholders],
                "text_model": self.text_model, "pad_id": self.pad_id}

    @classmethod
    def from_description(cls, desc: dict) -> ModelVocab:
        if not isinstance(desc, dict) or desc.get("kind") != MODEL_KIND:
            raise VocabError("a model vocabulary description is a dict with \"kind\": \"model\"")
        unknown = sorted(set(desc) - {"kind", "model", "size", "markers", "placeholders", "text_model", "pad_id"})
        if unknown:
            raise VocabError(f"model vocabulary description has unknown field(s) {unknown}")
        try:
            pairs = [(tuple(p) if isinstance(p, list) and len(p) == 2 else None) for p in desc["markers"]]
            places = [(tuple(p) if isinstance(p, list) and len(p) == 2 else None) for p in desc["placeholders"]]
            if None in pairs or None in places:
                raise TypeError("markers and placeholders must be lists of pairs")
            return cls(model=desc["model"], size=desc["size"], markers=tuple(pairs), placeholders=tuple(places),
                       text_model=desc["text_model"], pad_id=desc["pad_id"])
        except (KeyError, TypeError, ConfigError) as e:
            raise VocabError(f"model vocabulary description is missing or has a bad field: {e}") from None


AnyVocab = Vocab | ModelVocab


def vocab_from_description(desc: dict) -> AnyVocab:
    """The vocabulary a manifest describes: ``"kind": "model"`` a :class:`ModelVocab`, else mmtok's :class:`Vocab`."""
    if isinstance(desc, dict) and "kind" in desc:
        return ModelVocab.from_description(desc)
    return Vocab.from_description(desc)


def placeholder_ids(vocab: AnyVocab) -> dict[Modality, int]:
    """``modality -> placeholder id`` of every continuous modality a vocabulary has placeholders for."""
    if isinstance(vocab, ModelVocab):
        return vocab.placeholder_ids()
    return {m: vocab.placeholder(m) for m in PLACEHOLDERS}


def sound_ids(vocab: AnyVocab) -> torch.Tensor:
    """The ids that are audio inside a clip: <start_of_audio>, <end_of_audio> and the audio placeholder (a
    model's vocabulary: its audio placeholder, if any)."""
    if isinstance(vocab, Vocab):
        names = ("<start_of_audio>", "<end_of_audio>")
        return torch.tensor([vocab.special(n) for n in names] + [vocab.placeholder(Modality.AUDIO)])
    return torch.tensor([i for m, i in placeholder_ids(vocab).items() if m == Modality.AUDIO], dtype=torch.int64)


def placeholder_counts(input_ids: torch.Tensor, seg_index: torch.Tensor, n: int, vocab: AnyVocab) -> torch.Tensor:
    """How many placeholder ids of each modality every segment holds (``seg_index`` [L]: the segment of each
    token): int64 [n, len(Modality)]. One lookup and one bincount over the ids."""
    lut = _placeholder_lut(tuple(sorted((int(m), int(i)) for m, i in placeholder_ids(vocab).items())))
    kinds = len(Modality) + 1  # the last: not a placeholder
    kind = lut.index_select(0, input_ids.clamp(0, len(lut) - 1))  # (index_select: ~10x faster than lut[ids])
    return torch.bincount(seg_index * kinds + kind, minlength=n * kinds).view(n, kinds)[:, :-1]


@functools.lru_cache(maxsize=16)
def _placeholder_lut(pairs: tuple[tuple[int, int], ...]) -> torch.Tensor:
    """int64 [max id + 2]: the modality of each placeholder id (``pairs``: (modality, id)), len(Modality) for every
    other id (the last entry stands for all ids above)."""
    lut = torch.full((max((i for _, i in pairs), default=0) + 2,), len(Modality), dtype=torch.int64)
    for m, i in pairs:
        lut[i] = m
    return lut
