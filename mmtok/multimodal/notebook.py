"""A :class:`~mmtok.TokenSequence` in a notebook: ``seq`` alone in a Jupyter cell, or ``mmtok.show(seq)``.

The HTML holds the timeline (one strip, width proportional to tokens, each span coloured by modality; hovering
a span names it), the span table with a small picture of each span (the processed picture, a clip's frames, a
mel thumbnail, a VQ code map: :func:`mmtok.multimodal.explain.span_thumbnail`) and the text spans coloured token
by token as tokenizer playgrounds do (alternating colours, whitespace shown as ``·`` and ``↵``, byte-fallback
pieces boxed). Pictures are inline PNGs, so the page needs nothing else. :func:`register` makes it
``TokenSequence._repr_html_`` (through :mod:`mmtok.core.display`, which the core layer owns).
"""

from __future__ import annotations

import base64
import html
import io

from PIL import Image as PILImage

from ..core import display
from ..core.sequence import TokenSequence
from ..core.table import summary
from ..text import TextTokenizer
from . import pictures
from .explain import source_label, span_thumbnail, text_pieces

__all__ = ["Html", "show", "sequence_html", "text_html"]

_TEXT_SHADES = ("#dbe8f5", "#f9e0c7", "#d9efd5", "#f3d6e4", "#e6e0f3")  # alternating token backgrounds


class Html(str):
    """HTML that shows itself in Jupyter (``_repr_html_``) and is a plain ``str`` everywhere else."""

    def _repr_html_(self) -> str:
        return str(self)


def _png(img: PILImage.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}" style="max-width:100%">'


def _strip(seq: TokenSequence) -> str:
    n = max(len(seq), 1)
    cells = []
    for k, span in enumerate(seq.spans):
        title = (f"span {k}: {span.modality.label}{' + sound' if span.sound_features else ''}, {span.length:,} "
                 f"tokens ({span.start:,}–{span.end - 1:,}), {source_label(span.meta.source)}")
        color = pictures.MODALITY_COLORS[span.modality.label]
        cells.append(f'<div title="{html.escape(title)}" style="flex:{span.length / n:.6f} 0 0;min-width:1px;'
                     f'background:{color};border-right:1px solid white"></div>')
    return '<div style="display:flex;height:18px;width:100%;margin:4px 0">' + "".join(cells) + "</div>"


def text_html(seq: TokenSequence, k: int, text_tokenizer: TextTokenizer | None = None, limit: int = 300) -> str:
    """Text span ``k`` as HTML, token by token: alternating backgrounds, spaces as ``·``, line breaks as ``↵``,
    byte-fallback pieces outlined; at most ``limit`` tokens, the rest counted."""
    out = []
    for j, (piece, byte) in enumerate(text_pieces(seq, k, text_tokenizer)[:limit]):
        shown = html.escape(piece).replace(" ", "·").replace("\n", "↵<br>") or "&#8203;"
        style = f"background:{_TEXT_SHADES[j % len(_TEXT_SHADES)]};padding:0 1px"
        if byte:
            style += ";outline:1px dashed #c62828"
        out.append(f'<span style="{style}" title="token {j}{" (byte fallback)" if byte else ""}">{shown}</span>')
    more = seq.spans[k].length - limit
    return "".join(out) + (f" <i>… {more:,} more tokens</i>" if more > 0 else "")


def sequence_html(seq: TokenSequence, text_tokenizer: TextTokenizer | None = None, max_spans: int = 60,
                  max_text_tokens: int = 300) -> str:
    """The notebook view of ``seq`` as one HTML string (see the module docstring); at most ``max_spans`` rows and
    ``max_text_tokens`` coloured tokens per text span, the rest counted."""
    rows = []
    for k, span in enumerate(seq.spans[:max_spans]):
        label = span.modality.label + (" + sound" if span.sound_features else "")
        if span.modality.label == "text":
            what = text_html(seq, k, text_tokenizer, max_text_tokens)
        else:
            thumb = span_thumbnail(seq, k)
            what = _png(thumb) if thumb is not None else ""
        color = pictures.MODALITY_COLORS[span.modality.label]
        rows.append(f'<tr><td>{k}</td><td><span style="color:{color}">■</span> {html.escape(label)}</td>'
                    f'<td style="text-align:right">{span.length:,}</td>'
                    f'<td>{html.escape(source_label(span.meta.source))}</td><td style="text-align:left">{what}</td></tr>')
    more = len(seq.spans) - max_spans
    if more > 0:
        rows.append(f'<tr><td colspan="5"><i>… {more:,} more spans</i></td></tr>')
    head = "<tr><th>span</th><th>modality</th><th>tokens</th><th>source</th><th>content</th></tr>"
    return (f'<div class="mmtok-sequence"><div><b>{html.escape(summary(seq))}</b></div>{_strip(seq)}'
            f'<table style="border-collapse:collapse">{head}{"".join(rows)}</table></div>')


def show(seq: TokenSequence, text_tokenizer: TextTokenizer | None = None) -> Html:
    """The notebook view of ``seq`` (what ``seq`` alone in a Jupyter cell shows): ``IPython.display.display``
    shows it, and it is a ``str`` of HTML to save or embed."""
    if not isinstance(seq, TokenSequence):
        from ..errors import InputError

        raise InputError(f"mmtok.show takes a TokenSequence, got {type(seq).__name__}; tokenize first: "
                         f"mmtok.show(tok([...]))")
    return Html(sequence_html(seq, text_tokenizer))


display.register_html(sequence_html)
