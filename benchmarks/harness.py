"""One timing protocol for mmtok's benchmarks: the machine line, warm-up, interleaved rounds, median and range, CPU.

- :func:`machine` is the line every benchmark prints first: CPU model, cores, torch threads, versions and the load
  average (1, 5, 15 min) at that moment; :func:`load` is the load average alone (print it again at the end).
- :func:`busy` is the loaded condition: ``n`` processes spinning on a core each while its block runs (RESULTS'
  "beside two busy processes" is ``--busy 2``); :func:`add_busy_arg` adds that option to a benchmark's parser.
- :func:`interleaved` times several functions doing the same work side by side: one warm-up call each (its output
  is returned, to compare the sides), then rounds ``a, b, c, a, b, c, ...`` so that drift in the machine's speed
  hits every side alike, at least ``rounds`` rounds and ``min_seconds`` of them (a quick input gets more rounds).
  Each side's :class:`Timing`: the median wall time, the range and the mean over the rounds, and the median CPU
  time of a call (``time.process_time``: every thread of the process, so CPU / wall tells how many cores a side kept busy).
  A function that must leave set-up out of its time (a tokenizer's build, a cluster's start) times itself and
  returns a :class:`Measured`: its ``seconds`` (and ``cpu``, when given; else the CPU column shows "-") are then
  the call's figures.
- :func:`once` is the same protocol for a run too long to repeat (minutes): one timed call, no warm-up; say so.

Run a benchmark as a script (``.venv/bin/python benchmarks/bench_x.py``): ``benchmarks/`` is then on the path and
``from harness import ...`` works.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Measured", "Timing", "add_busy_arg", "busy", "cpu_name", "load", "machine", "interleaved", "once"]


@dataclass(frozen=True)
class Timing:
    """One side's figures over the timed rounds (milliseconds)."""

    median: float  # wall time of a call, median over the rounds
    low: float  # fastest round
    high: float  # slowest round
    cpu: float  # CPU time of a call (all threads), median; nan when not measured (see Measured)
    rounds: int
    mean: float = math.nan  # wall time of a call, mean over the rounds: the expected cost, waits included (beside
    # busy processes a call of a few ms is either run through or held a scheduler slice, and the median of such a
    # two-mode spread flips between the modes on a few % more work)

    def __str__(self) -> str:
        cpu = "-" if math.isnan(self.cpu) else f"{self.cpu:.1f}"
        return f"{self.median:.1f} ms ({self.low:.1f}-{self.high:.1f}, cpu {cpu}, n={self.rounds})"


@dataclass(frozen=True)
class Measured:
    """What a function timed by :func:`interleaved` or :func:`once` returns when it times its own work."""

    seconds: float  # wall time of the work (set-up left out)
    cpu: float = math.nan  # CPU seconds of the work in this process (all threads); nan: not measured
    value: Any = None  # anything else the caller wants back (e.g. the output, to compare the sides)


def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it (else what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> str:
    """The load average now: 1, 5 and 15 min."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


BUSY = 0  # busy processes running now (set by :func:`busy`; printed by :func:`machine`)


@contextmanager
def busy(n: int) -> Iterator[None]:
    """Run the block beside ``n`` processes that each spin on one core (a pure-Python loop, no memory traffic)."""
    global BUSY
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    BUSY = n
    try:
        if n:
            time.sleep(1.0)  # let them start and the scheduler settle
        yield
    finally:
        BUSY = 0
        for p in procs:
            p.kill()
            p.wait()


def add_busy_arg(ap: argparse.ArgumentParser) -> None:
    """``--busy N``: run the benchmark beside N spinning processes (default 0: the machine as it is)."""
    ap.add_argument("--busy", type=int, default=0, metavar="N",
                    help="run beside N processes spinning on a core each (RESULTS' loaded condition is 2)")


def machine(**versions: str) -> str:
    """The line a benchmark prints first: machine, threads, versions (torch, and any given) and the load now."""
    import torch

    extra = "".join(f", {k} {v}" for k, v in versions.items())
    return (f"machine: {platform.machine()} {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
            f"threads; torch {torch.__version__}{extra}; {BUSY} busy processes beside it; load average (1, 5, 15 min) "
            f"at start {load()}")


def interleaved(fns: Sequence[Callable[[], Any]], rounds: int = 3, min_seconds: float = 0.5,
                slow_rounds: int | None = None, slow: float = 1.0) -> tuple[list[Any], list[Timing]]:
    """(each function's warm-up output, each function's :class:`Timing`).

    At least ``rounds`` interleaved rounds and ``min_seconds`` of them; when the first function's warm-up took over
    ``slow`` seconds, exactly ``slow_rounds`` rounds (default ``rounds``) and no minimum time. A function that
    returns a :class:`Measured` is timed by it (its warm-up output is that :class:`Measured`).
    """
    outs, first = [], 0.0
    for i, fn in enumerate(fns):
        t = time.perf_counter()
        outs.append(fn())
        if i == 0:
            first = time.perf_counter() - t
    is_slow = first > slow
    want = (slow_rounds or rounds) if is_slow else rounds
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    while len(wall[0]) < want or (not is_slow and time.perf_counter() - start < min_seconds):
        for fn, w, c in zip(fns, wall, cpu):
            seconds, cpu_seconds, _ = _call(fn)
            w.append(seconds)
            c.append(cpu_seconds)
    return outs, [_timing(w, c) for w, c in zip(wall, cpu)]


def once(fn: Callable[[], Any]) -> tuple[Any, Timing]:
    """(the output, its :class:`Timing` over one round): a single timed call, no warm-up, for runs of minutes."""
    seconds, cpu_seconds, out = _call(fn)
    return out, _timing([seconds], [cpu_seconds])


def _call(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, output) of one call; a :class:`Measured` output gives its own figures."""
    t, p = time.perf_counter(), time.process_time()
    out = fn()
    cpu, wall = time.process_time() - p, time.perf_counter() - t
    if isinstance(out, Measured):
        return out.seconds, out.cpu, out
    return wall, cpu, out


def _timing(wall: list[float], cpu: list[float]) -> Timing:
    return Timing(statistics.median(wall) * 1e3, min(wall) * 1e3, max(wall) * 1e3, statistics.median(cpu) * 1e3,
                  len(wall), statistics.fmean(wall) * 1e3)
