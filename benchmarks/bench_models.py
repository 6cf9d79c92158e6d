"""mmtok.models against the transformers processors, side by side in one run: time and equality per photo.

Run: .venv/bin/python benchmarks/bench_models.py [--models qwen2-vl,...] [--repeat 3] [--photos N]
Photos: the bundled JPEGs and the 15 Lomiri 16.04 wallpapers (0.27 to 15.9 MP, most of them progressive JPEGs;
see bench_image.py). Each model's reference is its transformers processor class built here with the model's
published preprocessing values (written out below, as in the tests) and a small local tokenizer carrying its
special tokens; it is called as a user calls it: ``processor(text=[prompt], images=[load_image(path)])`` with
transformers' own ``load_image`` (PIL decode, EXIF orientation, RGB), its default (torchvision) backend.
mmtok's side is ``ModelProcessor(name, tokenizer=the same tokenizer, fast=...).hf_inputs([text, Image(path)])``.

Timing: both sides run interleaved (a, b, c, a, b, c, ...) so drift in the machine's speed hits all alike; the
median of at least ``--repeat`` rounds. Targets (issue 19): ``fast=False`` never slower than transformers
(ratio mmtok / transformers <= 1.0 on every photo) with equal tensors; ``fast=True`` >= 2x faster than
transformers on photos of 1 MP or more. Prints transformers' version, the machine and the load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
from transformers.image_utils import load_image

import mmtok
from bench_image import photos, timed  # benchmarks/ is on the path when a benchmark runs as a script
from bench_vq import cpu_name

PROMPT_WORDS = ["[UNK]", "<bos>", "Describe", "this", "picture", "."]


def tiny_tokenizer(specials: list[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer with the model's special tokens (nothing downloaded)."""
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(PROMPT_WORDS)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]",
                                  model_input_names=["input_ids", "attention_mask"])
    tok.add_special_tokens({"additional_special_tokens": specials})
    return tok


# --- references: name -> () -> (transformers processor, its image placeholder text, tokenizer) --------------
def _qwen(name: str):
    from transformers import (
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    published = {"qwen2-vl": dict(min_pixels=3136, max_pixels=12845056),  # Qwen/Qwen2-VL-7B-Instruct
                 "qwen2.5-vl": dict(min_pixels=3136, max_pixels=12845056),  # Qwen/Qwen2.5-VL-7B-Instruct
                 "qwen3-vl": dict(size={"shortest_edge": 65536, "longest_edge": 16777216}, patch_size=16,
                                  image_mean=[0.5] * 3, image_std=[0.5] * 3)}[name]  # Qwen/Qwen3-VL-8B-Instruct
    cls, video = {"qwen2-vl": (Qwen2VLProcessor, Qwen2VLVideoProcessor),
                  "qwen2.5-vl": (Qwen2_5_VLProcessor, Qwen2VLVideoProcessor),
                  "qwen3-vl": (Qwen3VLProcessor, Qwen3VLVideoProcessor)}[name]
    tok = tiny_tokenizer(["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"])
    hf = cls(image_processor=Qwen2VLImageProcessor(**published), tokenizer=tok, video_processor=video())
    return hf, "<|vision_start|><|image_pad|><|vision_end|>", tok


REFERENCES: dict[str, Callable] = {name: (lambda name=name: _qwen(name)) for name in ("qwen2-vl", "qwen2.5-vl",
                                                                                     "qwen3-vl")}


def max_abs(a: dict, b: dict) -> float:
    """The largest absolute difference over the float tensors both dicts hold; inf if keys or shapes differ."""
    if a.keys() != b.keys():
        return float("inf")
    worst = 0.0
    for k in a:
        if a[k].shape != b[k].shape or a[k].dtype != b[k].dtype:
            return float("inf")
        worst = max(worst, (a[k].double() - b[k].double()).abs().max().item() if a[k].numel() else 0.0)
    return worst


def bench_model(name: str, files: list[Path], repeat: int) -> list[tuple]:
    hf, placeholder, tok = REFERENCES[name]()
    exact = mmtok.ModelProcessor(name, tokenizer=tok)
    fast = mmtok.ModelProcessor(name, tokenizer=tok, fast=True)
    rows = []
    for f in files:
        ref = lambda f=f: hf(text=[f"Describe this {placeholder} ."], images=[load_image(str(f))],  # noqa: E731
                             return_tensors="pt")
        ours = lambda f=f, p=exact: p.hf_inputs(["Describe this ", mmtok.Image(f), " ."])  # noqa: E731
        quick = lambda f=f, p=fast: p.hf_inputs(["Describe this ", mmtok.Image(f), " ."])  # noqa: E731
        diff_exact, diff_fast = max_abs(dict(ref()), ours()), max_abs(dict(ref()), quick())
        t_ref, t_ours, t_fast = timed([ref, ours, quick], repeat, budget=0.5)
        w, h = mmtok.media.imageio.image_size(f)
        rows.append((f.name, w * h / 1e6, t_ref, t_ours, t_fast, diff_exact, diff_fast))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(REFERENCES), help="comma-separated; default: every model with a "
                    "reference here: " + ", ".join(REFERENCES))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--photos", type=int, default=0, help="only the first N photos (0: all)")
    args = ap.parse_args()
    files = photos()[: args.photos or None]
    print(f"machine: {platform.machine()} {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
          f"threads; torch {torch.__version__}, transformers {transformers.__version__}; load average at start "
          f"{os.getloadavg()[0]:.1f}")
    verdicts = []
    for name in [m.strip() for m in args.models.split(",")]:
        rows = bench_model(name, files, args.repeat)
        print(f"\n### {name}\n")
        print("| photo | MP | transformers ms | mmtok ms | mmtok / transformers | max abs | fast=True ms "
              "| transformers / fast | fast max abs |")
        print("|---|---|---|---|---|---|---|---|---|")
        for photo, mp, a, b, c, d1, d2 in rows:
            print(f"| {photo} | {mp:.2f} | {a:.1f} | {b:.1f} | {b / a:.2f} | {d1:.2g} | {c:.1f} | {a / c:.2f} "
                  f"| {d2:.3g} |")
        worst = max(r[3] / r[2] for r in rows)
        big = [r for r in rows if r[1] >= 1.0]
        least_fast = min((r[2] / r[4] for r in big), default=float("nan"))
        equal = max(r[5] for r in rows)
        verdicts.append(f"{name}: fast=False worst ratio {worst:.2f} ({'met' if worst <= 1.0 else 'NOT met'}), "
                        f"max abs {equal:.2g}; fast=True least speed-up on >= 1 MP {least_fast:.2f}x "
                        f"({'met' if least_fast >= 2 else 'NOT met'}), worst max abs {max(r[6] for r in rows):.3g}")
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")
    print("\n".join(verdicts))


if __name__ == "__main__":
    sys.exit(main())
