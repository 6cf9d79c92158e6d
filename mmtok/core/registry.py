"""One small registry helper for every kind of named preset (layouts, audio front ends, VQ models, model
processors): register a name once, look it up, list the names. A second registration of a name is an error; an
unknown name is an :class:`~mmtok.errors.UnknownNameError` that lists the names there are (timm's
``create_model`` registry, cut down)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from ..errors import ConfigError, UnknownNameError

__all__ = ["Registry"]

T = TypeVar("T")
_MISSING = object()


class Registry(Mapping[str, T], Generic[T]):
    """Named entries of one kind, in registration order. A read-only mapping: ``registry[name]`` (or
    :meth:`get`) raises :class:`UnknownNameError` naming the choices, ``name in registry`` and iteration work as
    for a dict.

    Args:
        kind: what the entries are ("layout", "audio preset", ...), for messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name`` and return it; a name already taken raises ``ConfigError``."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a {self.kind} name must be a non-empty str, got {name!r}")
        if name in self._entries:
            raise ConfigError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator("name")`` registers the decorated object."""
        return lambda entry: self.register(name, entry)

    def list(self) -> list[str]:
        """The registered names, in registration order."""
        return [*self._entries]

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(f"unknown {self.kind} {name!r}; use one of: {', '.join(self._entries)}") from None

    def get(self, name: str, default: object = _MISSING) -> T:  # type: ignore[override]
        """The entry for ``name``; an unknown name raises :class:`UnknownNameError` unless a ``default`` is given."""
        if default is not _MISSING and (not isinstance(name, str) or name not in self._entries):
            return default  # type: ignore[return-value]
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
