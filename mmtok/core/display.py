"""How a :class:`~mmtok.TokenSequence` shows itself in a notebook. The core layer holds the hook; the drawing
lives above it (:mod:`mmtok.multimodal.notebook` registers its HTML when ``mmtok`` is imported), so
``TokenSequence._repr_html_`` works without core importing the layers that draw."""

from __future__ import annotations

import html as _html
from collections.abc import Callable
from typing import Any

__all__ = ["register_html", "html"]

_RENDERERS: list[Callable[[Any], str]] = []


def register_html(fn: Callable[[Any], str]) -> Callable[[Any], str]:
    """Make ``fn(seq) -> str`` the notebook view of every sequence (the last registered wins)."""
    _RENDERERS[:] = [fn]
    return fn


def html(seq: Any) -> str:
    """The registered notebook view of ``seq``; the span table as preformatted text when none is registered."""
    if _RENDERERS:
        return _RENDERERS[0](seq)
    return f"<pre>{_html.escape(seq.table())}</pre>"
