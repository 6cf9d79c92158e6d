"""The ``mmtok`` command line: a thin shell over the library.

    mmtok tokenize ITEM... [--json] [--save DIR] [--max-length N] [--truncate]
    mmtok train-text [--cache DIR] [--out DIR]
    mmtok train-vq [--preset vq-f8-4096] [--steps N] [--time-limit S] [--work DIR] [--export PATH]

An ITEM is a path to a file of any modality (sniffed from its content; default configs) or literal text. Text
that looks like a path (``photo.jpg``, ``a/b``) but names no file is refused, so a typo never becomes a text
prompt; prefix literal text with ``text:`` to force it.
Bad input prints one line ``mmtok: error: ...`` on stderr and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from .errors import InputError, MmtokError
from .sequence import DEFAULT_MAX_LENGTH, Segment, TokenSequence, pack
from .files import file_segment
from .text import TextTokenizer

__all__ = ["main", "tokenize_items", "summary_table"]

_PATHLIKE = re.compile(r"^(\S*/\S*|\S+\.[A-Za-z0-9]{1,5})$")  # a/b or name.ext, no whitespace


def tokenize_items(items: list[str], max_length: int = DEFAULT_MAX_LENGTH, truncate: bool = False) -> TokenSequence:
    """Each item (a file of any modality, or literal text) becomes one segment, in order."""
    text = TextTokenizer.default()
    vocab = text.vocab()
    segments: list[Segment] = []
    for item in items:
        if item.startswith("text:"):
            segments.append(text.segment(item[5:], source="<argument>"))
            continue
        path = Path(item)
        if path.is_dir():
            raise InputError(f"{item} is a folder; give files (or text)")
        if path.is_file():
            segments.append(file_segment(path, vocab))
        elif _PATHLIKE.match(item):
            raise InputError(f"no such file: {item}; to tokenize it as literal text, write text:{item}")
        else:
            segments.append(text.segment(item, source="<argument>"))
    return pack(segments, vocab, max_length=max_length, truncate=truncate)


def summary_table(seq: TokenSequence) -> str:
    """A readable table: one row per span (modality, tokens, shape, seconds, source) and the total."""
    rows = [("#", "modality", "tokens", "shape", "seconds", "source")]
    for i, span in enumerate(seq.spans):
        meta = span.meta
        grid = meta.get("grid")
        shape = "x".join(str(g) for g in grid) if isinstance(grid, list) else "-"
        if shape != "-" and meta.get("num_frames"):
            shape = f"{meta['num_frames']}x{shape}"
        if shape != "-" and meta.get("blocks", 1) > 1:
            shape = f"{meta['blocks']}x{shape}"
        seconds = f"{meta['duration']:.2f}" if isinstance(meta.get("duration"), (int, float)) else "-"
        rows.append((str(i), span.modality.label, str(span.length), shape, seconds, str(meta.get("source", "-"))))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if c in (1, 5) else cell.rjust(w) for c, (cell, w) in
                       enumerate(zip(r, widths))).rstrip() for r in rows]
    lines.append(f"total: {len(seq):,} tokens, {len(seq) / seq.max_length:.2%} of a {seq.max_length:,}-token context")
    if seq.truncation:
        t = seq.truncation
        lines.append(f"truncated: {t['original_length']:,} tokens in {t['original_segments']} segments; kept "
                     f"{t['kept_segments']} segments")
    return "\n".join(lines)


def _cmd_tokenize(args: argparse.Namespace) -> int:
    seq = tokenize_items(args.items, args.max_length, args.truncate)
    if args.save:
        seq.save(args.save)
    if args.json:
        print(json.dumps(seq.to_manifest(), ensure_ascii=False))
    else:
        print(summary_table(seq))
        if args.save:
            print(f"saved to {args.save}")
    return 0


def _cmd_train_text(args: argparse.Namespace) -> int:
    from . import text_train

    return text_train.main(args.rest)


def _cmd_train_vq(args: argparse.Namespace) -> int:
    from . import vq_train

    return vq_train.main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="mmtok", description="Multimodal tokenization playground.")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tokenize", help="tokenize files or text and print a table per span")
    t.add_argument("items", nargs="+", metavar="ITEM", help="a file path or literal text")
    t.add_argument("--json", action="store_true", help="print the manifest as JSON instead of the table")
    t.add_argument("--save", metavar="DIR", help="write manifest.json (+ features.safetensors) to DIR")
    t.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH, help="context limit (default 32768)")
    t.add_argument("--truncate", action="store_true", help="drop whole spans past the context limit (recorded)")
    t.set_defaults(func=_cmd_tokenize)
    tt = sub.add_parser("train-text", help="rebuild the bundled SentencePiece model from Debian docs",
                        add_help=False)
    tt.add_argument("rest", nargs=argparse.REMAINDER)
    tt.set_defaults(func=_cmd_train_text)
    tv = sub.add_parser("train-vq", help="train the VQ image tokenizer on openly licensed photos", add_help=False)
    tv.add_argument("rest", nargs=argparse.REMAINDER)
    tv.set_defaults(func=_cmd_train_vq)
    return ap


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MmtokError as e:
        print(f"mmtok: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mmtok: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
