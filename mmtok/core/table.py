"""What a sequence holds, for people: the span table (``TokenSequence.table()``, printed by ``mmtok tokenize``) and
the one-line summary that is its ``repr``."""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["span_table", "summary"]


def span_table(seq: Any) -> str:
    """One row per span (modality, tokens, shape, seconds, source) and the total; a clip with its sound is one
    ``video+audio`` row."""
    rows = [("#", "modality", "tokens", "shape", "seconds", "source")]
    for i, span in enumerate(seq.spans):
        meta = span.meta
        grid = getattr(meta, "grid", None)
        shape = "x".join(str(g) for g in grid) if grid is not None else "-"
        if shape != "-" and getattr(meta, "num_frames", 0):
            shape = f"{meta.num_frames}x{shape}"
        if shape != "-" and getattr(meta, "blocks", 1) > 1:
            shape = f"{meta.blocks}x{shape}"
        seconds = f"{meta.duration:.2f}" if hasattr(meta, "duration") else "-"
        source = meta.source or ("<bos>" if span.modality.label == "control" else "<text>")
        label = span.modality.label + ("+audio" if span.sound_features else "")
        rows.append((str(i), label, str(span.length), shape, seconds, str(source)))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if c in (1, 5) else cell.rjust(w) for c, (cell, w) in
                       enumerate(zip(r, widths))).rstrip() for r in rows]
    lines.append(f"total: {len(seq):,} tokens, {len(seq) / seq.max_length:.2%} of a {seq.max_length:,}-token context")
    if seq.truncation:
        t = seq.truncation
        lines.append(f"truncated: {t['original_length']:,} tokens in {t['original_segments']} segments; kept "
                     f"{t['kept_segments']} segments")
    return "\n".join(lines)


def summary(seq: Any) -> str:
    """``TokenSequence(405 tokens, 1.24% of 32,768; spans: control 1, text 2 (14 tokens), image 1 (198), ...)``."""
    spans: Counter = Counter()
    tokens: Counter = Counter()
    for span in seq.spans:
        label = span.modality.label + ("+audio" if span.sound_features else "")
        spans[label] += 1
        tokens[label] += span.length
    parts = ", ".join(f"{label} {spans[label]} ({tokens[label]:,})" for label in spans)
    cut = "; truncated" if seq.truncation else ""
    return (f"TokenSequence({len(seq):,} tokens, {len(seq) / seq.max_length:.2%} of {seq.max_length:,}; spans (tokens): "
            f"{parts}{cut})")
