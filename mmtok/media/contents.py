"""The pieces of a prompt a user hands to ``MultimodalTokenizer`` or a ``ModelProcessor`` (references to media: a
picture, a clip, a sound), and what ``decode`` gives back (pixels and samples). Plain data, no tokens."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError

__all__ = ["Image", "Video", "Audio", "DecodedImage", "DecodedVideo", "DecodedAudio"]


@dataclass(frozen=True)
class Image:
    """A picture (path, bytes, PIL, numpy HWC or torch CHW uint8) read as ViT ``"patches"`` or VQ ``"codes"``."""

    src: Any
    as_: str = "patches"

    def __post_init__(self) -> None:
        if self.as_ not in ("patches", "codes"):
            raise ConfigError(f"Image(as_={self.as_!r}); use 'patches' (to read it) or 'codes' (to write it)")


@dataclass(frozen=True)
class Video:
    """A clip (path, bytes or binary file); ``audio=True`` interleaves its sound track with the frames by time."""

    src: Any
    audio: bool = False


@dataclass(frozen=True)
class Audio:
    """Sound: a file of any common format, or a float waveform with its ``sample_rate``."""

    src: Any
    sample_rate: int | None = None


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """What an image segment decodes to: the exact processed picture (patches) or the VQ reconstruction (codes)."""

    pixels: torch.Tensor  # uint8 [3, H, W]
    as_: str
    source: str | None = None

    def save(self, path: str | Path) -> Path:
        """Write the picture (PNG, or the format the suffix names: .jpg, .webp, ...); returns the path."""
        from .writers import write_png

        return write_png(self.pixels, path)


@dataclass(frozen=True, eq=False)
class DecodedVideo:
    frames: torch.Tensor  # uint8 [N, 3, H, W], the processed frames
    timestamps: list[float]  # seconds from the clip start
    audio: torch.Tensor | None = None  # float32 [S] at 16 kHz when the clip's sound was interleaved
    source: str | None = None

    def save(self, folder: str | Path) -> Path:
        """Write ``frame_00.png``, ... , ``timestamps.json`` and, with sound, ``audio.wav`` (16 kHz) into
        ``folder`` (made if missing); returns the folder."""
        import json

        from .writers import write_png, write_wav

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for k, frame in enumerate(self.frames):
            write_png(frame, folder / f"frame_{k:02d}.png")
        (folder / "timestamps.json").write_text(json.dumps(self.timestamps))
        if self.audio is not None:
            write_wav(self.audio, folder / "audio.wav", 16_000)
        return folder


@dataclass(frozen=True, eq=False)
class DecodedAudio:
    waveform: torch.Tensor  # float32 [S], approximate (Griffin-Lim)
    sample_rate: int  # Hz (16 kHz from MultimodalTokenizer.decode: mmtok.audio.SAMPLE_RATE)
    source: str | None = None

    def save(self, path: str | Path) -> Path:
        """Write a 16-bit PCM mono WAV at ``sample_rate``; returns the path. Samples beyond full scale are clipped
        (Griffin-Lim can overshoot): a ``UserWarning`` says how many."""
        import warnings

        from .writers import clipped_samples, write_wav

        if n := clipped_samples(self.waveform):
            warnings.warn(f"{n} of {len(self.waveform)} samples lie beyond full scale and are clipped in {path}",
                          stacklevel=2)
        return write_wav(self.waveform, path, self.sample_rate)
