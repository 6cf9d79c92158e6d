"""The mmtok error hierarchy.

Every error mmtok raises at its API boundary is a subclass of :class:`MmtokError`, so a caller can catch one
type. Each subclass also derives from the closest builtin (``ValueError``, ``FileNotFoundError``, ...) so code
written against the builtins keeps working. Messages name the bad input and say what to change.
"""

from __future__ import annotations

__all__ = [
    "MmtokError",
    "MmtokWarning",
    "ConfigError",
    "InputError",
    "DecodeError",
    "LimitError",
    "TextError",
    "VocabError",
    "SequenceError",
    "ContextLengthError",
    "ManifestError",
    "AssetError",
    "UnknownNameError",
]


class MmtokError(Exception):
    """Root of every error mmtok raises on purpose."""


class ConfigError(MmtokError, ValueError):
    """A config or preset value is invalid (raised at construction, not deep inside ``encode``)."""


class InputError(MmtokError, ValueError):
    """An input (file, bytes, tensor, string) cannot be tokenized as given."""


class DecodeError(InputError):
    """A media file is corrupt, truncated or of an unsupported format."""


class LimitError(InputError):
    """An input exceeds a configured limit (pixels, duration, frames, characters); the message names the limit
    and the option that raises it. Nothing is cut to fit."""


class TextError(InputError):
    """A string cannot be tokenized (for example it holds a lone surrogate)."""


class VocabError(MmtokError, ValueError):
    """An id lies outside the unified vocabulary, or a kind/local id pair does not exist."""


class SequenceError(MmtokError, ValueError):
    """Segments or a TokenSequence are inconsistent (ids, features, positions or spans disagree)."""


class ContextLengthError(SequenceError):
    """A sequence is longer than its context limit (or a document longer than a packed row)."""


class ManifestError(SequenceError):
    """A saved manifest or its features file is malformed, tampered with, or points outside its folder."""


class AssetError(MmtokError, FileNotFoundError):
    """A bundled or user-given model file is missing or unreadable."""


class UnknownNameError(ConfigError, KeyError):
    """A name that no registry entry has (a layout, preset or model); the message lists the names there are.
    Also a ``KeyError``, so registries behave as mappings (``name in registry``, ``registry.get(name)``)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class MmtokWarning(UserWarning):
    """Every warning mmtok gives (something done as asked that may not be what was meant) is a subclass of this."""
