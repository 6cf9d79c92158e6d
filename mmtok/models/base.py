"""The face of every model-exact processor: the registry of model names, the pieces a prompt is made of, the
text ids, and :class:`ModelProcessor`, a thin class that hands each call to the family module that implements the
model (``mmtok.models.qwen``, ...).

The prompt contents (``mmtok.Image``, ``mmtok.Video``, ``mmtok.Audio``) are the same classes
``MultimodalTokenizer`` reads (:mod:`mmtok.media.contents`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ..core.registry import Registry
from ..errors import ConfigError, InputError
from ..media.contents import Audio, Image, Video

__all__ = ["MODELS", "ModelSpec", "ModelProcessor", "Piece", "TextIds", "list_models", "register_model",
           "as_pieces"]


# --- the pieces of a prompt ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Piece:
    """One piece of a prompt, sorted by kind.

    ``kind`` is ``"text"`` (``value`` the str), ``"image"`` (``value`` a picture source: path, bytes, PIL, numpy HWC
    or torch CHW uint8), ``"size"`` (``value`` (height, width) in pixels: a picture known only by its size),
    ``"codes"`` (``mmtok.Image(src, as_="codes")``: VQ codes to write), ``"video"`` or ``"audio"`` (``value`` the
    content object itself).
    """

    kind: str
    value: Any


def _piece(content: Any) -> Piece:
    if isinstance(content, str):
        return Piece("text", content)
    if isinstance(content, tuple):
        if len(content) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in content):
            raise InputError(f"a picture size is (height, width) in pixels, two ints >= 1; got {content!r}")
        return Piece("size", content)
    cls = type(content)
    if isinstance(content, Image):
        return Piece("image" if content.as_ == "patches" else "codes", content.src)
    if isinstance(content, (Video, Audio)):
        return Piece("video" if isinstance(content, Video) else "audio", content)
    if isinstance(content, (Path, bytes, bytearray, np.ndarray, torch.Tensor)) or cls.__module__.startswith("PIL."):
        return Piece("image", content)
    raise InputError(f"cannot read a {cls.__name__} as a prompt piece; give text (str), mmtok.Image(...), "
                     f"mmtok.Video(...), mmtok.Audio(...) or a picture size (height, width)")


def as_pieces(contents: Any) -> list[Piece]:
    """A prompt (one content or a list of them) as a list of :class:`Piece`; a tuple is a picture size."""
    if isinstance(contents, list):
        if not contents:
            raise InputError("the prompt is empty; give at least one piece (text, mmtok.Image(...), ...)")
        return [_piece(c) for c in contents]
    return [_piece(contents)]


# --- text ids ------------------------------------------------------------------------------------------------
class TextIds:
    """The ids of a prompt's text and of the model's marker tokens.

    With a Hugging Face tokenizer (any object with ``convert_tokens_to_ids`` and ``get_vocab`` that is callable on a
    list of strings) the whole prompt string, markers included, goes through it in one call, exactly as the
    transformers processor does, so the ids are the model's real ids. Without one (``None``), each text piece is
    encoded with mmtok's bundled SentencePiece model and the model's marker tokens take the ids after its pieces
    (``vocab_size + i`` for the i-th name in ``specials``): the shape and the counts of the model, not its ids.
    """

    def __init__(self, tokenizer: Any, specials: Sequence[str]) -> None:
        self.specials = tuple(specials)
        if tokenizer is None:
            from ..text import TextTokenizer

            self.hf = None
            self.sp = TextTokenizer.default()
            self.special_ids = {s: self.sp.vocab_size + i for i, s in enumerate(self.specials)}
            return
        if not (callable(tokenizer) and hasattr(tokenizer, "convert_tokens_to_ids") and hasattr(tokenizer, "get_vocab")):
            raise ConfigError(f"tokenizer= takes a Hugging Face tokenizer object (or None for mmtok's SentencePiece "
                              f"model), got a {type(tokenizer).__name__}")
        vocab = tokenizer.get_vocab()
        missing = [s for s in self.specials if s not in vocab]
        if missing:
            raise ConfigError(f"the tokenizer has no {', '.join(missing)}; give the model's own tokenizer (its "
                              f"tokenizer.json carries them) or add them as special tokens")
        self.hf, self.sp = tokenizer, None
        self.special_ids = {s: int(tokenizer.convert_tokens_to_ids(s)) for s in self.specials}

    def count(self, text: str) -> int:
        """Tokens of a text piece on its own (no BOS/EOS added)."""
        if self.hf is None:
            return self.sp.num_tokens(text)
        return len(self.hf(text, add_special_tokens=False)["input_ids"])

    def encode(self, parts: Sequence[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)``, int64 [1, L] each, of a prompt given as ``("text", s)`` and
        ``("special", name)`` parts, markers already repeated as the model expands them. With a Hugging Face
        tokenizer a marker written inside a text piece would become the marker itself, so it is refused."""
        if self.hf is not None:
            for kind, s in parts:
                found = [m for m in self.specials if kind == "text" and m in s]
                if found:
                    raise InputError(f"the text {s[:40]!r} contains the marker {found[0]}, which the model's "
                                     f"tokenizer reads as the marker itself; remove it from the text")
            enc = self.hf(["".join(s for _, s in parts)], return_tensors="pt")
            return enc["input_ids"].long(), enc["attention_mask"].long()
        ids: list[int] = []
        for kind, s in parts:
            ids += [self.special_ids[s]] if kind == "special" else self.sp.encode(s)
        t = torch.tensor([ids], dtype=torch.long)
        return t, torch.ones_like(t)


# --- the registry ---------------------------------------------------------------------------------------------
class FamilyProcessor(Protocol):
    """What a family module builds for one model name (see :class:`ModelProcessor` for the meaning)."""

    def num_tokens(self, piece: Piece) -> int: ...

    def segment_length(self, piece: Piece) -> int: ...

    def hf_inputs(self, pieces: list[Piece]) -> dict[str, torch.Tensor]: ...


@dataclass(frozen=True)
class ModelSpec:
    """What a registered model name stands for."""

    name: str  # the public name, e.g. "qwen2-vl"
    family: str  # the module of mmtok.models that implements it, e.g. "qwen"
    config: Any  # the family's frozen config: the model's preprocessing values, with their source
    build: Callable[[Any, Any, bool], FamilyProcessor]  # (config, tokenizer, fast) -> the family's processor


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to :data:`MODELS` under ``spec.name`` (a name registers once)."""
    return MODELS.register(spec.name, spec)


def list_models() -> list[str]:
    """The names :class:`ModelProcessor` accepts, in registration order."""
    return MODELS.list()


class ModelProcessor:
    """How model ``name`` sees a prompt: its token counts and the tensors its transformers processor returns.

    Args:
        name: a registered model (:func:`list_models`); an unknown name raises ``UnknownNameError``.
        tokenizer: a Hugging Face tokenizer object for the model's real text ids, or None for mmtok's SentencePiece
            model (see :class:`TextIds`).
        fast: False (default) gives the processor's exact tensors; True may decode JPEGs at a reduced DCT scale,
            with counts and grids still exact (each family states its measured pixel tolerance).

    A prompt piece is text (str), ``mmtok.Image(src)`` (or a raw picture source: path as ``pathlib.Path``, bytes,
    PIL image, numpy HWC / torch CHW uint8 array), or, for counts only, a picture size ``(height, width)``.
    """

    def __init__(self, name: str, tokenizer: Any = None, fast: bool = False) -> None:
        spec = MODELS[name]
        if not isinstance(fast, bool):
            raise ConfigError(f"fast must be True or False, got {fast!r}")
        self.name, self.spec, self.fast = name, spec, fast
        self._impl = spec.build(spec.config, tokenizer, fast)

    def num_tokens(self, content: Any) -> int:
        """THE count of one piece for this model, without its markers: image placeholder tokens, or text tokens.
        A picture is read to its header only; a piece the model refuses raises ``InputError`` naming the rule."""
        return self._impl.num_tokens(_piece(content))

    def segment_length(self, content: Any) -> int:
        """Tokens one piece takes in the model's prompt: :meth:`num_tokens` plus the markers around it."""
        return self._impl.segment_length(_piece(content))

    def hf_inputs(self, contents: Any) -> dict[str, torch.Tensor]:
        """The tensors the model's transformers processor returns for this prompt (one piece or a list), with the
        same keys, shapes, dtypes and values; each family's docstring lists them and the call they equal."""
        return self._impl.hf_inputs(as_pieces(contents))

    def position_ids(self, contents: Any) -> torch.Tensor:
        """The model's position ids for this prompt, int64 [3, 1, L] for the M-RoPE models (temporal, height, width:
        what the model's ``get_rope_index`` returns for :meth:`hf_inputs`' tensors), computed from headers and clip
        indices without decoding pixels. A family without M-RoPE positions raises ``ConfigError``."""
        impl = getattr(self._impl, "position_ids", None)
        if impl is None:
            raise ConfigError(f"{self.name} has no 3D (M-RoPE) position ids in mmtok.models; position_ids is for "
                              f"the models whose family module implements it (qwen2-vl, qwen2.5-vl, qwen3-vl)")
        return impl(as_pieces(contents))

    def __repr__(self) -> str:
        return f"ModelProcessor({self.name!r}, fast={self.fast})"
