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
from ..media.files import resolve_file, text_naming_a_file
from ..media.imageio import DraftRule, LoadedImage, load_image

__all__ = ["MODELS", "ModelSpec", "ModelProcessor", "Piece", "TextIds", "list_models", "register_model",
           "as_pieces", "size_only", "refusal", "writes_no_codes", "load_picture", "FAST_SCANS"]


# --- the pieces of a prompt ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Piece:
    """One piece of a prompt, sorted by kind.

    ``kind`` is ``"text"`` (``value`` the str), ``"image"`` (``value`` a picture source: path, bytes, PIL, or a
    uint8 numpy array / torch tensor, HWC or CHW), ``"size"`` (``value`` (height, width) in pixels: a picture known
    only by its size), ``"codes"`` (``mmtok.Image(src, as_="codes")``: VQ codes to write), ``"video"`` or
    ``"audio"`` (``value`` the content object itself). ``mmtok.File(path)`` and a ``pathlib.Path`` become the piece
    their content is (sniffed, :mod:`mmtok.media.files`); a bare picture object (bytes, PIL, array) is a picture.
    """

    kind: str
    value: Any


def _piece(content: Any) -> Piece:
    content = resolve_file(content)  # mmtok.File and pathlib.Path: the piece their content is
    if isinstance(content, str):
        text_naming_a_file(content)
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
    if isinstance(content, (bytes, bytearray, np.ndarray, torch.Tensor)) or cls.__module__.startswith("PIL."):
        return Piece("image", content)
    raise InputError(f"cannot read a {cls.__name__} as a prompt piece; give text (str), mmtok.Image(...), "
                     f"mmtok.Video(...), mmtok.Audio(...), mmtok.File(path) or a picture size (height, width)")


def as_pieces(contents: Any) -> list[Piece]:
    """A prompt (one content or a list of them) as a list of :class:`Piece`; a tuple is a picture size."""
    if isinstance(contents, list):
        if not contents:
            raise InputError("the prompt is empty; give at least one piece (text, mmtok.Image(...), ...)")
        return [_piece(c) for c in contents]
    return [_piece(contents)]


def refusal(model: str, what: str, reads: str, fix: str) -> InputError:
    """The error for a piece ``model`` does not take, in one form for every family:
    ``"<model> takes no <what> (<what the model reads>); <fix>"``."""
    return InputError(f"{model} takes no {what} ({reads}); {fix}")


def writes_no_codes(model: str) -> InputError:
    """The error for VQ codes given to a model that reads pictures but writes no image codes."""
    return InputError(f"{model} reads pictures but does not write VQ codes; give mmtok.Image(src) (as_='patches')")


def size_only(model: str, piece: Piece) -> InputError:
    """The error of a family's ``hf_inputs`` given a picture size ``(height, width)``: tensors need the pixels."""
    return InputError(f"{model}: hf_inputs needs the picture itself, not only its size {piece.value}; give "
                      f"mmtok.Image(src)")


FAST_SCANS = "all"  # fast=True: a progressive JPEG decodes with its first pass only (every refinement scan skipped)


def load_picture(src: Any, fast: bool, needed: DraftRule) -> LoadedImage:
    """A picture as every family loads it: by default exactly as the processor's PIL decode (every scan, full
    size); with ``fast`` a JPEG decodes at the smallest DCT scale still at least ``needed(width, height)`` (None:
    full size) and a progressive one without its refinement scans (:data:`FAST_SCANS`)."""
    if fast:
        return load_image(src, draft=needed, first_pass=FAST_SCANS)
    return load_image(src)


# --- text ids ------------------------------------------------------------------------------------------------
class _Encoder(Protocol):
    """The two calls :class:`TextIds` needs from a real tokenizer."""

    def ids(self, text: str, add_special_tokens: bool) -> list[int]: ...

    def token_id(self, token: str) -> int | None: ...


def _atomic(added: dict) -> set[str]:
    """The added tokens a tokenizer matches whole wherever they stand (not ``single_word``): a run of n of them
    encodes as n copies of its id, so :meth:`TextIds.encode` may write one and repeat its id."""
    return {t.content for t in added.values() if not getattr(t, "single_word", False)}


class _HFObject:
    """A Hugging Face tokenizer object (``transformers`` ``PreTrainedTokenizer*``), called as the processor calls it."""

    def __init__(self, tok: Any) -> None:
        self.tok, self.vocab = tok, tok.get_vocab()
        self.atomic = _atomic(getattr(tok, "added_tokens_decoder", {}))

    def ids(self, text: str, add_special_tokens: bool) -> list[int]:
        return list(self.tok(text, add_special_tokens=add_special_tokens)["input_ids"])

    def token_id(self, token: str) -> int | None:
        return int(self.tok.convert_tokens_to_ids(token)) if token in self.vocab else None


class _TokenizersFile:
    """A ``tokenizers.Tokenizer`` (a model's ``tokenizer.json``): the same ids as the transformers fast tokenizer
    built on that file, post-processor (BOS) included."""

    def __init__(self, tok: Any) -> None:
        self.tok = tok
        self.atomic = _atomic(tok.get_added_tokens_decoder())

    def ids(self, text: str, add_special_tokens: bool) -> list[int]:
        return list(self.tok.encode(text, add_special_tokens=add_special_tokens).ids)

    def token_id(self, token: str) -> int | None:
        return self.tok.token_to_id(token)


class _SentencePieceFile:
    """A SentencePiece ``.model`` file (Gemma's ``tokenizer.model``). Marker tokens are looked up as pieces, never
    encoded from text; with special tokens the model's BOS piece (when it has one) goes first, as Gemma's
    tokenizer adds it."""

    def __init__(self, sp: Any) -> None:
        self.sp = sp

    def ids(self, text: str, add_special_tokens: bool) -> list[int]:
        bos = [self.sp.bos_id()] if add_special_tokens and self.sp.bos_id() >= 0 else []
        return bos + list(self.sp.encode(text))

    def token_id(self, token: str) -> int | None:
        i = self.sp.piece_to_id(token)
        return i if self.sp.id_to_piece(i) == token and i != self.sp.unk_id() else None


def _encoder(tokenizer: Any) -> _Encoder:
    """The tokenizer a user gave, as an :class:`_Encoder`; anything else is a ConfigError naming what works."""
    if isinstance(tokenizer, (str, Path)):
        path = Path(tokenizer)
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.is_file():
            raise ConfigError(f"tokenizer={str(tokenizer)!r}: no such file; give a model's tokenizer.json, its "
                              f"SentencePiece .model file, a folder holding tokenizer.json, or a tokenizer object")
        if path.suffix == ".json":
            from tokenizers import Tokenizer

            try:
                return _TokenizersFile(Tokenizer.from_file(str(path)))
            except Exception as e:  # the tokenizers library raises its own Exception type
                raise ConfigError(f"{path} is not a tokenizers tokenizer.json ({e})") from e
        if path.suffix == ".model":
            import sentencepiece as spm

            try:
                return _SentencePieceFile(spm.SentencePieceProcessor(model_file=str(path)))
            except (OSError, RuntimeError) as e:
                raise ConfigError(f"{path} is not a SentencePiece model ({e})") from e
        raise ConfigError(f"tokenizer={str(path)!r}: give a tokenizer.json or a SentencePiece .model file")
    if type(tokenizer).__module__.startswith("tokenizers") and hasattr(tokenizer, "encode"):
        return _TokenizersFile(tokenizer)
    if callable(tokenizer) and hasattr(tokenizer, "convert_tokens_to_ids") and hasattr(tokenizer, "get_vocab"):
        return _HFObject(tokenizer)
    raise ConfigError(f"tokenizer= takes a Hugging Face tokenizer object, a tokenizers.Tokenizer, a path to a "
                      f"tokenizer.json or SentencePiece .model file (or None for mmtok's SentencePiece model), got a "
                      f"{type(tokenizer).__name__}")


class TextIds:
    """The ids of a prompt's text and of the model's marker tokens.

    ``tokenizer`` is one of:

    - ``None``: each text piece is encoded with mmtok's bundled SentencePiece model and the model's marker tokens
      take the ids after its pieces (``vocab_size + i`` for the i-th name in ``specials``): the shape and the
      counts of the model, not its ids;
    - a Hugging Face tokenizer object (``AutoTokenizer.from_pretrained(...)`` of the model), or a
      ``tokenizers.Tokenizer``, or the path of the model's ``tokenizer.json`` (or of a folder holding it): the
      whole prompt string, markers included, goes through it in one call with its special tokens (BOS where the
      model adds one), exactly as the transformers processor calls it, so the ids are the model's real ids;
    - the path of a SentencePiece ``.model`` file (Gemma's ``tokenizer.model``): text pieces encoded by it, the
      markers looked up as its pieces, its BOS first.

    A tokenizer that lacks one of the model's marker tokens is a ConfigError naming it. Nothing is downloaded.
    """

    def __init__(self, tokenizer: Any, specials: Sequence[str]) -> None:
        self.specials = tuple(specials)
        if tokenizer is None:
            from ..text import TextTokenizer

            self.enc = None
            self.sp = TextTokenizer.default()
            self.special_ids = {s: self.sp.vocab_size + i for i, s in enumerate(self.specials)}
            return
        self.enc, self.sp = _encoder(tokenizer), None
        found = {s: self.enc.token_id(s) for s in self.specials}
        missing = [s for s, i in found.items() if i is None]
        if missing:
            raise ConfigError(f"the tokenizer has no {', '.join(missing)}; give the model's own tokenizer (its "
                              f"tokenizer.json carries them) or add them as special tokens")
        self.special_ids = {s: int(i) for s, i in found.items()}

    @property
    def hf(self) -> Any:
        """True-ish when the model's own tokenizer makes the ids (kept for the families' checks)."""
        return self.enc

    def count(self, text: str) -> int:
        """Tokens of a text piece on its own (no BOS/EOS added)."""
        if self.enc is None:
            return self.sp.num_tokens(text)
        return len(self.enc.ids(text, add_special_tokens=False))

    def encode(self, parts: Sequence[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)``, int64 [1, L] each, of a prompt given as ``("text", s)`` and
        ``("special", name)`` parts, markers already repeated as the model expands them. With the model's tokenizer
        a marker written inside a text piece would become the marker itself, so it is refused."""
        if isinstance(self.enc, (_HFObject, _TokenizersFile)):
            for s in dict.fromkeys(s for kind, s in parts if kind == "text"):  # not the thousands of marker parts
                found = [m for m in self.specials if m in s]
                if found:
                    raise InputError(f"the text {s[:40]!r} contains the marker {found[0]}, which the model's "
                                     f"tokenizer reads as the marker itself; remove it from the text")
            ids = self._encode_runs(parts)
        elif isinstance(self.enc, _SentencePieceFile):
            ids = self.enc.ids("", add_special_tokens=True)
            for kind, s in parts:
                ids += [self.special_ids[s]] if kind == "special" else self.enc.ids(s, add_special_tokens=False)
        else:
            ids = []
            for kind, s in parts:
                ids += [self.special_ids[s]] if kind == "special" else self.sp.encode(s)
        t = torch.tensor([ids], dtype=torch.long) if isinstance(ids, list) else ids[None]
        return t, torch.ones_like(t)

    def _encode_runs(self, parts: Sequence[tuple[str, str]]) -> list[int] | torch.Tensor:
        """The ids of the whole prompt string, a picture's thousands of repeated markers encoded once each and
        their id repeated (the same ids: such a marker is an added token matched whole; checked, and if the
        encoded ids do not show each marker run where expected the whole string is encoded as it is)."""
        atomic, runs = self.enc.atomic, []  # [text, marker or None, count]
        for kind, s in parts:
            if kind == "special" and s in atomic and runs and runs[-1][1] == s:
                runs[-1][2] += 1
            else:
                runs.append([s, s if kind == "special" and s in atomic else None, 1])
        if len(runs) == len(parts):  # nothing repeated
            return self.enc.ids("".join(s for _, s in parts), add_special_tokens=True)
        ids = torch.tensor(self.enc.ids("".join(r[0] for r in runs), add_special_tokens=True), dtype=torch.long)
        marked = [r for r in runs if r[1] is not None]
        marker_ids = torch.tensor(sorted({self.special_ids[r[1]] for r in marked}), dtype=torch.long)
        where = torch.isin(ids, marker_ids).nonzero()[:, 0]
        want = torch.tensor([self.special_ids[r[1]] for r in marked], dtype=torch.long)
        if len(where) != len(marked) or not torch.equal(ids[where], want):
            return self.enc.ids("".join(s for _, s in parts), add_special_tokens=True)
        counts = torch.ones_like(ids)
        counts[where] = torch.tensor([r[2] for r in marked], dtype=torch.long)
        return torch.from_numpy(np.repeat(ids.numpy(), counts.numpy()))  # numpy: torch's took 0.1-5 ms here


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
    build: Callable[..., FamilyProcessor]  # (config, tokenizer, fast, **options) -> the family's processor
    options: tuple[str, ...] = ()  # the keyword options ModelProcessor(name, ..., **options) accepts for this model


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
        tokenizer: the model's tokenizer for its real text ids: a Hugging Face tokenizer object, a
            ``tokenizers.Tokenizer``, or a local path to its ``tokenizer.json`` or SentencePiece ``.model``; None
            (default) for mmtok's SentencePiece model with the model's markers (see :class:`TextIds`).
        fast: False (default) gives the processor's exact tensors; True may decode JPEGs at a reduced DCT scale,
            with counts and grids still exact (each family states its measured pixel tolerance).
        **options: the model's own processor options, the names in ``MODELS[name].options`` (e.g. ``gemma-4``'s
            ``max_soft_tokens=560``), handed to the family's build; a name the model does not take raises
            ``ConfigError`` naming the ones it does, and each family validates the values.

    A prompt piece is text (str), ``mmtok.Image(src)`` (or a raw picture source: path as ``pathlib.Path``, bytes,
    PIL image, numpy HWC / torch CHW uint8 array), or, for counts only, a picture size ``(height, width)``.
    """

    def __init__(self, name: str, tokenizer: Any = None, fast: bool = False, **options: Any) -> None:
        spec = MODELS[name]
        if not isinstance(fast, bool):
            raise ConfigError(f"fast must be True or False, got {fast!r}")
        unknown = sorted(set(options) - set(spec.options))
        if unknown:
            allowed = ", ".join(spec.options) or "none"
            raise ConfigError(f"{name} takes no option {', '.join(unknown)}; its options are: {allowed}")
        self.name, self.spec, self.fast, self.options = name, spec, fast, dict(options)
        self._impl = spec.build(spec.config, tokenizer, fast, **options)

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

    @property
    def notes(self) -> tuple[str, ...]:
        """What the last :meth:`hf_inputs` call did that its tensors do not show (e.g. an audio clip cut to the
        model's window, as its processor cuts it); empty when nothing, or for a family that records none."""
        return tuple(getattr(self._impl, "notes", ()))

    def __call__(self, contents: Any, max_length: int | None = None) -> Any:
        """The prompt (one piece or a list) as one ``mmtok.TokenSequence`` in the model's layout: the model's ids,
        one span per piece, feature rows regrouped from :meth:`hf_inputs`' tensors, the model's positions and each
        token's provenance (:mod:`mmtok.models.sequence`). ``max_length`` None: no limit beyond the sequence's own
        length (at least mmtok's default 32,768)."""
        from .sequence import model_sequence

        return model_sequence(self, as_pieces(contents), max_length)

    def __repr__(self) -> str:
        return f"ModelProcessor({self.name!r}, fast={self.fast})"
