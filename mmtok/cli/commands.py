"""The commands besides ``tokenize``: budget, decode, dataset, roundtrip, and the ones that parse their own options
(demo, train-text, train-vq)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.sequence import TokenSequence
from ..errors import InputError
from .items import has_sound, items_to_contents, note
from .tokenize import check_name, tokenizer
from .words import cli_words

__all__ = ["RAY_LOG", "cmd_budget", "cmd_decode", "cmd_dataset", "cmd_roundtrip", "cmd_demo", "cmd_train"]

RAY_LOG = "ray.log"  # mmtok dataset: Ray's own log lines go to OUTPUT/ray.log, not the terminal


def cmd_budget(args: argparse.Namespace) -> int:
    from ..media.contents import Video
    from ..multimodal.budget import budget, budget_models, format_budget

    names = budget_models()
    models = [check_name("--models", m.strip(), names, "model") for m in args.models.split(",")] \
        if args.models else names
    contents = items_to_contents(args.items, sound=args.with_sound)
    print(cli_words(format_budget(budget(contents, models, tokenizer(args.layout)))))
    if not args.with_sound and "gemini-api" in models and any(isinstance(c, Video) and has_sound(c.src)
                                                              for c in contents):
        note("gemini-api counts a clip's sound with its frames (263 tokens per second); the other rows count the "
             "frames only: add --with-sound to count the sound in every row")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from ..multimodal.outputs import write_contents
    from ..multimodal.tokenizer import LAYOUTS

    check_name("--layout", args.layout, LAYOUTS.list(), "layout")  # before reading DIR
    seq = TokenSequence.load(args.dir)
    tok = tokenizer(args.layout, seq.max_length)
    out = Path(args.out or Path(args.dir) / "decoded")
    for p in write_contents(tok.decode(seq), out):
        print(p)
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    from ..multimodal.tokenizer import LAYOUTS

    check_name("--layout", args.layout, LAYOUTS.list(), "layout")
    from ..data.pipeline import CorpusConfig, tokenize_corpus

    given = {"layout": args.layout, "shard_size": args.shard_size, "batch_size": args.batch_size,
             "workers": args.workers, "truncate": args.truncate}
    config = CorpusConfig(**{k: v for k, v in given.items() if v is not None})  # the rest: CorpusConfig's defaults
    log = Path(args.output) / RAY_LOG
    print(f"mmtok: Ray's own log lines go to {log}", file=sys.stderr)
    summary = tokenize_corpus(args.input, args.output, config, address=args.address, progress=True, ray_log=log)
    print(summary.describe())
    print(f"sequences: {Path(args.output) / 'shards'}  errors table: {Path(args.output) / 'errors'}")
    return 0


def cmd_roundtrip(args: argparse.Namespace) -> int:
    from ..media.paths import regular_file
    from ..media.sniff import decode_text
    from ..multimodal.files import file_kind

    tok = tokenizer(args.layout)
    path = regular_file(args.file)  # missing, a folder, a FIFO or a device: each named
    kind = file_kind(path)
    report: dict = {"file": str(path), "modality": kind}
    if args.through_decoder:
        return _decoder_roundtrip(path, kind, args.out, args.image_size)
    if kind == "text":
        text = decode_text(path.read_bytes(), str(path))  # UTF-8, or UTF-16/32 after a byte-order mark
        report |= {"tokens": tok.text.num_tokens(text), "exact": tok.text.decode(tok.text.encode(text)) == text}
    elif kind == "image":
        tokens = tok.image.encode(path)
        report |= {"patches": len(tokens.patches), "exact": bool((tok.image.decode(tokens) ==
                                                                   tok.image.preprocess(path)).all())}
        from ..roundtrip import image_report

        vq = image_report(path, tok.vq)
        report |= {"vq_psnr": round(vq["psnr"], 2), "vq_ssim": round(vq["ssim"], 4), "vq_codes_used": vq["codes_used"],
                   "vq_reencode_agreement": round(vq["reencode_agreement"], 4)}
    elif kind == "video":
        import torch

        from ..video.tokenizer import sample_frames

        tokens = tok.video.encode(path)
        frames, _ = sample_frames(path, tok.video.config.num_frames)
        exact = torch.equal(tok.video.decode(tokens), torch.stack([tok.video.image.preprocess(f) for f in frames]))
        report |= {"frames": len(tokens.frames), "timestamps": [round(t, 3) for t in tokens.timestamps.tolist()],
                   "frames_decoded": tokens.frames_decoded, "exact": exact}
        if args.with_sound:  # the sound track: the tokens a clip read with --with-sound carries, and their trip
            if has_sound(path):
                report["sound"] = _audio_report(tok, path)
            else:
                note(f"{path} has no sound track: --with-sound reads its frames only")
    else:
        report |= _audio_report(tok, path)
    print(json.dumps(report, indent=1))
    return 0


def _audio_report(tok, path: Path) -> dict:
    tokens = tok.audio.encode(path)
    r = tok.audio.roundtrip(tokens)
    return {"tokens": len(tokens.tokens), "duration": tokens.duration, "preset": tokens.preset,
            "mel_mean_abs": round(r["mel_mean_abs"], 4), "mel_mean_abs_loud": round(r["mel_mean_abs_loud"], 4),
            "mel_units": r["units"]}


def _decoder_roundtrip(path: Path, kind: str, out: str | None, image_size: int | None = None) -> int:
    if kind != "image":
        raise InputError(f"{path} is {kind}; the decoder round trip writes images: give a picture (JPEG, PNG, ...)")
    from ..multimodal.outputs import write_png
    from ..roundtrip import decoder_roundtrip

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


def cmd_demo(args: argparse.Namespace) -> int:
    """Run demos/app.py from the source checkout (the library itself never imports gradio)."""
    import runpy

    app = Path(__file__).resolve().parent.parent.parent / "demos" / "app.py"
    if not app.is_file():
        raise InputError(f"the demo ships with the source checkout ({app} is missing); clone the repository and "
                         f"run `make run` there")
    return runpy.run_path(str(app), run_name="mmtok_demo")["main"](args.rest)


def cmd_train(module: str):
    def run(args: argparse.Namespace) -> int:
        import importlib

        return importlib.import_module(f"..{module}", __package__).main(args.rest)

    return run
