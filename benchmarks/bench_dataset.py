"""Corpus tokenization on Ray Data (issue 11): items/s of the single-process baseline and of 1 and 2 local Ray
workers on the same 200 mixed items, in one run.

Run: .venv/bin/python benchmarks/bench_dataset.py [--items 200] [--shard-size 25] [--batch-size 4]
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

Every configuration runs ``--repeat`` times (interleaved) and the fastest run is shown: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import torch

import mmtok
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


def single_process(corpus: Path, out: Path | None, shard_size: int, threads: int | None = None) -> float:
    """Seconds to tokenize every row in this process (and, with ``out``, to write the same shards there)."""
    rows = read_corpus(corpus)
    default_threads = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads)
    tok = mmtok.MultimodalTokenizer.default()
    for row in rows[:len(PATTERN)]:  # warm-up: lazy imports and first calls of every modality
        encode_row(tok, row)
    t = time.perf_counter()
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
    secs = time.perf_counter() - t
    torch.set_num_threads(default_threads)
    if out is not None:
        shutil.rmtree(out)
    return secs


def ray_run(corpus: Path, out: Path, workers: int, shard_size: int, batch_size: int, items: int) -> tuple:
    """(seconds end to end, steady-state items/s after the first shard, MB of shards written)."""
    config = CorpusConfig(shard_size=shard_size, batch_size=batch_size, workers=workers)
    summary = tokenize_corpus(corpus, out, config)
    assert summary.written == items and summary.errors == 0, summary
    shards = sorted((out / "shards").glob("shard-*.parquet"))
    times = [p.stat().st_mtime_ns / 1e9 for p in shards]
    steady = (items - shard_size) / (times[-1] - times[0]) if len(shards) > 1 else float("nan")
    size = sum(p.stat().st_size for p in shards) / 2**20
    shutil.rmtree(out)
    return summary.seconds, steady, size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--shard-size", type=int, default=25)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    import logging

    import ray
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    t_start = time.perf_counter()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), ray {ray.__version__}, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="mmtok-bench-", dir="/tmp") as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus"
        corpus.mkdir()
        counts = make_corpus(corpus, args.items)
        size = sum(p.stat().st_size for p in corpus.iterdir()) / 2**20
        print(f"corpus: {args.items} items ({', '.join(f'{v} {k}' for k, v in counts.items())}), {size:.0f} MB; "
              f"shard size {args.shard_size}, batch size {args.batch_size}, best of {args.repeat}")
        single = {"single process, encode only": lambda: single_process(corpus, None, args.shard_size),
                  "single process, encode + same shards (baseline)":
                      lambda: single_process(corpus, tmp / "single", args.shard_size),
                  "single process, encode + same shards, 1 torch thread":
                      lambda: single_process(corpus, tmp / "single", args.shard_size, threads=1)}
        runs: dict[str, list] = {name: [] for name in single}
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        t = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _temp_dir=str(tmp / "ray"),
                 logging_level="WARNING")
        ray_init = time.perf_counter() - t
        written = 0.0
        try:
            for _ in range(args.repeat):
                for name, fn in single.items():
                    runs[name].append((fn(), float("nan")))
                for workers in (1, 2):
                    secs, steady, written = ray_run(corpus, tmp / "ray-out", workers, args.shard_size,
                                                    args.batch_size, args.items)
                    runs.setdefault(f"Ray Data, {workers} worker{'s' * (workers > 1)}", []).append((secs, steady))
        finally:
            ray.shutdown()
    best = {name: min(r, key=lambda x: x[0]) for name, r in runs.items()}
    base = best["single process, encode + same shards (baseline)"][0]
    print(f"ray.init: {ray_init:.1f} s; shards written: {written:.0f} MB per run\n")
    print("| run | seconds | items/s | vs baseline | steady items/s (after the first shard) |")
    print("|---|---|---|---|---|")
    for name, (secs, steady) in best.items():
        steady_s = "-" if steady != steady else f"{steady:.1f}"
        print(f"| {name} | {secs:.1f} | {args.items / secs:.1f} | {base / secs:.2f}x | {steady_s} |")
    print("\nall runs (seconds): " + "; ".join(f"{k}: {', '.join(f'{s:.1f}' for s, _ in v)}" for k, v in runs.items()))
    print(f"benchmark wall time: {time.perf_counter() - t_start:.0f} s")
    print(json.dumps({name: round(args.items / secs, 2) for name, (secs, _) in best.items()}))


if __name__ == "__main__":
    main()
