"""Large output buffers reused once their last user lets go, instead of fresh memory for every call.

A 6 MP picture's Qwen ``pixel_values`` is a 107 MB float32 tensor; a 32k-token prompt's concatenated feature rows
(``seq.features[label]``) are tens of MB. Fresh memory of that size comes from the kernel page by page on first
write; on this project's VM (a Firecracker guest, 2026-11-30) those faults cost 40-100 ms per picture, and 30 of
the 38 ms of reading a prompt's 40 MB of features, varying with what the process had freed just before — more than
the arithmetic. :func:`empty`
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


def empty(shape: tuple[int, ...], dtype: torch.dtype | np.dtype | type = torch.float32) -> torch.Tensor:
    """An uninitialised, contiguous, writable tensor of ``shape`` and ``dtype`` (torch's, or numpy's); from the
    pool when it is at least :data:`MIN_BYTES` (a free buffer of 1 to 2 times the size needed), else fresh."""
    if not isinstance(dtype, torch.dtype):
        dtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
    need = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    if need < MIN_BYTES or KEEP <= 0:
        return torch.empty(shape, dtype=dtype) if need < MIN_BYTES else _wrap(np.empty(need, np.uint8), dtype, shape)
    with _LOCK:
        pick = None
        for k, (buf, handed) in enumerate(_POOL):
            if handed() is None and need <= buf.nbytes <= 2 * need and (
                    pick is None or buf.nbytes < _POOL[pick][0].nbytes):
                pick = k
        buf = _POOL.pop(pick)[0] if pick is not None else np.empty(need, dtype=np.uint8)
        view = buf[:need]
        _POOL.append((buf, weakref.ref(view)))  # the view lives as long as any tensor on its memory
        free = [k for k, (_, h) in enumerate(_POOL) if h() is None]
        for k in reversed(free[:max(0, len(free) - KEEP)]):  # the oldest free ones beyond KEEP
            del _POOL[k]
        while len(_POOL) > 2 * KEEP:  # buffers still in use are the user's: forget the oldest (freed with them)
            del _POOL[0]
        return _wrap(view, dtype, shape)


def _wrap(raw: np.ndarray, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
    """uint8 numpy memory [nbytes] as a tensor of ``dtype`` and ``shape`` (no copy; the tensor keeps ``raw``)."""
    return torch.from_numpy(raw).view(dtype).view(shape)


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
