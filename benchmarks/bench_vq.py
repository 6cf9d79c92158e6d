"""The bundled VQ tokenizer on held-out photos: PSNR, SSIM, codebook usage, encode+decode speed.

Run: .venv/bin/python benchmarks/bench_vq.py [--weights assets/vq/vq-f8-4096.safetensors] [--rounds 5] [--busy 2]

Images: two sets of 50 uint8 256x256 images, both from the 5 Lomiri wallpapers held out from training
(mmtok.training.vq.HELD_OUT, never seen in training):
- "centre crops" (issue 6's protocol: 256x256 centre crops): with only 5 held-out photos, each photo's centre
  crop at 10 scales — the centred square of side (short side) x 256 / s resized to 256x256 (bicubic,
  antialiased), for s = 256, 320, 384, 448, 512, 576, 640, 768, 896, 1024; at s = 256 that is the picture
  ``VQImageTokenizer.preprocess`` makes (which decodes the JPEG at a reduced draft scale: the benchmark prints
  the mean difference);
- "training eval set": the 50 crops the training record was evaluated on (mmtok.training.vq.eval_crops: centre and
  one seeded random crop at short sides 256, 384, 512, 768, 1024).
Metrics: mmtok.training.vq.evaluate (PSNR / SSIM of the 8-bit reconstructions through mmtok.vq.quality.psnr_ssim,
torchmetrics, as in `mmtok roundtrip`; codes used over the 50).

Speed, images/s (``benchmarks/harness.py``: the four below interleaved, one warm-up call each, then ``--rounds``
rounds; medians, ranges and CPU per call), with torch's default threads (2 here) and again with one (on a shared
machine two spinning OpenMP threads can lose more than they gain):
- model only: encode + decode of the 50 centre crops already in memory as uint8 tensors, batches of 10; baseline
  in the same run: the decoder alone;
- end to end: file -> preprocess (JPEG decode, resize, crop) -> encode -> decode through the public API, for the
  5 held-out files: one file at a time (``vq.decode(vq.encode(path))``) and as one batch (``encode_batch``).
The machine line comes first, the load average at the end; ``--busy 2`` runs it beside two spinning processes.
Targets (issue 6, default preset): PSNR >= 25 dB, >= 90% of codes used over 50 images, >= 10 images/s.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from harness import Timing, add_busy_arg, busy, interleaved, load, machine  # benchmarks/ is on the path as a script
from mmtok.media.imageio import load_image
from mmtok.training.vq import eval_crops, evaluate, photo_files
from mmtok.vq.tokenizer import DEFAULT_VQ, VQImageTokenizer

SCALES = (256, 320, 384, 448, 512, 576, 640, 768, 896, 1024)


def centre_crops(files: list[Path], scales: tuple[int, ...] = SCALES, size: int = 256) -> torch.Tensor:
    """uint8 [len(files) * len(scales), 3, size, size]: per photo and scale s, the centred square of side
    short * size / s resized to size x size (= the centre crop of the photo resized to a short side of s)."""
    out = []
    for path in files:
        x = load_image(path).pixels  # (3, H, W), full resolution
        h, w = x.shape[1:]
        for s in scales:
            side = round(min(h, w) * size / s)
            top, left = (h - side) // 2, (w - side) // 2
            box = x[None, :, top:top + side, left:left + side]
            out.append(F.interpolate(box, size=(size, size), mode="bicubic", antialias=True)[0])
    return torch.stack(out)


TARGET = {"psnr": 25.0, "usage": 0.9, "images_per_second": 10.0}  # issue 6, default preset
SPEED = ("model only: encode + decode", "model only: decode (baseline)", "end to end, one file at a time",
         "end to end, one batch of 5 files")


def speeds(tok: VQImageTokenizer, crops: torch.Tensor, codes: torch.Tensor, held: list[Path],
           rounds: int) -> list[tuple[int, Timing]]:
    """(images per call, Timing) of each row of SPEED, interleaved."""
    fns = [lambda: [tok.decode(tok.encode_pixels(crops[i:i + 10])) for i in range(0, len(crops), 10)],
           lambda: [tok.decode(codes[i:i + 10]) for i in range(0, len(codes), 10)],
           lambda: [tok.decode(tok.encode(p)) for p in held],
           lambda: tok.decode(tok.encode_batch(held))]
    _, timings = interleaved(fns, rounds, slow_rounds=rounds)
    return list(zip((len(crops), len(codes), len(held), len(held)), timings))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, default=DEFAULT_VQ)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds per thread setting")
    add_busy_arg(ap)
    args = ap.parse_args()
    tok = VQImageTokenizer.from_pretrained(args.weights)
    _, held = photo_files()
    sets = {"centre crops": centre_crops(held),
            "training eval set": eval_crops(held, tok.record.get("seed", 0) if tok.record else 0)}
    metrics = {name: evaluate(tok.model, crops) for name, crops in sets.items()}
    first = sets["centre crops"][::len(SCALES)]  # scale 256 of each photo
    preprocess_gap = float(torch.stack([tok.preprocess(p) for p in held]).float().sub(first.float()).abs().mean())
    crops = sets["centre crops"]
    codes = torch.cat([tok.encode_pixels(crops[i:i + 10]) for i in range(0, len(crops), 10)])
    assert len(held) == 5, held  # SPEED's last row names 5 files
    with busy(args.busy):
        print(machine())
        threads = torch.get_num_threads()
        speed = {threads: speeds(tok, crops, codes, held, args.rounds)}
        if threads > 1:  # on a shared machine two spinning OpenMP threads can lose more than they gain
            torch.set_num_threads(1)
            speed[1] = speeds(tok, crops, codes, held, args.rounds)
            torch.set_num_threads(threads)
        end = load()
    rate = {n: [k * 1e3 / t.median for k, t in rows] for n, rows in speed.items()}
    rec = tok.record or {}
    print(f"model: {args.weights.name}, {tok.config.codebook_size} codes, f{tok.downsample}; trained "
          f"{rec.get('steps', '?')} steps in {rec.get('seconds', '?')} s")
    print(f"held-out photos: {', '.join(p.name for p in held)}; centre crop at scale 256 vs preprocess(file): "
          f"mean |difference| {preprocess_gap:.2f} levels")
    a, b = metrics["centre crops"], metrics["training eval set"]
    print("| metric | 50 centre crops (5 photos x 10 scales) | training eval set (25 centre + 25 random) |")
    print("|---|---|---|")
    print(f"| PSNR (dB), mean | {a['psnr']:.2f} | {b['psnr']:.2f} |")
    print(f"| SSIM, mean | {a['ssim']:.3f} | {b['ssim']:.3f} |")
    print(f"| codes used over the 50 images | {a['codes_used']} of {tok.codebook_size} ({a['usage']:.1%}) | "
          f"{b['codes_used']} of {tok.codebook_size} ({b['usage']:.1%}) |")
    print(f"| code perplexity | {a['perplexity']:.0f} | {b['perplexity']:.0f} |")
    print("\n| speed | " + " | ".join(f"{n} torch thread{'s' * (n > 1)}: images/s (ms per call, range, CPU)"
                                     for n in speed) + " |")
    print("|---|" + "---|" * len(speed))
    for i, name in enumerate(SPEED):
        print(f"| {name} | " + " | ".join(f"{rate[n][i]:.1f} ({rows[i][1].median:.0f}, {rows[i][1].low:.0f}-"
                                          f"{rows[i][1].high:.0f}, cpu {rows[i][1].cpu:.0f})"
                                          for n, rows in speed.items()) + " |")
    print(f"\nload average (1, 5, 15 min) at end {end}\n")
    for name, m in metrics.items():
        print(f"target PSNR >= {TARGET['psnr']:g} dB on {name}: {m['psnr']:.2f}: "
              f"{'met' if m['psnr'] >= TARGET['psnr'] else 'NOT met'}")
        print(f"target >= {TARGET['usage']:.0%} of codes used on {name}: {m['usage']:.1%}: "
              f"{'met' if m['usage'] >= TARGET['usage'] else 'NOT met'}")
    for i in (0, 2):
        for n in speed:
            r = rate[n][i]
            print(f"target >= {TARGET['images_per_second']:g} images/s, {SPEED[i]}, {n} torch thread"
                  f"{'s' * (n > 1)}: {r:.1f}: {'met' if r >= TARGET['images_per_second'] else 'NOT met'}")
    print(json.dumps({"metrics": metrics, "images_per_second": {n: dict(zip(SPEED, r)) for n, r in rate.items()},
                      "preprocess_gap": preprocess_gap}))


if __name__ == "__main__":
    main()
