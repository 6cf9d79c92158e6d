"""Large output buffers reused once their last user lets go, instead of fresh memory for every call.

A 6 MP picture's Qwen ``pixel_values`` is a 107 MB float32 tensor. Fresh memory of that size comes from the kernel
page by page on first write; on this project's VM (a Firecracker guest, 2026-11-30) those faults cost 40-100 ms
per picture and varied with what the process had freed just before — more than the arithmetic. :func:`empty`
hands out buffers of at least :data:`MIN_BYTES` from a small pool instead: a buffer whose tensors (and every view
or ``.numpy()`` of them) are all gone is reused by the next call of about its size (1 to 2 times). Up to
:data:`KEEP` free buffers stay allocated between calls (a loop over 6 MP Qwen pictures: two resized pictures of
18 MB and two ``pixel_values`` of 107 MB); at most ``2 * KEEP`` buffers are tracked (older ones still in use are
forgotten and freed with their tensors); :func:`release` frees the free ones. Buffers come from numpy, which asks
Linux for transparent huge pages on large allocations. Thread-safe.
"""

from __future__ import annotations

import math
import threading
import weakref

import numpy as np
import torch

__all__ = ["empty", "release", "kept_bytes", "KEEP", "MIN_BYTES"]

KEEP = 4  # free buffers kept for reuse (0: no pool, every call allocates)
MIN_BYTES = 8 << 20  # smaller buffers are cheap to fault in: plain np.empty

_LOCK = threading.Lock()
_POOL: list[tuple[np.ndarray, weakref.ref]] = []  # (buffer, the view handed out last), oldest first


def empty(shape: tuple[int, ...], dtype: np.dtype | type = np.float32) -> torch.Tensor:
    """An uninitialised, contiguous, writable tensor of ``shape`` and numpy ``dtype``; from the pool when it is at
    least :data:`MIN_BYTES` (a free buffer of 1 to 2 times the size needed), else fresh."""
    dtype = np.dtype(dtype)
    n = math.prod(shape)
    if n * dtype.itemsize < MIN_BYTES or KEEP <= 0:
        return torch.from_numpy(np.empty(shape, dtype=dtype))
    need = n * dtype.itemsize
    with _LOCK:
        pick = None
        for k, (buf, handed) in enumerate(_POOL):
            if handed() is None and need <= buf.nbytes <= 2 * need and (
                    pick is None or buf.nbytes < _POOL[pick][0].nbytes):
                pick = k
        buf = _POOL.pop(pick)[0] if pick is not None else np.empty(need, dtype=np.uint8)
        view = buf[:need].view(dtype).reshape(shape)
        _POOL.append((buf, weakref.ref(view)))  # the view lives as long as any tensor on its memory
        free = [k for k, (_, h) in enumerate(_POOL) if h() is None]
        for k in reversed(free[:max(0, len(free) - KEEP)]):  # the oldest free ones beyond KEEP
            del _POOL[k]
        while len(_POOL) > 2 * KEEP:  # buffers still in use are the user's: forget the oldest (freed with them)
            del _POOL[0]
        return torch.from_numpy(view)


def release() -> int:
    """Free the pooled buffers no tensor uses any more; returns the bytes freed. Buffers in use stay theirs."""
    with _LOCK:
        free = [k for k, (_, h) in enumerate(_POOL) if h() is None]
        freed = sum(_POOL[k][0].nbytes for k in free)
        for k in reversed(free):
            del _POOL[k]
        return freed


def kept_bytes() -> int:
    """Bytes the pool holds, in use or free."""
    with _LOCK:
        return sum(buf.nbytes for buf, _ in _POOL)
