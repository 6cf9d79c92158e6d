"""Writing decoded pixels and samples to files: PNG pictures and 16-bit PCM WAV (what ``DecodedImage.save``,
``DecodedAudio.save``, ``DecodedVideo.save`` and ``mmtok decode`` write)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["write_png", "write_wav", "clipped_samples"]


def write_png(pixels: torch.Tensor, path: str | Path) -> Path:
    """uint8 [3, H, W] -> a picture file; PNG unless the suffix names another format PIL writes (.jpg, .webp)."""
    from PIL import Image

    path = Path(path)
    Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy()).save(path)
    return path


def write_wav(waveform: torch.Tensor, path: str | Path, sample_rate: int) -> Path:
    """float [S] in [-1, 1] -> 16-bit PCM mono WAV. Samples beyond full scale (Griffin-Lim can overshoot) are
    clipped to it; how many were is returned by :func:`clipped_samples` for the caller to report."""
    import av

    path = Path(path)
    data = np.clip(np.round(waveform.numpy() * 32767), -32768, 32767).astype(np.int16)[None]
    with av.open(str(path), "w", format="wav") as out:
        s = out.add_stream("pcm_s16le", rate=sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for p in s.encode(frame):
            out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def clipped_samples(waveform: torch.Tensor) -> int:
    """How many samples of a float waveform lie beyond 16-bit full scale (clipped when written as WAV)."""
    return int((waveform.abs() * 32767 > 32767.5).sum())
