"""The pool of large output buffers (mmtok.core.buffers): memory is reused only once no tensor, view or numpy
array on it is left, never shared between live tensors, and released on request."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest
import torch

from mmtok.core import buffers

BIG = (3, 1 << 20)  # 12 MB of float32: pooled


@pytest.fixture(autouse=True)
def empty_pool():
    buffers.release()
    yield
    gc.collect()
    buffers.release()


def test_a_buffer_let_go_is_reused_and_one_in_use_never_is():
    a = buffers.empty(BIG)
    a.fill_(1.0)
    ptr = a.data_ptr()
    b = buffers.empty(BIG)  # a is in use: other memory
    assert b.data_ptr() != ptr
    b.fill_(2.0)
    assert bool((a == 1.0).all())
    del a
    c = buffers.empty(BIG)
    assert c.data_ptr() == ptr and c.shape == BIG and c.dtype == torch.float32 and c.is_contiguous()


@pytest.mark.parametrize("keep", ["view", "numpy", "slice"])
def test_anything_on_the_memory_keeps_it_taken(keep):
    a = buffers.empty(BIG)
    a.fill_(7.0)
    ptr = a.data_ptr()
    held = {"view": lambda t: t.view(-1), "numpy": lambda t: t.numpy(), "slice": lambda t: t[1:2]}[keep](a)
    del a
    gc.collect()
    b = buffers.empty(BIG)
    assert b.data_ptr() != ptr
    b.fill_(0.0)
    assert float(np.asarray(held).max()) == 7.0  # untouched by the new buffer's writes


def test_sizes_small_requests_and_release():
    a = buffers.empty((6, 1 << 20))  # 24 MB
    ptr = a.data_ptr()
    del a
    small = buffers.empty((1, 1 << 20))  # 4 MB: below MIN_BYTES, never pooled
    assert small.data_ptr() != ptr
    half = buffers.empty((1, 1 << 20), np.float64)  # 8 MB, less than half of the free 24 MB: fresh memory
    assert half.data_ptr() != ptr
    u8 = buffers.empty((20, 1 << 20), np.uint8)  # 20 MB in another dtype: the free buffer
    assert u8.data_ptr() == ptr and u8.dtype == torch.uint8
    del u8, half
    assert buffers.kept_bytes() == (24 + 8) << 20
    assert buffers.release() == (24 + 8) << 20
    assert buffers.release() == 0 and buffers.kept_bytes() == 0


def test_threads_never_share_a_buffer():
    seen, errors = [], []

    def work(k: int) -> None:
        for _ in range(20):
            t = buffers.empty(BIG)
            t.fill_(float(k))
            seen.append(t.data_ptr())
            if not bool((t == float(k)).all()):
                errors.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(set(seen)) < len(seen)  # and memory was reused
    assert len(buffers._POOL) <= 2 * buffers.KEEP


def test_a_sequences_concatenated_features_reuse_a_dropped_sequences_memory():
    """``seq.features[label]`` concatenates into pooled memory: equal to torch.cat of the parts, and a second
    sequence's read takes the memory the first let go (no fresh pages for every prompt of a loop)."""
    import mmtok
    from mmtok import Modality, Segment, sequential_positions

    vocab = mmtok.TextTokenizer.default().vocab
    ph = vocab.placeholder(Modality.AUDIO)
    g = torch.Generator().manual_seed(0)

    def prompt():
        return [Segment(Modality.AUDIO, torch.full((2048,), ph), sequential_positions(2048),
                        torch.randn(2048, 640, generator=g)) for _ in range(2)]  # 2 x 5 MB: 10 MB concatenated

    segs = prompt()
    seq = mmtok.pack(segs, vocab)
    first = seq.features["audio"]
    assert torch.equal(first, torch.cat([s.features for s in segs]))
    ptr = first.data_ptr()
    del seq, first
    segs = prompt()
    again = mmtok.pack(segs, vocab).features["audio"]
    assert again.data_ptr() == ptr and torch.equal(again, torch.cat([s.features for s in segs]))
