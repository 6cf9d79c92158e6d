"""Corpus tokenization on Ray Data (issue 11): items/s of the single-process baseline and of 1 and 2 local Ray
workers on the same 200 mixed items, in one run.

Run: .venv/bin/python benchmarks/bench_dataset.py [--items 200] [--shard-size 25] [--batch-size 4] [--rounds 3]
[--busy 2]
Corpus (made in a temp folder from the bundled assets, so every item is a real file): per 10 items 4 text files
(assets/examples/multilingual.txt with a numbered first line), 3 pictures (the five bundled photos in turn,
451x300 to 5312x2988), 2 audio files (the three bundled: 8.1 s WAV, 3.6 s WAV, 5.6 s FLAC) and 1 clip
(cityCC0.mpg, 7.6 s MPEG-2, 16 frames sampled). Layout gemini-like.

- single process, encode only: ``MultimodalTokenizer.encode`` of each item (torch's default threads: every core).
- single process, same shards: encode + the shard records + ``write_shard``, i.e. the output of the Ray runs
  written without Ray; once with torch's default threads (the baseline) and once with one thread. The
  single-process tokenizer is built and warmed up (one item of each kind) before the clock starts.
- Ray, 1 and 2 workers: ``tokenize_corpus`` end to end (actor start-up with the tokenizer load, tokenizing,
  moving the results to the driver, writing the Parquet shards); Ray itself is started once beforehand (timed
  apart). Each actor runs torch on one thread. "steady" is the rate after the first shard is on disk (rows of the
  later shards / time from the first shard's file to the last one's), i.e. without the actors' start-up.

Timing (``benchmarks/harness.py``): the machine line first; the five runs interleaved (a, b, c, d, e, a, ...), one
warm-up run of each, then ``--rounds`` rounds; each run times its own work (``harness.Measured``: the single
process leaves out its tokenizer's build and warm-up, Ray leaves out ``ray.init``); the median, the range (its low
end is the fastest run) and, for the single process, the CPU seconds of the work (Ray's work runs in its worker
processes: not counted); the load average at the end. No numeric target (issue 11 asks for the figures in one run).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import torch

import mmtok
from harness import Measured, add_busy_arg, busy, interleaved, load, machine  # benchmarks/ is on the path
from mmtok.data import CorpusConfig, tokenize_corpus
from mmtok.data.corpus import RowError, encode_row, read_corpus
from mmtok.data.shards import RESULT_SCHEMA, sequence_record, write_shard

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
PATTERN = "tittiatvai"  # per 10 items: 4 text, 3 images, 2 audio, 1 video


def make_corpus(folder: Path, n: int) -> dict[str, int]:
    """``n`` files in ``folder``, modalities interleaved by PATTERN; returns the count per modality."""
    text = (ASSETS / "examples" / "multilingual.txt").read_text(encoding="utf-8")
    photos = sorted((ASSETS / "images").iterdir())
    sounds = sorted((ASSETS / "audio").iterdir())
    counts = {"text": 0, "image": 0, "audio": 0, "video": 0}
    for i in range(n):
        kind = {"t": "text", "i": "image", "a": "audio", "v": "video"}[PATTERN[i % len(PATTERN)]]
        if kind == "text":
            (folder / f"{i:04d}-text.txt").write_text(f"Item {i}.\n{text}", encoding="utf-8")
        else:
            src = {"image": photos, "audio": sounds, "video": [ASSETS / "video" / "cityCC0.mpg"]}[kind]
            src = src[counts[kind] % len(src)]
            shutil.copy(src, folder / f"{i:04d}-{kind}{src.suffix}")
        counts[kind] += 1
    return counts


def single_process(corpus: Path, out: Path | None, shard_size: int, threads: int | None = None) -> Measured:
    """The time to tokenize every row in this process (and, with ``out``, to write the same shards there)."""
    rows = read_corpus(corpus)
    default_threads = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads)
    tok = mmtok.MultimodalTokenizer.default()
    for row in rows[:len(PATTERN)]:  # warm-up: lazy imports and first calls of every modality
        encode_row(tok, row)
    t, p = time.perf_counter(), time.process_time()
    records = []
    for row in rows:
        result = encode_row(tok, row)
        if isinstance(result, RowError):
            raise SystemExit(f"benchmark corpus item failed: {result}")
        if out is not None:
            records.append({"row": row.index, "id": row.id, "path": None, "error": None, "message": None}
                           | sequence_record(result))
    for k in range(0, len(records), shard_size):
        table = pa.Table.from_pylist(records[k:k + shard_size], schema=RESULT_SCHEMA)
        write_shard(out, k // shard_size, table, table.slice(0, 0))
    secs, cpu = time.perf_counter() - t, time.process_time() - p
    torch.set_num_threads(default_threads)
    if out is not None:
        shutil.rmtree(out)
    return Measured(secs, cpu)


def ray_run(corpus: Path, out: Path, workers: int, shard_size: int, batch_size: int, items: int) -> Measured:
    """The time end to end; its value: (steady-state items/s after the first shard, MB of shards written)."""
    config = CorpusConfig(shard_size=shard_size, batch_size=batch_size, workers=workers)
    summary = tokenize_corpus(corpus, out, config)
    assert summary.written == items and summary.errors == 0, summary
    shards = sorted((out / "shards").glob("shard-*.parquet"))
    times = [p.stat().st_mtime_ns / 1e9 for p in shards]
    steady = (items - shard_size) / (times[-1] - times[0]) if len(shards) > 1 else float("nan")
    size = sum(p.stat().st_size for p in shards) / 2**20
    shutil.rmtree(out)
    return Measured(summary.seconds, value=(steady, size))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--shard-size", type=int, default=25)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timed rounds after the warm-up round")
    add_busy_arg(ap)
    args = ap.parse_args()
    import logging

    import ray
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    t_start = time.perf_counter()
    with busy(args.busy), tempfile.TemporaryDirectory(prefix="mmtok-bench-", dir="/tmp") as tmp:
        print(machine(ray=ray.__version__, pyarrow=pa.__version__))
        tmp = Path(tmp)
        corpus = tmp / "corpus"
        corpus.mkdir()
        counts = make_corpus(corpus, args.items)
        size = sum(p.stat().st_size for p in corpus.iterdir()) / 2**20
        print(f"corpus: {args.items} items ({', '.join(f'{v} {k}' for k, v in counts.items())}), {size:.0f} MB; "
              f"shard size {args.shard_size}, batch size {args.batch_size}; a warm-up round, then {args.rounds}")
        steady: dict[int, list[float]] = {1: [], 2: []}

        def ray_side(workers: int) -> Measured:
            m = ray_run(corpus, tmp / "ray-out", workers, args.shard_size, args.batch_size, args.items)
            steady[workers].append(m.value[0])
            return m

        runs = {"single process, encode only": lambda: single_process(corpus, None, args.shard_size),
                "single process, encode + same shards (baseline)":
                    lambda: single_process(corpus, tmp / "single", args.shard_size),
                "single process, encode + same shards, 1 torch thread":
                    lambda: single_process(corpus, tmp / "single", args.shard_size, threads=1),
                "Ray Data, 1 worker": lambda: ray_side(1), "Ray Data, 2 workers": lambda: ray_side(2)}
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        t = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _temp_dir=str(tmp / "ray"),
                 logging_level="WARNING")
        ray_init = time.perf_counter() - t
        try:
            outs, timings = interleaved(list(runs.values()), args.rounds, slow_rounds=args.rounds)
        finally:
            ray.shutdown()
        end = load()
    written = outs[-1].value[1]
    for k in steady:
        del steady[k][0]  # the warm-up round's
    secs = {name: x.median / 1e3 for name, x in zip(runs, timings)}
    base = secs["single process, encode + same shards (baseline)"]
    print(f"ray.init: {ray_init:.1f} s; shards written: {written:.0f} MB per run\n")
    print("| run | median s (range) | items/s | vs baseline | CPU s (this process) | steady items/s (after the "
          "first shard), median (range) |")
    print("|---|---|---|---|---|---|")
    for name, x in zip(runs, timings):
        w = int(name.split(", ")[1][0]) if name.startswith("Ray") else 0
        st = (f"{statistics.median(steady[w]):.1f} ({min(steady[w]):.1f}-{max(steady[w]):.1f})" if w else "-")
        cpu = "-" if math.isnan(x.cpu) else f"{x.cpu / 1e3:.1f}"
        print(f"| {name} | {x.median / 1e3:.1f} ({x.low / 1e3:.1f}-{x.high / 1e3:.1f}) | "
              f"{args.items / secs[name]:.1f} | {base / secs[name]:.2f}x | {cpu} | {st} |")
    print(f"\nload average (1, 5, 15 min) at end {end}; benchmark wall time {time.perf_counter() - t_start:.0f} s\n")
    one, two = secs["Ray Data, 1 worker"], secs["Ray Data, 2 workers"]
    best_single = min(v for k, v in secs.items() if k.startswith("single process, encode + same"))
    s1, s2 = statistics.median(steady[1]), statistics.median(steady[2])
    print(f"Ray Data, 2 workers / single-process baseline, end to end (items/s): {base / two:.2f}x "
          f"({'faster' if two < base else 'NOT faster'}; no numeric target)")
    print(f"Ray Data, 2 workers / fastest single process writing the same shards, end to end: {best_single / two:.2f}x "
          f"({'faster' if two < best_single else 'NOT faster'})")
    print(f"Ray Data, 2 workers / 1 worker: end to end {one / two:.2f}x, steady {s2 / s1:.2f}x; 2 workers' steady "
          f"rate / single-process baseline: {s2 / (args.items / base):.2f}x")


if __name__ == "__main__":
    main()
