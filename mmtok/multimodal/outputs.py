"""Writing decoded contents back to files (``mmtok decode DIR``): text, PNG pictures, PNG frames, WAV audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..audio import SAMPLE_RATE
from ..media.contents import DecodedAudio, DecodedImage, DecodedVideo

__all__ = ["write_contents", "write_png", "write_wav"]


def write_png(pixels: torch.Tensor, path: Path) -> Path:
    """uint8 [3, H, W] -> PNG."""
    from PIL import Image

    Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy()).save(path)
    return path


def write_wav(waveform: torch.Tensor, path: Path, sample_rate: int = SAMPLE_RATE) -> Path:
    """float [S] in [-1, 1] -> 16-bit PCM WAV (samples beyond full scale are clipped: Griffin-Lim can overshoot)."""
    import av

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


def write_contents(items: list, out: Path) -> list[Path]:
    """One file (or folder, for a clip) per item, numbered in order; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, item in enumerate(items):
        stem = out / f"{i:02d}"
        if isinstance(item, str):
            p = stem.with_suffix(".txt")
            p.write_text(item, encoding="utf-8")
        elif isinstance(item, DecodedImage):
            p = write_png(item.pixels, stem.with_name(f"{i:02d}_{item.as_}.png"))
        elif isinstance(item, DecodedVideo):
            p = stem.with_name(f"{i:02d}_video")
            p.mkdir(exist_ok=True)
            for k, frame in enumerate(item.frames):
                write_png(frame, p / f"frame_{k:02d}.png")
            (p / "timestamps.json").write_text(json.dumps(item.timestamps))
        elif isinstance(item, DecodedAudio):
            p = write_wav(item.waveform, stem.with_name(f"{i:02d}_audio.wav"), item.sample_rate)
        else:
            raise TypeError(f"cannot write a {type(item).__name__}")
        paths.append(p)
    return paths
