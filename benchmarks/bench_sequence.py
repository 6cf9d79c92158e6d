"""pack + unpack of a 32k-token interleaved sequence with ~100 spans, against a plain-concatenation baseline.

Run: .venv/bin/python benchmarks/bench_sequence.py [--repeat 300]
Target (issue 2): pack + unpack <= 5 ms on the project's 2-core machine.
The baseline is the plain way to interleave: torch.cat of the ids and of each modality's features, then slicing
them back. mmtok validates ids and placeholders and computes modality, 1D and 3D positions and spans on top,
but concatenates features only when ``seq.features`` is first read (reported as its own row).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time

import torch

import mmtok
from mmtok import Modality, Segment, grid_positions, pack, sequential_positions


def build_segments(vocab: mmtok.Vocab, g: torch.Generator) -> list[Segment]:
    segs = []
    img, aud = vocab.placeholder(Modality.IMAGE), vocab.placeholder(Modality.AUDIO)
    for i in range(100):
        kind = i % 3
        if kind == 0:  # a paragraph of text
            n = 300
            segs.append(Segment(Modality.TEXT, torch.randint(0, vocab.text_size, (n,), generator=g),
                                sequential_positions(n), meta={"source": f"text{i}"}))
        elif kind == 1:  # a 224x224 image: 14x14 patches of 16x16x3 pixels, framed by markers
            ids = torch.tensor([vocab.special("<start_of_image>")] + [img] * 196 + [vocab.special("<end_of_image>")])
            pos = torch.cat([torch.zeros(3, 1, dtype=torch.int64), grid_positions(1, 14, 14) + 1,
                             torch.full((3, 1), 15, dtype=torch.int64)], 1)
            segs.append(Segment(Modality.IMAGE, ids, pos, torch.randn(196, 768, generator=g),
                                {"source": f"img{i}.jpg", "grid": [14, 14]}))
        else:  # ~19 s of audio at 25 tokens/s, 4 stacked 80-mel frames per token
            n = 478
            ids = torch.tensor([vocab.special("<start_of_audio>")] + [aud] * n + [vocab.special("<end_of_audio>")])
            segs.append(Segment(Modality.AUDIO, ids, sequential_positions(n + 2), torch.randn(n, 320, generator=g),
                                {"source": f"clip{i}.flac", "duration": n / 25}))
    return segs


def baseline(segs: list[Segment]) -> None:
    ids = torch.cat([s.input_ids for s in segs])
    feats = {}
    for m in (Modality.IMAGE, Modality.AUDIO):
        feats[m] = torch.cat([s.features for s in segs if s.modality == m])
    start, taken = 0, {m: 0 for m in feats}
    for s in segs:
        ids[start:start + len(s)]
        if s.features is not None:
            feats[s.modality][taken[s.modality]:taken[s.modality] + len(s.features)]
            taken[s.modality] += len(s.features)
        start += len(s)


def timed(fn, repeat: int) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=300)
    args = ap.parse_args()
    vocab = mmtok.TextTokenizer.default().vocab()
    segs = build_segments(vocab, torch.Generator().manual_seed(0))
    seq = pack(segs, vocab)
    assert seq.unpack() == segs
    t_pack = timed(lambda: pack(segs, vocab), args.repeat)
    t_unpack = timed(lambda: seq.unpack(), args.repeat)
    t_both = timed(lambda: pack(segs, vocab).unpack(), args.repeat)
    t_base = timed(lambda: baseline(segs), args.repeat)
    t_feats = timed(lambda: [pack(segs, vocab).features[k] for k in ("image", "audio")], args.repeat)
    with tempfile.TemporaryDirectory() as d:
        t_save = timed(lambda: seq.save(d), 20)
        t_load = timed(lambda: mmtok.TokenSequence.load(d), 20)
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"python {platform.python_version()}")
    print(f"sequence: {len(seq):,} tokens, {len(seq.spans)} spans, features "
          + ", ".join(f"{k} {tuple(v.shape)}" for k, v in seq.features.items()))
    print("| step | median ms |\n|---|---|")
    print(f"| pack | {t_pack:.3f} |\n| unpack | {t_unpack:.3f} |\n| pack + unpack | {t_both:.3f} |")
    print(f"| pack + concatenate all features (first read of seq.features) | {t_feats:.3f} |")
    print(f"| baseline: cat ids and features, slice back | {t_base:.3f} |\n| save (manifest + safetensors) | {t_save:.1f} |")
    print(f"| load (with full validation) | {t_load:.1f} |")
    print(f"pack + unpack / baseline = {t_both / t_base:.2f}x; pack + features / baseline = {t_feats / t_base:.2f}x")
    print(f"target pack + unpack <= 5 ms: "
          f"{'met' if t_both <= 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
