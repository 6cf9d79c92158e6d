"""One torch thread for small per-item work.

Tokenizing one picture or one audio chunk runs a handful of small tensor ops (a resize, a gather, an FFT of a
30 s block). With two intra-op threads, torch's OpenMP workers spin between those ops and take a core from
whatever else runs (FFmpeg decoding, libjpeg-turbo, another process): on the 2-core machine a 10-minute FLAC took
0.6-2.8 s that way against 0.6-0.9 s on one thread, and one 640x427 JPEG 10-35 ms against 1.6-1.8 ms while other
work loaded the machine (2026-11-24; benchmarks/RESULTS.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["one_torch_thread"]


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
