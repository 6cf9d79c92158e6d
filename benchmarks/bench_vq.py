"""The bundled VQ tokenizer on held-out photos: PSNR, SSIM, codebook usage, encode+decode speed.

Run: .venv/bin/python benchmarks/bench_vq.py [--weights assets/vq/vq-f8-4096.safetensors]
Images: the 50 fixed 256x256 evaluation crops of the 5 Lomiri wallpapers held out from training
(mmtok.vq_train.HELD_OUT: centre and one seeded crop at short sides 256, 384, 512, 768, 1024). Metrics from
torchmetrics on 8-bit pixels. Speed: encode + decode of the 50 crops in batches of 10, 2 torch threads, median of
3 runs, against a baseline in the same run: the same model's decoder alone (the cost of writing an image).
Targets (issue 6, default preset): PSNR >= 25 dB, >= 90% of codes used over the 50 images, >= 10 images/s.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from mmtok.vq import DEFAULT_VQ, VQImageTokenizer
from mmtok.vq_train import eval_crops, evaluate, photo_files


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, default=DEFAULT_VQ)
    args = ap.parse_args()
    tok = VQImageTokenizer.from_pretrained(args.weights)
    _, held = photo_files()
    crops = eval_crops(held, tok.record.get("seed", 0) if tok.record else 0)
    metrics = evaluate(tok.model, crops)

    def roundtrip():
        for i in range(0, len(crops), 10):
            tok.decode(tok.encode_pixels(crops[i:i + 10]))

    codes = torch.cat([tok.encode_pixels(crops[i:i + 10]) for i in range(0, len(crops), 10)])

    def decode_only():
        for i in range(0, len(codes), 10):
            tok.decode(codes[i:i + 10])

    times: dict[str, list[float]] = {"encode + decode": [], "decode only": []}
    roundtrip()
    for _ in range(3):
        for k, fn in (("encode + decode", roundtrip), ("decode only", decode_only)):
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    ips = {k: len(crops) / statistics.median(v) for k, v in times.items()}
    rec = tok.record or {}
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"model: {args.weights.name}, {tok.config.codebook_size} codes, f{tok.downsample}; trained "
          f"{rec.get('steps', '?')} steps in {rec.get('seconds', '?')} s")
    print(f"| metric | value |\n|---|---|")
    print(f"| PSNR (dB), mean over {metrics['images']} held-out crops | {metrics['psnr']:.2f} |")
    print(f"| SSIM, mean | {metrics['ssim']:.3f} |")
    print(f"| codes used over the {metrics['images']} crops | {metrics['codes_used']} of {tok.codebook_size} "
          f"({metrics['usage']:.1%}) |")
    print(f"| code perplexity | {metrics['perplexity']:.0f} |")
    print(f"| encode + decode, images/s | {ips['encode + decode']:.1f} |")
    print(f"| decode only (baseline), images/s | {ips['decode only']:.1f} |")
    print(f"targets: PSNR >= 25: {'met' if metrics['psnr'] >= 25 else 'NOT met'}; usage >= 90%: "
          f"{'met' if metrics['usage'] >= 0.9 else 'NOT met'}; >= 10 images/s: "
          f"{'met' if ips['encode + decode'] >= 10 else 'NOT met'}")
    print(json.dumps({**metrics, **{f"ips_{k}": v for k, v in ips.items()}}))


if __name__ == "__main__":
    main()
