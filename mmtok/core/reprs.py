"""Short reprs for configs and the objects built from them: only what differs from the defaults.

``ImageConfig()`` prints as ``ImageConfig()`` and ``ImageConfig(resize="dynamic")`` as
``ImageConfig(resize='dynamic')`` instead of twenty fields, so a tokenizer's repr says in one line how it is set
up (``ImageTokenizer(ImageConfig(resize='dynamic'))``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["short_repr"]


def short_repr(obj: Any) -> str:
    """``Name(field=value, ...)`` of a dataclass with only the fields that differ from their defaults (nested
    dataclasses the same way); anything else: its ``repr``."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return repr(obj)
    parts = []
    for f in dataclasses.fields(obj):
        if not f.repr:
            continue
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            parts.append(f"{f.name}={short_repr(value)}")
            continue
        if value != default:
            parts.append(f"{f.name}={short_repr(value)}")
    return f"{type(obj).__name__}({', '.join(parts)})"
