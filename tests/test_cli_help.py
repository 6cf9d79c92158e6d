"""The command line explains itself: --version, help and defaults for every option, the choices of every name
option, unknown names as one typed line, words with a slash or a dot as text, and library advice in the flags'
words. In-process (``main`` prints as the command does): no subprocess."""

import argparse
import importlib.metadata
import json
import struct
import zlib

import pytest

import mmtok
from mmtok.cli import build_parser, main
from mmtok.core.sequence import DEFAULT_MAX_LENGTH
from mmtok.errors import UnknownNameError
from mmtok.multimodal.budget import budget_models

COMMANDS = ("tokenize", "budget", "decode", "dataset", "roundtrip", "demo", "train-text", "train-vq")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    return next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


def _help(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    return "".join(capsys.readouterr().out.split())  # argparse wraps lines, even at a hyphen


def test_version_is_the_installed_distribution(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"mmtok {importlib.metadata.version('mmtok')}\n"


def test_every_option_and_positional_has_help_and_every_option_its_default():
    subs = _subcommands()
    assert tuple(subs) == COMMANDS
    for name, parser in subs.items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, (name, action.dest)
            if action.option_strings:  # an explicit "default ..." in the text, or the formatter's "(default: X)"
                assert "default" in formatter._get_help_string(action), (name, action.option_strings)
    assert mmtok.MultimodalTokenizer.default().layout.name == subs["tokenize"].get_default("layout")


def test_help_lists_the_choices_and_defaults(capsys):
    layouts, models, rows = mmtok.LAYOUTS.list(), mmtok.list_models(), budget_models()
    for command in ("tokenize", "budget", "decode", "dataset", "roundtrip"):
        text = _help(capsys, command)
        assert "--layoutNAME" in text and "oneof:" + ",".join(layouts) + "(default:gemini-like)" in text, command
    tokenize = _help(capsys, "tokenize")
    assert "oneof:" + ",".join(models) in tokenize  # --model
    assert f"(default:{DEFAULT_MAX_LENGTH})" in tokenize and "--with-sound" in tokenize
    assert "text:photo.jpgistheword" in tokenize and "and/or,N/A,TCP/IP,v1.2" in tokenize  # the text: prefix
    budget = _help(capsys, "budget")
    assert "from:" + ",".join(rows) + "(default:allofthem)" in budget
    assert "gemini-apialwayscountsaclip'ssound" in budget  # --with-sound: like with like


@pytest.mark.parametrize("argv, flag, names", [
    (["tokenize", "--layout", "nope", "text:hi"], "--layout nope: unknown layout", mmtok.LAYOUTS.list()),
    (["tokenize", "--model", "gpt-9", "text:hi"], "--model gpt-9: unknown model", mmtok.list_models()),
    (["budget", "--models", "mmtok, gpt-9", "text:hi"], "--models gpt-9: unknown model", budget_models()),
    (["decode", "--layout", "nope", "."], "--layout nope: unknown layout", mmtok.LAYOUTS.list()),
])
def test_an_unknown_name_is_a_typed_error_listing_the_choices(capsys, argv, flag, names):
    args = build_parser().parse_args(argv)
    with pytest.raises(UnknownNameError):
        args.func(args)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err == f"mmtok: error: {flag}; choose one of: {', '.join(names)}\n"


def test_a_word_with_a_slash_or_dot_that_names_no_file_is_text_with_a_note(capsys):
    words = ["and/or", "N/A", "TCP/IP", "v1.2"]
    assert main(["tokenize", *words, "plain", "--json"]) == 0
    out, err = capsys.readouterr()
    manifest = json.loads(out)
    text = mmtok.TextTokenizer.default()
    assert [s["length"] for s in manifest["spans"][1:]] == [text.num_tokens(w) for w in [*words, "plain"]]
    assert err.splitlines() == [f"mmtok: note: no file is named {w!r}: tokenized as text (write text:{w} to say so)"
                                for w in words]  # "plain" has neither: no note


@pytest.mark.parametrize("item", ["photo.jpg", "clip.MP4", "notes/draft.txt", "speech.flac", "./draft", "~/a/b",
                                  "out/"])
def test_a_file_name_that_names_no_file_stays_an_error(capsys, item):
    """Typo protection: a known extension or a path's start or end is a missing file, not a prompt."""
    assert main(["tokenize", item]) == 2
    assert capsys.readouterr().err == (f"mmtok: error: no such file: {item}; to tokenize it as literal text, write "
                                       f"text:{item}\n")
    assert main(["tokenize", f"text:{item}", "--json"]) == 0 and capsys.readouterr().err == ""


def test_a_limit_without_a_flag_keeps_its_python_name_and_says_so(tmp_path, capsys):
    """A 12000x10000 PNG header (over mmtok's 100 M pixels, under PIL's own refusal at 179 M): the LimitError's
    "raise ImageConfig(max_pixels=...)" is Python; the CLI says it has no flag for it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 12000, 10000, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    with pytest.warns(Warning):  # PIL's DecompressionBombWarning (over its 89 M warning level)
        assert main(["tokenize", str(big)]) == 2
    err = capsys.readouterr().err
    assert "more than max_pixels=100,000,000" in err and err.endswith(
        "the mmtok command keeps the default limit; in Python, raise ImageConfig(max_pixels=...) if you trust the "
        "file\n"), err


def test_the_demo_flags_have_help_and_defaults(capsys):
    """``mmtok demo --help`` (demos/app.py's own parser): every flag explained, with its default."""
    with pytest.raises(SystemExit) as e:
        main(["demo", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    flags = ("--host", "--port", "--share", "--max-upload-mb", "--max-media-seconds", "--max-request-seconds",
             "--concurrency", "--queue-size")
    blocks = " ".join(out.split()).split(" --")[1:]  # one block per option, its help and default inside
    for flag in flags:
        block = next(b for b in blocks if b.startswith(flag[2:] + " ") or b.startswith(flag[2:]))
        assert "(default:" in block and len(block.split("(default:")[0].split()) > 3, block
