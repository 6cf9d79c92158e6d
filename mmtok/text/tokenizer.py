"""Text tokens: SentencePiece pieces, lossless for every Unicode string.

The default model (``assets/text/mmtok-text-32k.model``, rebuilt by ``mmtok train-text``) is a 32,768-piece
BPE model with byte fallback, split digits and no normalization, so ``decode(encode(s)) == s`` for every
string of Unicode scalar values. SentencePiece itself would turn the character U+2581 (its internal space
symbol) into a space; :meth:`TextTokenizer.encode` writes that character as its three UTF-8 byte pieces
instead, which decode back to U+2581.

A lone surrogate (``"\\ud800"``) is not a Unicode scalar value and has no UTF-8 form: it is refused with a
:class:`~mmtok.errors.TextError` naming its index.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import torch

from ..core.bundled import asset_path
from ..core.meta import TextMeta
from ..core.positions import sequential_positions
from ..core.protocol import ProvenanceFromTable, empty_provenance, register_segment_tokenizer
from ..core.segment import Segment
from ..core.vocab import Modality, Vocab, text_model_id
from ..errors import AssetError, TextError, VocabError

__all__ = ["TextTokenizer", "DEFAULT_TEXT_MODEL", "DEFAULT_MAX_CHARS"]

DEFAULT_TEXT_MODEL = asset_path("text", "mmtok-text-32k.model")
DEFAULT_MAX_CHARS = 64 * 1024 * 1024  # 64 Mi characters; a longer string is refused, never cut
_SP_SPACE = "\u2581"


class TextTokenizer(ProvenanceFromTable):
    """A SentencePiece model behind mmtok's common face (``encode``, ``decode``, ``num_tokens``).

    Args:
        model_proto: the serialized SentencePiece model (the bytes of a ``.model`` file).
        source: where the model came from (shown in errors and manifests).
        max_chars: longest string :meth:`encode` accepts; longer input raises ``TextError`` instead of being
            cut.
    """

    def __init__(self, model_proto: bytes | None = None, source: str = "<bytes>",
                 max_chars: int = DEFAULT_MAX_CHARS) -> None:
        import sentencepiece as spm

        if model_proto is None:  # TextTokenizer(): the bundled model (default() returns one shared object of it)
            model_proto, source = _bundled_model().read_bytes(), str(DEFAULT_TEXT_MODEL)

        if not isinstance(max_chars, int) or max_chars < 1:
            raise TextError(f"max_chars must be a positive int, got {max_chars!r}")
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(model_proto)
        except Exception as e:  # sentencepiece raises RuntimeError/OSError with its own text
            raise AssetError(f"{source} is not a SentencePiece model ({e}); pass a .model file such as "
                             f"Gemma's tokenizer.model") from None
        self.source = source
        self.max_chars = max_chars
        self.model_id = text_model_id(model_proto)
        self._space_bytes = self._byte_ids(_SP_SPACE.encode("utf-8"))

    def __repr__(self) -> str:
        return f"TextTokenizer(source={Path(self.source).name!r}, vocab_size={self.vocab_size}, model_id={self.model_id!r})"

    # --- construction -----------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path, max_chars: int = DEFAULT_MAX_CHARS) -> TextTokenizer:
        """Load any SentencePiece ``.model`` file (for example Gemma's ``tokenizer.model``)."""
        path = Path(path)
        try:
            proto = path.read_bytes()
        except OSError as e:
            raise AssetError(f"cannot read text model {path}: {e.strerror}; give the path of a SentencePiece "
                             f".model file") from None
        return cls(proto, source=str(path), max_chars=max_chars)

    @classmethod
    def default(cls) -> TextTokenizer:
        """The bundled 32k multilingual model (cached: every call returns the same object)."""
        return _default_tokenizer()

    # --- the common face --------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of text pieces (ids ``0 .. vocab_size - 1``)."""
        return self._sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        """Text -> piece ids (local text ids, ``0 <= id < vocab_size``)."""
        self._check(text)
        if _SP_SPACE not in text:
            return self._sp.encode(text)
        ids: list[int] = []
        for i, part in enumerate(text.split(_SP_SPACE)):
            if i:
                ids += self._space_bytes
            if part:
                ids += self._sp.encode(part)
        return ids

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Piece ids -> text; exact inverse of :meth:`encode`."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        ids = list(ids)
        if ids and (min(ids) < 0 or max(ids) >= self.vocab_size):
            bad = min(ids) if min(ids) < 0 else max(ids)
            raise VocabError(f"text id {bad} is outside the text model's range [0, {self.vocab_size}) "
                             f"({self.source})")
        return self._sp.decode(ids)

    def num_tokens(self, text: str) -> int:
        """THE text token count: ``len(encode(text))``."""
        return len(self.encode(text))

    def min_tokens(self, text: str) -> int:
        """A lower bound of :meth:`num_tokens` without tokenizing: the text's UTF-8 bytes over the most bytes one
        piece spells. Cheap (no pieces are made), so text far past a context limit is refused before it costs
        memory."""
        return -(-len(text.encode("utf-8", "surrogatepass")) // self._max_piece_bytes)

    @functools.cached_property
    def _max_piece_bytes(self) -> int:
        return max(len(self._sp.id_to_piece(i).encode("utf-8")) for i in range(self.vocab_size))

    def pieces(self, text: str) -> list[str]:
        """The pieces of :meth:`encode`, as strings (``"▁the"``, ``"<0xE2>"``...), for display."""
        return [self._sp.id_to_piece(i) for i in self.encode(text)]

    def id_to_piece(self, token_id: int) -> str:
        return self._sp.id_to_piece(int(token_id))

    # --- unified vocabulary and sequences ---------------------------------------------------------------
    @property
    def vocab(self) -> Vocab:
        """The unified vocabulary built on this text model, with mmtok's image codes (an attribute, as
        ``MultimodalTokenizer.vocab``; another number of codes: :meth:`make_vocab`)."""
        return self.make_vocab()

    def make_vocab(self, image_codes: int | None = None) -> Vocab:
        """The unified vocabulary built on this text model (``image_codes`` defaults to mmtok's)."""
        if image_codes is None:
            return Vocab(text_size=self.vocab_size, text_model=self.model_id)
        return Vocab(text_size=self.vocab_size, image_codes=image_codes, text_model=self.model_id)

    def segment(self, tokens: Sequence[int] | torch.Tensor, vocab: Vocab | None = None,
                source: str | None = None) -> Segment:
        """A text segment of piece ids (from :meth:`encode`) for :func:`mmtok.pack`; text ids are unified ids
        (they come first in the layout). ``vocab``, if given, must be built on this text model."""
        if isinstance(tokens, str):
            raise TextError("segment takes the ids of encode(text), not the text; call tok.segment(tok.encode(text))")
        ids = torch.as_tensor(tokens, dtype=torch.int64).reshape(-1)
        if vocab is not None and vocab.text_model and vocab.text_model != self.model_id:
            raise VocabError(f"the vocabulary is built on text model {vocab.text_model}, not on {self.source} "
                             f"({self.model_id})")
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise VocabError(f"text ids must lie in [0, {self.vocab_size}) ({self.source})")
        return Segment(Modality.TEXT, ids, sequential_positions(len(ids)), meta=TextMeta(source=source))

    def from_segment(self, segment: Segment, vocab: Vocab | None = None) -> list[int]:
        """The piece ids of a text segment (inverse of :meth:`segment`)."""
        if segment.modality != Modality.TEXT:
            raise VocabError(f"expected a text segment, got {segment.modality.label}")
        return segment.input_ids.tolist()

    def segment_length(self, text: str) -> int:
        """Tokens of the text's segment: :meth:`num_tokens` (text has no markers)."""
        return self.num_tokens(text)

    def provenance_table(self, segment: Segment, vocab: Vocab | None = None) -> dict[str, torch.Tensor]:
        """``chars``: each piece's [start, end) character span in the segment's text (a byte-fallback piece that
        is part of a multi-byte character points at that whole character)."""
        table = empty_provenance(len(segment))
        table["chars"] = self.char_spans(segment.input_ids)
        return table

    def char_spans(self, ids: torch.Tensor) -> torch.Tensor:
        """int64 [n, 2]: the character span of each piece id within the text the ids decode to."""
        nbytes = []
        for p in (self.id_to_piece(i) for i in ids.tolist()):
            if len(p) == 6 and p.startswith("<0x") and p.endswith(">"):
                nbytes.append(1)
            else:
                nbytes.append(len(p.replace(_SP_SPACE, " ").encode("utf-8")))
        text = self.decode(ids)
        byte_to_char = []
        for ci, ch in enumerate(text):
            byte_to_char += [ci] * len(ch.encode("utf-8"))
        byte_to_char.append(len(text))
        out, b = [], 0
        for n in nbytes:
            start = byte_to_char[min(b, len(byte_to_char) - 1)]
            end = byte_to_char[min(b + n - 1, len(byte_to_char) - 1)] + 1 if n else start
            out.append((start, min(end, len(text))))
            b += n
        return torch.tensor(out, dtype=torch.int64).reshape(-1, 2)

    # --- helpers ----------------------------------------------------------------------------------------
    def _byte_ids(self, data: bytes) -> list[int]:
        ids = [self._sp.piece_to_id(f"<0x{b:02X}>") for b in data]
        if any(self._sp.id_to_piece(i) != f"<0x{b:02X}>" for i, b in zip(ids, data)):
            raise AssetError(f"text model {self.source} has no byte-fallback pieces, so it cannot encode every "
                             f"string losslessly; train it with byte_fallback=True")
        return ids

    def _check(self, text: str) -> None:
        if not isinstance(text, str):
            raise TextError(f"text must be a str, got {type(text).__name__}; decode bytes first "
                            f"(e.g. data.decode('utf-8'))")
        if len(text) > self.max_chars:
            raise TextError(f"text of {len(text):,} characters exceeds max_chars={self.max_chars:,}; split it "
                            f"or create the tokenizer with a larger max_chars")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise TextError(f"text holds a lone surrogate {text[e.start]!r} at index {e.start}, which is not "
                            f"Unicode text; fix the source (e.g. read it with errors='replace')") from None


def _bundled_model() -> Path:
    if not DEFAULT_TEXT_MODEL.is_file():
        raise AssetError(f"the bundled text model {DEFAULT_TEXT_MODEL} is missing; reinstall mmtok or rebuild "
                         f"it with 'mmtok train-text'")
    return DEFAULT_TEXT_MODEL


@functools.lru_cache(maxsize=1)
def _default_tokenizer() -> TextTokenizer:
    return TextTokenizer.from_file(_bundled_model())


def _for_segment(segment: Segment, vocab: Vocab) -> TextTokenizer:
    """The bundled model, when the sequence was made with it; else the caller must pass its tokenizer."""
    tok = TextTokenizer.default()
    if vocab.text_model and tok.model_id != vocab.text_model:
        raise VocabError(f"the sequence's text model is {vocab.text_model}, not the bundled one; pass its "
                         f"TextTokenizer (text_tokenizer=...)")
    return tok


register_segment_tokenizer(Modality.TEXT, _for_segment)
