"""The ``mmtok`` command line: a thin shell over the library (``mmtok COMMAND --help`` for each command).

    mmtok --version
    mmtok tokenize ITEM... [--layout NAME] [--codes] [--with-sound] [--json] [--save DIR] [--max-length N] [--truncate]
    mmtok tokenize FOLDER [--table] [--json] [--save OUT] [...]      every file under FOLDER, one sequence each
    mmtok tokenize --model NAME ITEM... [--with-sound] [--json] [--save DIR]
    mmtok budget ITEM... [--models a,b,...] [--layout NAME] [--with-sound]
    mmtok decode DIR [--out DIR]
    mmtok dataset INPUT OUTPUT [--address ADDR] [--shard-size N] [--workers N] [--batch-size N] [--layout NAME]
    mmtok roundtrip FILE [--with-sound] [--through-decoder [--out PNG] [--image-size N]]
    mmtok demo [--port P] [--host H] [--share] [--max-upload-mb N] [--max-media-seconds S] ...
    mmtok train-text [--cache DIR] [--out DIR]
    mmtok train-vq [--preset vq-f8-4096] [--steps N] [--time-limit S] [--work DIR] [--export PATH]

An ITEM is a path to a file of any modality (sniffed from its content) or literal text (:mod:`mmtok.cli.items`
has the rule between them; ``text:`` forces text). Bad input prints one line ``mmtok: error: ...`` on stderr, in
command-line words (:mod:`mmtok.cli.words`), and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import MmtokError
from .items import items_to_contents
from .parser import PASS_THROUGH, build_parser
from .tokenize import summary_table
from .words import cli_words

__all__ = ["main", "build_parser", "items_to_contents", "summary_table", "cli_words"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if argv and argv[0] in PASS_THROUGH:  # argparse's REMAINDER would not take options like --port
        args = argparse.Namespace(rest=argv[1:], func=parser.parse_args(argv[:1]).func)
    else:
        args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MmtokError as e:
        print(f"mmtok: error: {cli_words(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mmtok: interrupted", file=sys.stderr)
        return 130
