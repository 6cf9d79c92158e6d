"""mmtok.core.threads: map_threads (the calling thread plus helpers kept for the process, one torch thread each) and
read_ahead (a producer on a background thread)."""

import multiprocessing
import threading
import time

import pytest
import torch

from mmtok.core.threads import map_blocks, map_threads, read_ahead
from mmtok.errors import ConfigError


def _in_thread(fn, seconds: float = 30):
    """fn() on a daemon thread; its result, or a failure if it has not returned within ``seconds`` (a deadlock)."""
    box = {}
    t = threading.Thread(target=lambda: box.update(r=fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "map_threads blocked"
    return box["r"]


def test_results_in_item_order_on_the_caller_and_kept_helpers():
    """Two items at once (a barrier for two: a serial map breaks it), one on the calling thread, one on a helper
    of the kept pool that later calls use again, with no new thread (a thread's first torch call costs
    milliseconds); each runs torch on one thread and the caller's count comes back."""
    barrier, seen = threading.Barrier(2, timeout=20), []

    def work(i):
        seen.append((threading.get_ident(), torch.get_num_threads()))
        if i < 2:
            barrier.wait()
        return torch.full((3,), float(i)).sum().item()

    before = torch.get_num_threads()
    assert map_threads(work, range(6), threads=2) == [3.0 * i for i in range(6)]
    first = {t for t, _ in seen}
    assert threading.get_ident() in first and len(first) == 2 and all(n == 1 for _, n in seen)
    assert torch.get_num_threads() == before
    pool = {t.ident for t in threading.enumerate() if t.name.startswith("mmtok")}
    assert first - {threading.get_ident()} <= pool
    for _ in range(5):
        seen.clear()
        map_threads(work, range(2), threads=2)
        assert {t for t, _ in seen} - {threading.get_ident()} <= pool  # a kept helper, no new thread
    assert {t.ident for t in threading.enumerate() if t.name.startswith("mmtok")} == pool


def test_one_thread_runs_in_order_on_the_caller():
    order = []
    assert map_threads(lambda i: order.append((i, threading.get_ident())) or i, range(4), threads=1) == [0, 1, 2, 3]
    assert order == [(i, threading.get_ident()) for i in range(4)]
    assert map_threads(lambda i: i, [], threads=2) == []


def test_the_first_error_in_item_order_and_nothing_started_after_it():
    started = []

    def work(i):
        started.append(i)
        if i in (3, 5):
            time.sleep(0.05 if i == 3 else 0)
            raise ValueError(f"item {i}")
        return i

    with pytest.raises(ValueError, match="item 3"):
        map_threads(work, range(40), threads=2)
    assert max(started) < 10  # the rest were skipped
    with pytest.raises(ConfigError, match="threads"):
        map_threads(lambda i: i, [1], threads=0)


@pytest.mark.parametrize("n, most, threads, per_thread", [(0, 512, 2, 1), (1, 512, 2, 1), (512, 512, 2, 1),
                                                         (513, 512, 2, 1), (3000, 512, 2, 1), (1025, 512, 2, 2),
                                                         (1537, 512, 1, 1), (7, 2, 3, 1)])
def test_map_blocks_covers_the_range_in_equal_blocks_on_the_threads_it_may_use(n, most, threads, per_thread):
    seen, lock = [], threading.Lock()

    def fn(a: int, b: int) -> None:
        with lock:
            seen.append((a, b, threading.get_ident()))

    map_blocks(fn, n, most, threads, per_thread)
    spans = sorted((a, b) for a, b, _ in seen)
    blocks = -(-n // most) if n > 0 else 0
    assert len(spans) == blocks
    assert [a for a, _ in spans] == [0] + [b for _, b in spans][:-1] if spans else n <= 0  # contiguous from 0
    assert not spans or spans[-1][1] == n
    lengths = [b - a for a, b in spans]
    assert all(1 <= x <= most for x in lengths) and len(set(lengths[:-1])) <= 1  # equal blocks, then the last
    assert not lengths or lengths[0] - lengths[-1] < blocks  # short by less than one per block
    assert len({t for *_, t in seen}) <= max(1, min(threads, blocks // per_thread))


def test_nested_maps_finish():
    """fn mapping again, from the caller and from the helpers, on more threads than the pool has: no deadlock."""
    inner = lambda j: j * 2  # noqa: E731
    got = _in_thread(lambda: map_threads(lambda i: sum(map_threads(inner, range(i), threads=3)), range(8),
                                         threads=2))
    assert got == [i * (i - 1) for i in range(8)]


def _child(queue):
    barrier = threading.Barrier(2, timeout=10)  # two items at once: a helper must really run

    def work(i):
        if i < 2:
            barrier.wait()
        return i + 1

    queue.put(map_threads(work, range(5), threads=2))


def test_a_forked_child_gets_its_own_helpers():
    """A child forked after the pool exists has none of its threads: it makes new ones (two items run at once)."""
    map_threads(lambda i: i, range(4), threads=2)  # the parent's pool exists
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    p.join(60)
    assert p.exitcode == 0, "the forked child blocked or failed"
    assert q.get(timeout=5) == [1, 2, 3, 4, 5]


def _ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "mmtok-read-ahead"]


def test_read_ahead_yields_in_order_from_another_thread_and_raises_where_the_error_was():
    """The producer runs on its own thread, at most ``depth`` items ahead; its error comes after the items before it."""
    made = []

    def items():
        for i in range(5):
            made.append((i, threading.get_ident()))
            yield i
        raise ValueError("bad item 5")

    got = []
    with pytest.raises(ValueError, match="bad item 5"):
        for x in read_ahead(items(), depth=2):
            got.append(x)
            if x == 0:
                time.sleep(0.2)  # the producer fills the queue meanwhile, and no more than that
                assert len(made) <= 1 + 2 + 1  # the item taken, the queue's two, one waiting to be put
    assert got == [0, 1, 2, 3, 4]
    assert {t for _, t in made} != {threading.get_ident()}
    assert not _ahead_threads()
    with pytest.raises(ConfigError):
        next(read_ahead(iter([1]), depth=0))


def test_read_ahead_closed_early_stops_and_joins_its_thread_and_closes_the_producer():
    """A consumer that stops (break, or its own exception) stops the producer and waits for it, the producer's
    clean-up (what a file reader does in ``finally``) having run before the generator returns."""
    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(threading.get_ident())

    gen = read_ahead(endless(), depth=3)
    assert [next(gen) for _ in range(4)] == [0, 1, 2, 3]
    gen.close()
    assert len(closed) == 1 and closed[0] != threading.get_ident()
    assert not _ahead_threads()
    with pytest.raises(RuntimeError, match="consumer"):
        for x in read_ahead(endless(), depth=1):
            if x == 2:
                raise RuntimeError("consumer failed")
    assert len(closed) == 2 and not _ahead_threads()
