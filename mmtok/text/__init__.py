"""Text tokens: SentencePiece pieces, lossless for every Unicode string."""

from .tokenizer import DEFAULT_MAX_CHARS, DEFAULT_TEXT_MODEL, TextTokenizer

__all__ = ["TextTokenizer", "DEFAULT_TEXT_MODEL", "DEFAULT_MAX_CHARS"]
