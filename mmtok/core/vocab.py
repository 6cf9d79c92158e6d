"""The unified vocabulary: one id space for text, special tokens and VQ image codes.

Layout (ids are contiguous, in this order)::

    [0, text_size)                              text pieces of the SentencePiece model
    [text_size, text_size + len(SPECIAL_TOKENS))  special tokens, in the order of SPECIAL_TOKENS
    [.., .. + image_codes)                      discrete VQ image codes 0 .. image_codes - 1

Special tokens live outside the text model on purpose: no user string can ever produce one, so a prompt that
contains the characters ``<bos>`` is tokenized as text. Placeholder ids (``*_soft_token``) stand where a
continuous feature row (image patch pixels, audio mel frames) sits in the sequence.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from enum import IntEnum

import torch

from ..errors import ConfigError, VocabError

__all__ = ["SPECIAL_TOKENS", "PLACEHOLDERS", "DEFAULT_IMAGE_CODES", "Kind", "Modality", "Vocab", "default_vocab",
           "text_model_id"]

# THE list of special tokens. Appending is a format change: manifests record this list and refuse to load
# under a different one.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<pad>",
    "<bos>",
    "<eos>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",  # placeholder: one ViT patch of an image
    "<tile_separator>",  # between the tiles of a tiled image
    "<start_of_video>",
    "<end_of_video>",
    "<start_of_frame>",  # opens one sampled frame; its span metadata carries the timestamp
    "<end_of_frame>",
    "<video_soft_token>",  # placeholder: one ViT patch of a video frame
    "<start_of_audio>",
    "<end_of_audio>",
    "<audio_soft_token>",  # placeholder: one stack of log-mel frames
    "<start_of_image_codes>",
    "<end_of_image_codes>",
)

# Default number of VQ codes reserved in the id space. The VQ presets declare their own codebook size; a
# vocabulary built for one of them passes it as ``image_codes``.
DEFAULT_IMAGE_CODES = 4096


class Kind(IntEnum):
    """Which part of the id space an id falls in."""

    TEXT = 0
    SPECIAL = 1
    IMAGE_CODE = 2


class Modality(IntEnum):
    """The modality of a token or a segment; stored per token in ``TokenSequence.modality``."""

    CONTROL = 0  # standalone control tokens (<bos>, <eos>, <pad>)
    TEXT = 1
    IMAGE = 2  # ViT patches: placeholder ids + float features
    VIDEO = 3  # frames through the image path: placeholder ids + float features
    AUDIO = 4  # stacked log-mel frames: placeholder ids + float features
    IMAGE_CODES = 5  # discrete VQ codes: ids in the image-code range

    @property
    def label(self) -> str:
        """The lower-case name (``"image_codes"``), the key of ``TokenSequence.features`` and of every table."""
        return _LABELS[self]

    @classmethod
    def parse(cls, value: Modality | str | int) -> Modality:
        """``Modality.IMAGE``, ``"image"`` or ``2`` -> ``Modality.IMAGE``; anything else is a ``ConfigError``."""
        if isinstance(value, Modality):
            return value
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        names = ", ".join(m.label for m in cls)
        raise ConfigError(f"unknown modality {value!r}; use one of: {names}")


_LABELS = {m: m.name.lower() for m in Modality}  # computed once: pack and unpack ask for labels per segment

# Which placeholder stands for a feature row of each continuous modality.
PLACEHOLDERS: dict[Modality, str] = {
    Modality.IMAGE: "<image_soft_token>",
    Modality.VIDEO: "<video_soft_token>",
    Modality.AUDIO: "<audio_soft_token>",
}


@dataclass(frozen=True)
class Vocab:
    """The id layout of one tokenizer setup.

    Args:
        text_size: number of pieces in the text model (``TextTokenizer.vocab_size``).
        image_codes: size of the VQ codebook whose codes get ids (0 reserves none).
        text_model: identifier of the text model (its SHA-256 prefix); recorded in manifests so that ids are
            never read back under another text model.
    """

    text_size: int
    image_codes: int = DEFAULT_IMAGE_CODES
    text_model: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.text_size, int) or self.text_size < 1:
            raise ConfigError(f"Vocab.text_size must be a positive int, got {self.text_size!r}")
        if not isinstance(self.image_codes, int) or self.image_codes < 0:
            raise ConfigError(f"Vocab.image_codes must be an int >= 0, got {self.image_codes!r}")

    # --- layout -----------------------------------------------------------------------------------------
    @property
    def special_offset(self) -> int:
        return self.text_size

    @property
    def code_offset(self) -> int:
        return self.text_size + len(SPECIAL_TOKENS)

    @property
    def size(self) -> int:
        """Total number of ids (text + special + image codes)."""
        return self.code_offset + self.image_codes

    def special(self, name: str) -> int:
        """The id of a special token, e.g. ``vocab.special("<bos>")``."""
        try:
            return self.special_offset + _SPECIAL_INDEX[name]
        except KeyError:
            raise VocabError(f"unknown special token {name!r}; known: {', '.join(SPECIAL_TOKENS)}") from None

    def placeholder(self, modality: Modality) -> int:
        """The placeholder id that stands for one feature row of ``modality`` (image, video or audio)."""
        if modality not in PLACEHOLDERS:
            raise VocabError(f"modality {Modality(modality).label!r} has no placeholder; only "
                             f"{', '.join(m.label for m in PLACEHOLDERS)} carry features")
        return self.special(PLACEHOLDERS[modality])

    @property
    def pad_id(self) -> int:
        return self.special("<pad>")

    @property
    def bos_id(self) -> int:
        return self.special("<bos>")

    @property
    def eos_id(self) -> int:
        return self.special("<eos>")

    def name(self, token_id: int) -> str:
        """A readable name for one id: ``"<bos>"``, ``"code:17"`` or ``"text:1234"``."""
        kind, local = self.split(torch.tensor([token_id]))
        kind, local = Kind(int(kind)), int(local)
        if kind is Kind.SPECIAL:
            return SPECIAL_TOKENS[local]
        return f"code:{local}" if kind is Kind.IMAGE_CODE else f"text:{local}"

    # --- vectorized conversion --------------------------------------------------------------------------
    def split(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unified ids (any shape, integer) -> ``(kind, local)``, both int64 of the same shape."""
        ids = torch.as_tensor(ids, dtype=torch.int64)
        self.check(ids)
        kind = (ids >= self.special_offset).long() + (ids >= self.code_offset).long()
        offsets = torch.tensor([0, self.special_offset, self.code_offset], dtype=torch.int64)
        return kind, ids - offsets[kind]

    def join(self, kind: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`split`: ``(kind, local)`` of the same shape -> unified ids."""
        kind = torch.as_tensor(kind, dtype=torch.int64)
        local = torch.as_tensor(local, dtype=torch.int64)
        if kind.shape != local.shape:
            raise VocabError(f"kind and local ids differ in shape: {tuple(kind.shape)} vs {tuple(local.shape)}")
        if kind.numel() and (kind.min() < 0 or kind.max() > 2):
            raise VocabError(f"kind must be 0 (text), 1 (special) or 2 (image code); got {int(kind.max())}")
        sizes = torch.tensor([self.text_size, len(SPECIAL_TOKENS), self.image_codes], dtype=torch.int64)
        offsets = torch.tensor([0, self.special_offset, self.code_offset], dtype=torch.int64)
        bad = (local < 0) | (local >= sizes[kind])
        if bad.any():
            i = int(bad.nonzero()[0, 0]) if bad.dim() == 1 else 0
            k = int(kind.reshape(-1)[bad.reshape(-1)][0])
            v = int(local.reshape(-1)[bad.reshape(-1)][0])
            raise VocabError(f"local id {v} is out of range for kind {Kind(k).name.lower()} "
                             f"(size {int(sizes[k])}) at index {i}")
        return local + offsets[kind]

    def check(self, ids: torch.Tensor, what: str = "ids") -> None:
        """Raise :class:`VocabError` unless every id lies in ``[0, size)``."""
        if ids.numel() == 0:
            return
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= self.size:
            bad = lo if lo < 0 else hi
            raise VocabError(f"{what} hold id {bad}, outside the unified vocabulary [0, {self.size}); "
                             f"check that they were made with the same text model and VQ codebook")

    # --- description (for manifests) -------------------------------------------------------------------
    def describe(self) -> dict:
        """A JSON-serializable description; :meth:`from_description` rebuilds an equal Vocab."""
        return {
            "text_size": self.text_size,
            "image_codes": self.image_codes,
            "text_model": self.text_model,
            "special_tokens": list(SPECIAL_TOKENS),
        }

    @classmethod
    def from_description(cls, desc: dict) -> Vocab:
        if not isinstance(desc, dict):
            raise VocabError(f"a vocab description must be a dict, got {type(desc).__name__}")
        specials = desc.get("special_tokens", [])
        if not isinstance(specials, list) or specials != list(SPECIAL_TOKENS):
            raise VocabError("the description lists other special tokens than this mmtok version; "
                             "re-tokenize the input with this version")
        try:
            return cls(text_size=desc["text_size"], image_codes=desc["image_codes"],
                       text_model=str(desc.get("text_model", "")))
        except (KeyError, TypeError) as e:
            raise VocabError(f"vocab description is missing or has a bad field: {e}") from None


_SPECIAL_INDEX = {name: i for i, name in enumerate(SPECIAL_TOKENS)}
assert len(_SPECIAL_INDEX) == len(SPECIAL_TOKENS), "duplicate special token"


def text_model_id(model_proto: bytes) -> str:
    """The identifier a vocabulary records for a text model: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(model_proto).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def default_vocab() -> Vocab:
    """mmtok's own vocabulary: the bundled 32k SentencePiece model's pieces and :data:`DEFAULT_IMAGE_CODES` codes
    (what ``TextTokenizer.default().vocab`` gives; the modality tokenizers use it when no vocab is passed)."""
    import sentencepiece as spm

    from .bundled import asset_path

    path = asset_path("text", "mmtok-text-32k.model")
    try:
        proto = path.read_bytes()
    except OSError as e:
        raise VocabError(f"the bundled text model {path} is unreadable ({e.strerror}); reinstall mmtok") from None
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(proto)
    return Vocab(text_size=sp.get_piece_size(), text_model=text_model_id(proto))
