"""One torch thread for small per-item work, and a pool of such threads for a batch.

Tokenizing one picture or one audio chunk runs a handful of small tensor ops (a resize, a gather, an FFT of a
30 s block). With two intra-op threads, torch's OpenMP workers spin between those ops and take a core from
whatever else runs (FFmpeg decoding, libjpeg-turbo, another process): on the 2-core machine a 10-minute FLAC took
0.6-2.8 s that way against 0.6-0.9 s on one thread, and one 640x427 JPEG 10-35 ms against 1.6-1.8 ms while other
work loaded the machine (2026-11-24; benchmarks/RESULTS.md).

A batch of such items runs faster on several Python threads, each with one torch thread (:func:`map_threads`):
the costly parts (libjpeg-turbo's decode, torch's kernels, MKL's FFT) release the GIL. The helper threads are
kept for the process: a thread's first torch call costs 1-5 ms (OpenMP and MKL set themselves up per thread).

A producer and its consumer overlap with :func:`read_ahead`: the next items are made on a background thread
while the caller works on the current one (a file's audio decode beside its resampling and log-mel).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

from ..errors import ConfigError

__all__ = ["one_torch_thread", "map_threads", "map_blocks", "available_cores", "read_ahead"]

T = TypeVar("T")
R = TypeVar("R")


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(1)``; the previous count is restored on exit. OpenMP and MKL
    keep the count per thread: threads that already ran torch keep theirs (one whose first torch call falls inside
    this window starts with one thread)."""
    n = torch.get_num_threads()
    if n == 1:  # nothing to change (a pool thread, or a process on one thread): setting it costs 10-30 us
        yield
        return
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
    item), each running torch on one thread; the calling thread's torch thread count is restored.

    The calling thread is one of the threads; the others come from one pool kept for the process (a thread's
    first torch call costs 1-5 ms: a pool made per call cost more than a 30 s log-mel). Items are taken in order,
    one at a time, by whichever thread is free. The first exception (in item order) is raised once every started
    call has ended; items not started yet are skipped. Called from inside a pool thread (``fn`` itself mapping),
    it runs the items there, one after the other."""
    items = list(items)
    if threads is None:
        threads = available_cores()
    if type(threads) is not int or threads < 1:
        raise ConfigError(f"threads must be a positive int or None, got {threads!r}")
    threads = min(threads, len(items))
    with one_torch_thread():
        if threads <= 1 or getattr(_LOCAL, "worker", False):
            return [fn(x) for x in items]
        return _run_parallel(fn, items, threads)


def map_blocks(fn: Callable[[int, int], None], n: int, most: int, threads: int | None = None,
               per_thread: int = 1) -> None:
    """``fn(a, b)`` for every block [a, b) of ``range(n)`` on :func:`map_threads`: as few equal blocks as keep each
    at most ``most`` long (the last one shorter by less than one per block: a much smaller last block rounds
    float32 sums differently), on up to ``threads`` threads (default: :func:`available_cores`) with at least
    ``per_thread`` blocks each. Nothing for ``n <= 0``."""
    if n <= 0:
        return
    blocks = -(-n // most)
    size = -(-n // blocks)
    threads = available_cores() if threads is None else threads
    map_threads(lambda a: fn(a, min(n, a + size)), range(0, n, size), max(1, min(threads, blocks // per_thread)))


def _run_parallel(fn: Callable[[T], R], items: list[T], threads: int) -> list[R]:
    results: list = [None] * len(items)
    errors: dict[int, BaseException] = {}
    lock, order = threading.Lock(), iter(range(len(items)))

    def runner() -> None:
        while True:
            with lock:
                i = None if errors else next(order, None)
            if i is None:
                return
            try:
                results[i] = fn(items[i])
            except BaseException as e:  # noqa: BLE001 -- re-raised below, the first in item order
                with lock:
                    errors[i] = e

    pool = _pool(threads - 1)
    helpers = [pool.submit(runner) for _ in range(threads - 1)]
    runner()  # the calling thread takes items too
    for f in helpers:
        if not f.cancel():  # a helper that never started has nothing to finish
            f.result()
    if errors:
        raise errors[min(errors)]
    return results


def read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yield what ``items`` yields, in order, while one background thread takes the next ones (at most ``depth``
    waiting): for a producer whose costly part releases the GIL (FFmpeg's decode), beside a consumer that does.

    An exception raised by ``items`` is raised here, after the items before it. Closing this generator early (or
    an exception in the consumer) stops the thread once it finishes the item it is taking, and waits for it: what
    ``items`` reads (an open file) may be closed right after."""
    if type(depth) is not int or depth < 1:
        raise ConfigError(f"depth must be a positive int, got {depth!r}")
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item: object) -> bool:
        while not stop.is_set():  # a consumer that stopped never takes the item: check it now and then
            try:
                slots.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as e:  # noqa: BLE001 -- handed to the consumer, raised there
            put((end, e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator left partway: its clean-up runs here, on its own thread
                close()

    thread = threading.Thread(target=produce, name="mmtok-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join()


_LOCAL = threading.local()
_POOL_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = [0]  # its threads


def _worker_init() -> None:
    _LOCAL.worker = True
    torch.set_num_threads(1)  # OpenMP keeps the count per thread


def _pool(workers: int) -> ThreadPoolExecutor:
    """The process's pool of helper threads, grown to at least ``workers`` threads."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE[0] < workers:
            _POOL_SIZE[0] = max(workers, available_cores() - 1)
            old, _POOL = _POOL, ThreadPoolExecutor(_POOL_SIZE[0], "mmtok", initializer=_worker_init)
            if old is not None:
                old.shutdown(wait=False)
        return _POOL


def _forget_pool() -> None:
    """In a forked child: the parent's threads did not come along; the next call makes a new pool."""
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows (no fork there)
    os.register_at_fork(after_in_child=_forget_pool)
