"""Three medians in one process, for before/after comparisons (benchmarks/ab_compare.sh): pack + unpack of
bench_sequence's 100-span sequence, fixed-224 encode of rocket.jpg, and log_mel of 60 s of noise. Run from the
checkout under test (its mmtok first on the path)."""

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path.cwd() / "benchmarks"))  # the checkout's own bench_sequence

import mmtok  # noqa: E402
from bench_sequence import build_segments  # noqa: E402


def timed(fn, repeat: int) -> float:
    """Median ms of ``repeat`` calls after 10 warm-up calls (the same in every checkout compared)."""
    for _ in range(10):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    vocab = mmtok.TextTokenizer.default().vocab
    segs = build_segments(vocab, torch.Generator().manual_seed(0))
    tok = mmtok.ImageTokenizer()
    wave = torch.from_numpy(np.random.default_rng(0).standard_normal(60 * 16000).astype(np.float32) * 0.1)
    print(f"pack+unpack {timed(lambda: mmtok.pack(segs, vocab).unpack(), 200):.3f} ms, "
          f"rocket {timed(lambda: tok.encode('assets/images/rocket.jpg'), 300):.3f} ms, "
          f"log_mel 60 s {timed(lambda: mmtok.log_mel(wave, 'whisper-80'), 20):.2f} ms")


if __name__ == "__main__":
    main()
