"""The ``mmtok`` argument parser: every option and positional with its help, every option with its default, and
every name option (--layout, --model, --models) with its choices."""

from __future__ import annotations

import argparse

from .._version import __version__
from ..core.sequence import DEFAULT_MAX_LENGTH
from . import commands
from .tokenize import DEFAULT_LAYOUT, cmd_tokenize

__all__ = ["HelpFormatter", "build_parser", "PASS_THROUGH"]

PASS_THROUGH = ("demo", "train-text", "train-vq")  # commands that parse their own options

TOKENIZE_ABOUT = """\
Tokenize files and text into one sequence in mmtok's layout and print a table of its spans (or, with --model,
how that model sees them).

An ITEM is a file of any modality, recognised by its content (text, image, video, audio), or literal text.
Start an ITEM with text: to make it literal text whatever it looks like: text:photo.jpg is the word
"photo.jpg". A word with a slash or a dot that names no file (and/or, N/A, TCP/IP, v1.2) is tokenized as text,
with a note on stderr; a name with a picture, clip, sound or text extension (photo.jpg, clip.mp4, notes.txt) or a
path starting with / ./ ../ ~/ that names no file is an error, so a typo never becomes a prompt.

A FOLDER as the only ITEM tokenizes every file under it (recursive, sorted by path), each file its own sequence:
one line per file (tokens, modality, path) under a progress bar, --table for each file's table, --json for one
JSON line per file, --save OUT for one saved sequence per file (OUT/<path in FOLDER>/manifest.json). A file that
fails is reported on stderr and the others go on; the exit status is then 1.

Bad input prints one line "mmtok: error: ..." on stderr and exits with status 2."""

ITEM_HELP = "a file (its modality sniffed from its content), literal text, or text:TEXT for text that looks like a path"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; each option's help ends with its default, "(default: off)" for a flag, unless the
    help says the default itself (an option whose default is None must)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text or action.default in (None, argparse.SUPPRESS):
            return text
        return f"{text} (default: {'off' if action.default is False else '%(default)s'})"


def _layouts() -> list[str]:
    from ..multimodal.tokenizer import LAYOUTS

    return LAYOUTS.list()


def _model_names() -> list[str]:
    from ..models import list_models

    return list_models()


def _budget_rows() -> list[str]:
    from ..multimodal.budget import budget_models

    return budget_models()


def _layout_option(p: argparse.ArgumentParser, what: str = "mmtok's layout preset") -> None:
    p.add_argument("--layout", metavar="NAME", default=DEFAULT_LAYOUT, help=f"{what}, one of: {', '.join(_layouts())}")


def _add_tokenize(sub) -> None:
    t = sub.add_parser("tokenize", help="tokenize files, text or a folder and print a table per span",
                       description=TOKENIZE_ABOUT, formatter_class=HelpFormatter)
    t.add_argument("items", nargs="+", metavar="ITEM", help=ITEM_HELP + "; or one FOLDER alone")
    _layout_option(t)
    t.add_argument("--model", metavar="NAME", help="show how model NAME sees the input instead of mmtok's layout: its "
                   "counts and the tensors of its processor; one of: " + ", ".join(_model_names()) +
                   " (default: none, mmtok's layout)")
    t.add_argument("--codes", action="store_true", help="images as VQ codes (to write them) instead of ViT patches")
    t.add_argument("--with-sound", action="store_true", help="read each clip's sound track with its frames, "
                   "interleaved by time (mmtok.Video(path, audio=True)); a clip without one is read as frames only")
    t.add_argument("--json", action="store_true", help="print the manifest (with --model: the counts and tensor "
                   "shapes; with a FOLDER: one line per file) as JSON instead of the table")
    t.add_argument("--save", metavar="DIR", help="write manifest.json (+ features.safetensors) to DIR; with a FOLDER: "
                   "one such folder per file, DIR/<path in FOLDER>/; with --model: counts.json, inputs.safetensors "
                   "(the processor's tensors) and sequence/ (the model's TokenSequence) (default: print only)")
    t.add_argument("--max-length", type=int, metavar="N", default=DEFAULT_MAX_LENGTH, help="the context limit in "
                   "tokens")
    t.add_argument("--truncate", action="store_true", help="drop whole spans past the context limit (recorded) "
                   "instead of an error")
    t.add_argument("--table", action="store_true", help="with a FOLDER: print each file's span table under its line")
    t.add_argument("--png", metavar="FILE", help="also draw the sequence into the PNG FILE: the token timeline (width "
                   "per token, coloured by modality) and one row per span with a picture of it (default: none)")
    t.set_defaults(func=cmd_tokenize)


def _add_budget(sub) -> None:
    b = sub.add_parser("budget", help="token counts of the same input under mmtok and other models",
                       formatter_class=HelpFormatter, description="The same prompt counted by mmtok's layout and by "
                       "each model's processor: one row per model, one column per modality.")
    b.add_argument("items", nargs="+", metavar="ITEM", help=ITEM_HELP)
    b.add_argument("--models", metavar="A,B,...", default="", help="comma-separated rows, from: " +
                   ", ".join(_budget_rows()) + " (default: all of them)")
    _layout_option(b, "the layout the mmtok row counts")
    b.add_argument("--with-sound", action="store_true", help="count each clip's sound track with its frames in every "
                   "row (mmtok.Video(path, audio=True)). gemini-api always counts a clip's sound (its 263 tokens per "
                   "second cover both), so give this to compare like with like; a model that cannot read a clip's "
                   "sound then lists the clip as not supported, and a clip without a sound track counts as frames "
                   "only")
    b.set_defaults(func=commands.cmd_budget)


def _add_decode(sub) -> None:
    d = sub.add_parser("decode", help="write the contents of a saved sequence back to files",
                       formatter_class=HelpFormatter)
    d.add_argument("dir", metavar="DIR", help="a folder written by mmtok tokenize --save (manifest.json, "
                   "features.safetensors)")
    d.add_argument("--out", metavar="DIR", help="where to write .txt, .png, frame folders and .wav files "
                   "(default: DIR/decoded)")
    _layout_option(d, "the layout the sequence was tokenized with")
    d.set_defaults(func=commands.cmd_decode)


def _add_dataset(sub) -> None:
    ds = sub.add_parser("dataset", help="tokenize a corpus on Ray Data into Parquet shards (needs mmtok[scale])",
                        formatter_class=HelpFormatter, description="Tokenize a corpus on Ray Data into Parquet "
                        "shards under OUTPUT, resumable. Ray's own log lines go to OUTPUT/" + commands.RAY_LOG +
                        ", not the terminal.")
    ds.add_argument("input", metavar="INPUT", help="a folder tree, or a .jsonl / .parquet manifest of contents")
    ds.add_argument("output", metavar="OUTPUT", help="a new folder, or that of an earlier run to resume")
    ds.add_argument("--address", help="join this Ray cluster, ray://HOST:10001 or HOST:6379 (default: start Ray on "
                    "this machine's cores)")
    ds.add_argument("--shard-size", type=int, metavar="N", help="corpus rows per shard (default: 256, "
                    "CorpusConfig's)")
    ds.add_argument("--workers", type=int, metavar="N", help="tokenizer actors, one CPU each (default: every CPU)")
    ds.add_argument("--batch-size", type=int, metavar="N", help="rows per map_batches call (default: 4, "
                    "CorpusConfig's)")
    _layout_option(ds)
    ds.add_argument("--truncate", action="store_true", help="drop whole spans past the context limit (recorded) "
                    "instead of an error row")
    ds.set_defaults(func=commands.cmd_dataset)


def _add_roundtrip(sub) -> None:
    r = sub.add_parser("roundtrip", help="print the round-trip report for a file's modality",
                       formatter_class=HelpFormatter)
    r.add_argument("file", metavar="FILE", help="a text, picture, clip or sound file (sniffed from its content)")
    _layout_option(r)
    r.add_argument("--with-sound", action="store_true", help="for a clip: add its sound track's round trip ("
                   "\"sound\": tokens and mel distance), the tokens the clip read with its sound carries")
    r.add_argument("--through-decoder", action="store_true",
                   help="train the tiny decoder to write the picture's VQ codes, then generate them back")
    r.add_argument("--out", metavar="PNG", help="with --through-decoder: save the regenerated picture here "
                   "(default: not saved)")
    r.add_argument("--image-size", type=int, metavar="N", help="with --through-decoder: VQ-encode the picture at "
                   "N x N (a multiple of 8; default: 256 = 32x32 codes); 64 = 8x8 codes, a check in seconds")
    r.set_defaults(func=commands.cmd_roundtrip)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="mmtok", description="Multimodal tokenization playground.",
                                 formatter_class=HelpFormatter)
    ap.add_argument("--version", action="version", version=f"mmtok {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_tokenize(sub)
    _add_budget(sub)
    _add_decode(sub)
    _add_dataset(sub)
    _add_roundtrip(sub)
    dm = sub.add_parser("demo", help="run the Gradio demo (mmtok demo --help: its options and limits)", add_help=False)
    dm.add_argument("rest", nargs=argparse.REMAINDER, help="options of the demo (demos/app.py)")
    dm.set_defaults(func=commands.cmd_demo)
    for name, module, helptext in (("train-text", "training.text", "rebuild the bundled SentencePiece model"),
                                   ("train-vq", "training.vq", "train the VQ image tokenizer")):
        p = sub.add_parser(name, help=f"{helptext} (mmtok {name} --help: its options)", add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER, help=f"options of mmtok.{module}")
        p.set_defaults(func=commands.cmd_train(module))
    return ap
