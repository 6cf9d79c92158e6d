"""``mmtok tokenize``: ITEMs into one sequence (or how a model sees them), or every file of a folder in turn."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.sequence import DEFAULT_MAX_LENGTH, TokenSequence
from ..errors import InputError, MmtokError, UnknownNameError
from .items import file_piece, folder_files, items_to_contents
from .words import cli_words

__all__ = ["DEFAULT_LAYOUT", "summary_table", "tokenizer", "check_name", "cmd_tokenize"]

DEFAULT_LAYOUT = "gemini-like"  # MultimodalTokenizer.default()'s layout


def summary_table(seq: TokenSequence) -> str:
    """The span table (:meth:`mmtok.TokenSequence.table`)."""
    return seq.table()


def check_name(flag: str, name: str, names: list[str], kind: str) -> str:
    """``name`` if it is one of ``names``, else an :class:`UnknownNameError` naming the flag and the choices."""
    if name not in names:
        raise UnknownNameError(f"{flag} {name}: unknown {kind}; choose one of: {', '.join(names)}")
    return name


def tokenizer(layout: str, max_length: int = DEFAULT_MAX_LENGTH):
    """The ``MultimodalTokenizer`` of ``--layout`` with ``--max-length``."""
    from dataclasses import replace

    from ..multimodal.tokenizer import LAYOUTS, MultimodalTokenizer

    check_name("--layout", layout, LAYOUTS.list(), "layout")
    if max_length < 1:
        raise InputError(f"--max-length {max_length}: give a context limit of at least 1 token")
    return MultimodalTokenizer(replace(LAYOUTS[layout], max_length=max_length))


def cmd_tokenize(args: argparse.Namespace) -> int:
    folders = [item for item in args.items if item and not item.startswith("text:") and Path(item).is_dir()]
    if folders and len(args.items) == 1:
        if args.png:
            raise InputError("--png draws one sequence; a FOLDER makes one per file: give the files of one prompt")
        return _tokenize_folder(args, Path(folders[0]))
    png = _png_path(args.png)
    if args.table:
        raise InputError("--table goes with a FOLDER (a table per file); without one the table is what is printed")
    if args.model:
        return _tokenize_model(args, png)
    tok = tokenizer(args.layout, args.max_length)
    seq = tok(items_to_contents(args.items, args.codes, args.with_sound), truncate=args.truncate)
    if args.save:
        seq.save(args.save)
    if png is not None:
        _draw(seq, png)
    if args.json:
        print(json.dumps(seq.to_manifest(), ensure_ascii=False))
    else:
        print(summary_table(seq))
        if args.save:
            print(f"saved to {args.save}")
        if png is not None:
            print(f"drew {png}")
    return 0


def _kind(piece) -> str:
    return "text" if isinstance(piece, str) else type(piece).__name__.lower()


def _tokenize_folder(args: argparse.Namespace, root: Path) -> int:
    """Every file under ``root`` (sorted, recursive) as its own sequence, a line each (and a progress bar when
    stderr is a terminal); a file that fails is reported and the others go on. Exit status 1 when any failed."""
    from ..core.manifest import FEATURES_FILE, MANIFEST_FILE
    from ..core.progress import progress_bar

    if args.model:
        raise InputError(f"{root} is a folder; --model shows one prompt: give its files (or drop --model)")
    files = folder_files(root)
    if not files:
        raise InputError(f"{root} is a folder with no files in it")
    out = Path(args.save) if args.save else None
    if out is not None and out.resolve().is_relative_to(root.resolve()):
        raise InputError(f"--save {out} lies inside the folder {root}; save elsewhere")
    tok = tokenizer(args.layout, args.max_length)
    failed = tokens = 0
    live = getattr(sys.stderr, "isatty", lambda: False)()  # in a log the lines per file are the progress
    with progress_bar(total=len(files), unit="file", desc="tokenize", disable=not live) as bar:
        for path in files:
            rel = path.relative_to(root).as_posix()
            try:
                piece = file_piece(path, args.codes, args.with_sound)
                seq = tok([piece], truncate=args.truncate)
            except MmtokError as e:
                failed += 1
                message = cli_words(str(e))
                bar.write(f"mmtok: error: {message if path.name in message else f'{rel}: {message}'}", file=sys.stderr)
                if out is not None:  # no earlier save of this file stays behind
                    for name in (MANIFEST_FILE, FEATURES_FILE):
                        (out / rel / name).unlink(missing_ok=True)
            else:
                tokens += len(seq)
                if out is not None:
                    seq.save(out / rel)
                if args.json:
                    bar.write(json.dumps({"file": rel, "manifest": seq.to_manifest()}, ensure_ascii=False),
                              file=sys.stdout)
                else:
                    bar.write(f"{len(seq):>8,}  {_kind(piece):<5}  {rel}", file=sys.stdout)
                    if args.table:
                        bar.write(summary_table(seq), file=sys.stdout)
            bar.update(1)
    summary = (f"{len(files)} files: {len(files) - failed} tokenized ({tokens:,} tokens), {failed} failed"
               + (f"; saved under {out}" if out is not None else ""))
    print(summary, file=sys.stderr if args.json else sys.stdout)  # --json: stdout is one JSON object per line
    return 1 if failed else 0


def _tokenize_model(args: argparse.Namespace, png: Path | None) -> int:
    """``tokenize --model NAME``: each piece's count under that model, then the tensors its processor returns."""
    from ..models import ModelProcessor, list_models

    ignored = [flag for flag, given in (("--layout", args.layout != DEFAULT_LAYOUT), ("--codes", args.codes),
                                        ("--truncate", args.truncate),
                                        ("--max-length", args.max_length != DEFAULT_MAX_LENGTH)) if given]
    if ignored:
        raise InputError(f"{', '.join(ignored)} set mmtok's own layout; with --model the model's processor decides "
                         f"(drop {ignored[0]}, or drop --model)")
    proc = ModelProcessor(check_name("--model", args.model, list_models(), "model"))
    contents = items_to_contents(args.items, sound=args.with_sound)
    pieces = []
    for i, c in enumerate(contents):
        source = c[:40] if isinstance(c, str) else Path(str(c.src)).name
        pieces.append({"piece": i, "kind": _kind(c), "tokens": proc.num_tokens(c),
                       "with_markers": proc.segment_length(c), "source": source})
    try:
        seq = proc(contents)  # the model's layout; its tensors are hf_inputs exactly (regrouped back)
    except InputError as e:  # a counts-only model (gemini-api): say so, still show the counts
        seq, inputs, note = None, {}, str(e)
    else:
        from ..models.sequence import hf_inputs_from_sequence

        inputs, note = hf_inputs_from_sequence(seq), ""
    tensors = {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)} for k, v in inputs.items()}
    if args.save:
        _save_model_view(Path(args.save), args.model, seq, inputs, pieces, tensors)
    if png is not None:
        if seq is None:
            raise InputError(f"--png: {args.model} gives counts only, no sequence to draw ({note})")
        _draw(seq, png)
    if args.json:
        print(json.dumps({"model": args.model, "pieces": pieces, "tensors": tensors, "note": note},
                         ensure_ascii=False))
        return 0
    rows = [("#", "kind", "tokens", "with markers", "source")]
    rows += [(str(p["piece"]), p["kind"], str(p["tokens"]), str(p["with_markers"]), p["source"]) for p in pieces]
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    print(f"model {args.model}")
    for r in rows:
        print("  ".join(x.ljust(w) if c in (1, 4) else x.rjust(w) for c, (x, w) in zip(range(5), zip(r, widths)))
              .rstrip())
    print(f"total: {sum(p['with_markers'] for p in pieces):,} tokens (text: mmtok's SentencePiece pieces, the "
          f"model's markers after them; the counts of the model, not its text ids)")
    if inputs:
        print(f"tensors (ModelProcessor({args.model!r}).hf_inputs, as the model's transformers processor returns):")
        for k, t in tensors.items():
            print(f"  {k:<24} {t['dtype']:<8} {t['shape']}")
    else:
        print(f"tensors: none ({note})")
    if args.save:
        print(f"saved to {args.save}")
    if png is not None:
        print(f"drew {png}")
    return 0


def _png_path(given: str | None) -> Path | None:
    """The --png file, checked before any work: a .png name in a folder that exists."""
    if given is None:
        return None
    path = Path(given)
    if path.suffix.lower() != ".png":
        raise InputError(f"--png {given}: give a file name ending in .png")
    if not path.parent.is_dir():
        raise InputError(f"--png {given}: the folder {path.parent} does not exist; create it or pick another")
    if path.is_dir():
        raise InputError(f"--png {given} is a folder; give a file name ending in .png")
    return path


def _draw(seq, png: Path) -> None:
    from ..multimodal.explain import sequence_picture

    sequence_picture(seq).save(png, "PNG")


def _save_model_view(out: Path, model: str, seq, inputs: dict, pieces: list, tensors: dict) -> None:
    """counts.json, inputs.safetensors (the processor's tensors) and sequence/ (the model's TokenSequence); nothing
    of an earlier save stays behind."""
    from ..core.manifest import FEATURES_FILE, MANIFEST_FILE, save_safetensors

    out.mkdir(parents=True, exist_ok=True)
    if inputs:
        save_safetensors(inputs, out / "inputs.safetensors")
    else:
        (out / "inputs.safetensors").unlink(missing_ok=True)
    if seq is not None:  # the same prompt as a TokenSequence with provenance (TokenSequence.load reads it)
        seq.save(out / "sequence")
    else:
        for name in (MANIFEST_FILE, FEATURES_FILE):
            (out / "sequence" / name).unlink(missing_ok=True)
    (out / "counts.json").write_text(json.dumps({"model": model, "pieces": pieces, "tensors": tensors},
                                                ensure_ascii=False, indent=1))
