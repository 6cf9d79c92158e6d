"""The ``mmtok`` command line: a thin shell over the library.

    mmtok tokenize ITEM... [--layout NAME] [--codes] [--json] [--save DIR] [--max-length N] [--truncate]
    mmtok tokenize --model NAME ITEM... [--json] [--save DIR]
    mmtok budget ITEM... [--models a,b,...] [--layout NAME]
    mmtok decode DIR [--out DIR]
    mmtok dataset INPUT OUTPUT [--address ADDR] [--shard-size N] [--workers N] [--batch-size N] [--layout NAME]
    mmtok roundtrip FILE [--through-decoder [--out PNG] [--image-size N]]
    mmtok demo [--port P] [--host H] [--share] [--max-upload-mb N] [--max-media-seconds S] ...
    mmtok train-text [--cache DIR] [--out DIR]
    mmtok train-vq [--preset vq-f8-4096] [--steps N] [--time-limit S] [--work DIR] [--export PATH]

An ITEM is a path to a file of any modality (sniffed from its content) or literal text. Text that looks like a
path (``photo.jpg``, ``a/b``) but names no file is refused, so a typo never becomes a text prompt; prefix literal
text with ``text:`` to force it. Bad input prints one line ``mmtok: error: ...`` on stderr and exits with status
2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from .core.sequence import DEFAULT_MAX_LENGTH, TokenSequence
from .errors import InputError, MmtokError

__all__ = ["main", "items_to_contents", "summary_table"]

_PATHLIKE = re.compile(r"^(\S*/\S*|\S+\.[A-Za-z0-9]{1,5})$")  # a/b or name.ext, no whitespace


def items_to_contents(items: list[str], codes: bool = False) -> list:
    """Command-line items -> prompt pieces (text, or mmtok.Image / Video / Audio for files)."""
    from .multimodal.files import file_content

    out: list = []
    for item in items:
        if item.startswith("text:"):
            out.append(item[5:])
            continue
        path = Path(item)
        if path.is_dir():
            raise InputError(f"{item} is a folder; give files (or text)")
        if path.is_file():
            out.append(file_content(path, as_codes=codes))
        elif _PATHLIKE.match(item):
            raise InputError(f"no such file: {item}; to tokenize it as literal text, write text:{item}")
        else:
            out.append(item)
    return out


def summary_table(seq: TokenSequence) -> str:
    """A readable table: one row per span (modality, tokens, shape, seconds, source) and the total."""
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
        label = span.modality.label + ("+audio" if span.sound_features else "")  # a clip with its sound: one row
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


def _tokenizer(layout: str, max_length: int = DEFAULT_MAX_LENGTH):
    from dataclasses import replace

    from .multimodal.tokenizer import LAYOUTS, MultimodalTokenizer

    if layout not in LAYOUTS:
        raise InputError(f"unknown layout {layout!r}; use one of {', '.join(sorted(LAYOUTS))}")
    return MultimodalTokenizer(replace(LAYOUTS[layout], max_length=max_length))


def _cmd_tokenize(args: argparse.Namespace) -> int:
    if args.model:
        return _cmd_tokenize_model(args)
    tok = _tokenizer(args.layout, args.max_length)
    seq = tok(items_to_contents(args.items, args.codes), truncate=args.truncate)
    if args.save:
        seq.save(args.save)
    if args.json:
        print(json.dumps(seq.to_manifest(), ensure_ascii=False))
    else:
        print(summary_table(seq))
        if args.save:
            print(f"saved to {args.save}")
    return 0


def _cmd_tokenize_model(args: argparse.Namespace) -> int:
    """``tokenize --model NAME``: each piece's count under that model, then the tensors its processor returns."""
    from .models import ModelProcessor

    ignored = [flag for flag, given in (("--layout", args.layout != "gemini-like"), ("--codes", args.codes),
                                        ("--truncate", args.truncate),
                                        ("--max-length", args.max_length != DEFAULT_MAX_LENGTH)) if given]
    if ignored:
        raise InputError(f"{', '.join(ignored)} set mmtok's own layout; with --model the model's processor decides "
                         f"(drop {ignored[0]}, or drop --model)")
    proc = ModelProcessor(args.model)
    contents = items_to_contents(args.items)
    pieces = []
    for i, c in enumerate(contents):
        kind = "text" if isinstance(c, str) else type(c).__name__.lower()
        source = c[:40] if isinstance(c, str) else Path(str(c.src)).name
        pieces.append({"piece": i, "kind": kind, "tokens": proc.num_tokens(c), "with_markers": proc.segment_length(c),
                       "source": source})
    try:
        seq = proc(contents)  # the model's layout; its tensors are hf_inputs exactly (regrouped back)
    except InputError as e:  # a counts-only model (gemini-api): say so, still show the counts
        seq, inputs, note = None, {}, str(e)
    else:
        from .models.sequence import hf_inputs_from_sequence

        inputs, note = hf_inputs_from_sequence(seq), ""
    tensors = {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)} for k, v in inputs.items()}
    if args.save:
        from .core.manifest import FEATURES_FILE, MANIFEST_FILE, save_safetensors

        out = Path(args.save)
        out.mkdir(parents=True, exist_ok=True)
        if inputs:
            save_safetensors(inputs, out / "inputs.safetensors")
        else:  # nothing of an earlier save may stay behind
            (out / "inputs.safetensors").unlink(missing_ok=True)
        if seq is not None:  # the same prompt as a TokenSequence with provenance (TokenSequence.load reads it)
            seq.save(out / "sequence")
        else:
            for name in (MANIFEST_FILE, FEATURES_FILE):
                (out / "sequence" / name).unlink(missing_ok=True)
        (out / "counts.json").write_text(json.dumps({"model": args.model, "pieces": pieces, "tensors": tensors},
                                                    ensure_ascii=False, indent=1))
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
    return 0


def _cmd_budget(args: argparse.Namespace) -> int:
    from .multimodal.budget import budget, budget_models, format_budget

    models = [m.strip() for m in args.models.split(",")] if args.models else budget_models()
    print(format_budget(budget(items_to_contents(args.items), models, _tokenizer(args.layout))))
    return 0


def _cmd_decode(args: argparse.Namespace) -> int:
    from .multimodal.outputs import write_contents

    seq = TokenSequence.load(args.dir)
    tok = _tokenizer(args.layout, seq.max_length)
    out = Path(args.out or Path(args.dir) / "decoded")
    for p in write_contents(tok.decode(seq), out):
        print(p)
    return 0


def _cmd_dataset(args: argparse.Namespace) -> int:
    from .data.pipeline import CorpusConfig, tokenize_corpus

    given = {"layout": args.layout, "shard_size": args.shard_size, "batch_size": args.batch_size,
             "workers": args.workers, "truncate": args.truncate or None}
    config = CorpusConfig(**{k: v for k, v in given.items() if v is not None})  # the rest: CorpusConfig's defaults
    summary = tokenize_corpus(args.input, args.output, config, address=args.address, progress=True)
    print(summary.describe())
    print(f"sequences: {Path(args.output) / 'shards'}  errors table: {Path(args.output) / 'errors'}")
    return 0


def _cmd_roundtrip(args: argparse.Namespace) -> int:
    from .multimodal.files import file_kind

    tok = _tokenizer(args.layout)
    path = Path(args.file)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    kind = file_kind(path)
    report: dict = {"file": str(path), "modality": kind}
    if args.through_decoder:
        return _decoder_roundtrip(path, kind, args.out, args.image_size)
    if kind == "text":
        text = path.read_text(encoding="utf-8")
        report |= {"tokens": tok.text.num_tokens(text), "exact": tok.text.decode(tok.text.encode(text)) == text}
    elif kind == "image":
        tokens = tok.image.encode(path)
        report |= {"patches": len(tokens.patches), "exact": bool((tok.image.decode(tokens) ==
                                                                   tok.image.preprocess(path)).all())}
        from .roundtrip import image_report

        vq = image_report(path, tok.vq)
        report |= {"vq_psnr": round(vq["psnr"], 2), "vq_ssim": round(vq["ssim"], 4), "vq_codes_used": vq["codes_used"],
                   "vq_reencode_agreement": round(vq["reencode_agreement"], 4)}
    elif kind == "video":
        import torch

        from .video.tokenizer import sample_frames

        tokens = tok.video.encode(path)
        frames, _ = sample_frames(path, tok.video.config.num_frames)
        exact = torch.equal(tok.video.decode(tokens), torch.stack([tok.video.image.preprocess(f) for f in frames]))
        report |= {"frames": len(tokens.frames), "timestamps": [round(t, 3) for t in tokens.timestamps.tolist()],
                   "frames_decoded": tokens.frames_decoded, "exact": exact}
    else:
        tokens = tok.audio.encode(path)
        r = tok.audio.roundtrip(tokens)
        report |= {"tokens": len(tokens.tokens), "duration": tokens.duration, "preset": tokens.preset,
                   "mel_mean_abs": round(r["mel_mean_abs"], 4), "mel_mean_abs_loud": round(r["mel_mean_abs_loud"], 4)}
    print(json.dumps(report, indent=1))
    return 0


def _decoder_roundtrip(path: Path, kind: str, out: str | None, image_size: int | None = None) -> int:
    if kind != "image":
        raise InputError(f"{path} is {kind}; the decoder round trip writes images: give a picture (JPEG, PNG, ...)")
    from .multimodal.outputs import write_png
    from .roundtrip import decoder_roundtrip

    r = decoder_roundtrip(path, image_size=image_size)
    report = {"file": str(path), "match": r["match"], "image_match": r["image_match"], "steps": r["steps"],
              "train_accuracy": round(r["train_accuracy"], 5), "parameters": r["parameters"],
              "codes": list(r["target"].shape), "train_seconds": round(r["train_seconds"], 1),
              "generate_seconds": round(r["generate_seconds"], 1), "seconds": round(r["seconds"], 1),
              "error": r["error"]}
    if out and r["image"] is not None:
        write_png(r["image"], Path(out))
        report["image"] = out
    print(json.dumps(report, indent=1))
    return 0 if r["match"] else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    """Run demos/app.py from the source checkout (the library itself never imports gradio)."""
    import runpy

    app = Path(__file__).resolve().parent.parent / "demos" / "app.py"
    if not app.is_file():
        raise InputError(f"the demo ships with the source checkout ({app} is missing); clone the repository and "
                         f"run `make run` there")
    return runpy.run_path(str(app), run_name="mmtok_demo")["main"](args.rest)


def _cmd_train(module: str):
    def run(args: argparse.Namespace) -> int:
        import importlib

        return importlib.import_module(f".{module}", __package__).main(args.rest)

    return run


def _model_names() -> list[str]:
    from .models import list_models

    return list_models()


def _budget_rows() -> list[str]:
    from .multimodal.budget import budget_models

    return budget_models()


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="mmtok", description="Multimodal tokenization playground.")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tokenize", help="tokenize files or text and print a table per span")
    t.add_argument("items", nargs="+", metavar="ITEM", help="a file path or literal text")
    t.add_argument("--layout", default="gemini-like", help="layout preset (default gemini-like)")
    t.add_argument("--model", metavar="NAME", help="show how model NAME sees the input instead of mmtok's layout: "
                   "its counts and the tensors of its processor; one of: " + ", ".join(_model_names()))
    t.add_argument("--codes", action="store_true", help="images as VQ codes instead of ViT patches")
    t.add_argument("--json", action="store_true", help="print the manifest (with --model: the counts and tensor shapes) as JSON instead of the table")
    t.add_argument("--save", metavar="DIR", help="write manifest.json (+ features.safetensors) to DIR; with --model: counts.json, "
                   "inputs.safetensors (the processor's tensors) and sequence/ (the model's TokenSequence)")
    t.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH, help="context limit (default 32768)")
    t.add_argument("--truncate", action="store_true", help="drop whole spans past the context limit (recorded)")
    t.set_defaults(func=_cmd_tokenize)
    b = sub.add_parser("budget", help="token counts of the same input under several models")
    b.add_argument("items", nargs="+", metavar="ITEM")
    b.add_argument("--models", default="", help="comma-separated rows (default: all): " + ", ".join(_budget_rows()))
    b.add_argument("--layout", default="gemini-like")
    b.set_defaults(func=_cmd_budget)
    d = sub.add_parser("decode", help="write the contents of a saved sequence back to files")
    d.add_argument("dir", metavar="DIR")
    d.add_argument("--out", metavar="DIR", help="where to write (default DIR/decoded)")
    d.add_argument("--layout", default="gemini-like")
    d.set_defaults(func=_cmd_decode)
    ds = sub.add_parser("dataset", help="tokenize a corpus on Ray Data into Parquet shards (needs mmtok[scale])")
    ds.add_argument("input", metavar="INPUT", help="a folder tree, or a .jsonl / .parquet manifest of contents")
    ds.add_argument("output", metavar="OUTPUT", help="a new folder, or that of an earlier run to resume")
    ds.add_argument("--address", help="join this Ray cluster (default: start Ray on this machine's cores)")
    ds.add_argument("--shard-size", type=int, help="corpus rows per shard (CorpusConfig default: 256)")
    ds.add_argument("--workers", type=int, help="tokenizer actors, one CPU each (default: every CPU)")
    ds.add_argument("--batch-size", type=int, help="rows per map_batches call (CorpusConfig default: 4)")
    ds.add_argument("--layout", help="layout preset (default gemini-like)")
    ds.add_argument("--truncate", action="store_true", help="drop whole spans past the context limit (recorded)")
    ds.set_defaults(func=_cmd_dataset)
    r = sub.add_parser("roundtrip", help="print the round-trip report for a file's modality")
    r.add_argument("file", metavar="FILE")
    r.add_argument("--layout", default="gemini-like")
    r.add_argument("--through-decoder", action="store_true",
                   help="train the tiny decoder to write the picture's VQ codes, then generate them back")
    r.add_argument("--out", metavar="PNG", help="with --through-decoder: save the regenerated picture here")
    r.add_argument("--image-size", type=int, metavar="N", help="with --through-decoder: VQ-encode the picture at "
                   "N x N (a multiple of 8; default 256 = 32x32 codes); 64 = 8x8 codes, a check in seconds")
    r.set_defaults(func=_cmd_roundtrip)
    dm = sub.add_parser("demo", help="run the Gradio demo (see demos/app.py for its options)", add_help=False)
    dm.add_argument("rest", nargs=argparse.REMAINDER)
    dm.set_defaults(func=_cmd_demo)
    for name, module, helptext in (("train-text", "training.text", "rebuild the bundled SentencePiece model"),
                                   ("train-vq", "training.vq", "train the VQ image tokenizer")):
        p = sub.add_parser(name, help=helptext, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_cmd_train(module))
    return ap


PASS_THROUGH = ("demo", "train-text", "train-vq")  # commands that parse their own options


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
        print(f"mmtok: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mmtok: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
