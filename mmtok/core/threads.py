"""One torch thread for small per-item work, and a pool of such threads for a batch.

Tokenizing one picture or one audio chunk runs a handful of small tensor ops (a resize, a gather, an FFT of a
30 s block). With two intra-op threads, torch's OpenMP workers spin between those ops and take a core from
whatever else runs (FFmpeg decoding, libjpeg-turbo, another process): on the 2-core machine a 10-minute FLAC took
0.6-2.8 s that way against 0.6-0.9 s on one thread, and one 640x427 JPEG 10-35 ms against 1.6-1.8 ms while other
work loaded the machine (2026-11-24; benchmarks/RESULTS.md).

A batch of such items runs faster on several Python threads, each with one torch thread (:func:`map_threads`):
the costly parts (libjpeg-turbo's decode, torch's kernels) release the GIL.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

from ..errors import ConfigError

__all__ = ["one_torch_thread", "map_threads", "available_cores"]

T = TypeVar("T")
R = TypeVar("R")


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(1)``; the previous count is restored on exit. OpenMP and MKL
    keep the count per thread: threads that already ran torch keep theirs (one whose first torch call falls inside
    this window starts with one thread)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def map_threads(fn: Callable[[T], R], items: Iterable[T], threads: int | None = None) -> list[R]:
    """``[fn(x) for x in items]`` on ``threads`` Python threads (default: :func:`available_cores`, at most one per
    item), each running torch on one thread; the calling thread's torch thread count is restored. The first
    exception (in item order) is raised once every started call has ended; calls not started yet are cancelled."""
    items = list(items)
    if threads is None:
        threads = available_cores()
    if type(threads) is not int or threads < 1:
        raise ConfigError(f"threads must be a positive int or None, got {threads!r}")
    threads = min(threads, len(items))
    with one_torch_thread():
        if threads <= 1:
            return [fn(x) for x in items]
        # each worker sets its own OpenMP count (per thread) once; the global count is already 1 here
        pool = ThreadPoolExecutor(threads, initializer=torch.set_num_threads, initargs=(1,))
        try:
            return [f.result() for f in [pool.submit(fn, x) for x in items]]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
