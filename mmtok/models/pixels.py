"""Resized uint8 pictures written as the float32 ``pixel_values`` the image processors return, into one buffer.

The Hugging Face image processors rescale and normalize in float32 as ``(x - mean / rescale) / (std / rescale)``
(rescale fused into normalize: ``torch.tensor(mean) * (1 / rescale_factor)``), or only rescale
(``x * rescale_factor``) where ``do_normalize`` is off, then stack the pictures. :func:`normalized` writes the
pictures straight into one float32 tensor from :mod:`mmtok.core.buffers`, block by block: convert, subtract and
divide (or multiply) in place, each block while it is in the core's cache, with no float copy of a picture, no
intermediate tensors and no stacking copy — the same float32 operations on the same values, so the same bits as
``torch.stack([(x.to(torch.float32) - m) / s for x in pictures])``. Blocks run on Python threads of one torch
thread each (:func:`mmtok.core.threads.map_threads`), as Qwen's ``patch_rows`` does: no OpenMP barrier per pass,
which beside busy processes costs a scheduler slice each.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..core import buffers, threads

__all__ = ["normalized", "fused", "BLOCK"]

BLOCK = 1 << 18  # floats per block (1 MB): whole rows of one channel of one picture


def fused(values: Sequence[float], rescale: float) -> torch.Tensor:
    """A mean or std moved to the unscaled (0..255) scale as the processors fuse rescale into normalize:
    ``torch.tensor(values) * (1 / rescale)``, float32 [len(values)]."""
    return torch.tensor(values) * (1.0 / rescale)


def normalized(pictures: Sequence[torch.Tensor], mean: Sequence[float], std: Sequence[float] | None,
               rescale: float) -> torch.Tensor:
    """uint8 pictures of one size, each [3, h, w] (any strides) -> float32 [len(pictures), 3, h, w].

    Each value is ``(float32(v) - m) / s`` with ``m = fused(mean, rescale)`` and ``s = fused(std, rescale)`` per
    channel; with ``std=None`` it is ``float32(v) * float32(rescale)`` (rescale only, ``mean`` unused).
    """
    if not pictures:
        raise ValueError("normalized() needs at least one picture")
    c, h, w = pictures[0].shape
    assert all(tuple(p.shape) == (c, h, w) and p.dtype == torch.uint8 for p in pictures)
    out = buffers.empty((len(pictures), c, h, w), torch.float32)
    if std is None:
        m = s = None
    else:
        m, s = fused(mean, rescale).tolist(), fused(std, rescale).tolist()  # float32 values, one per channel
    rows = max(1, min(h, BLOCK // w))
    blocks = [(i, ch, r) for i in range(len(pictures)) for ch in range(c) for r in range(0, h, rows)]

    def fill(block: tuple[int, int, int]) -> None:
        i, ch, r = block
        dst = out[i, ch, r:r + rows]
        dst.copy_(pictures[i][ch, r:r + rows])  # uint8 -> float32
        if m is None:
            dst.mul_(rescale)
        else:
            dst.sub_(m[ch]).div_(s[ch])

    threads.map_threads(fill, blocks, threads=torch.get_num_threads())
    return out
