"""What a model's count needs to know about a piece without decoding pixels: a picture's size (its header), a
clip's size, display rotation, duration, frame count, packet index and whether it has sound (its packets and
first frame, in one read), a
sound's exact number of samples at the model's rate (decoded, never featurized).

Reading a long clip's index or decoding a long sound takes a while, and a budget asks every model about the same
piece: results for files are kept per (path, size, modification time), so a changed file is read again.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..media.audioio import stream_audio
from ..media.container import source_name

if TYPE_CHECKING:
    from ..video.index import ClipIndex

__all__ = ["ClipInfo", "clip_info", "audio_samples", "MAX_AUDIO_SECONDS"]

MAX_AUDIO_SECONDS = 24 * 3600.0  # the longest sound a count decodes (a day); longer is a LimitError naming it


@dataclass(frozen=True)
class ClipInfo:
    """A clip as its container and packets describe it (sides as displayed, after rotation)."""

    height: int
    width: int
    seconds: float  # the span of its video frames, from the first frame's start to the last one's end
    frames: int  # video frames in the clip
    fps: float  # frames / seconds (0.0 for an empty clip)
    has_audio: bool  # the container holds a sound track
    index: ClipIndex = field(compare=False, repr=False)  # the packet index these figures come from (coded sides)


def _file_key(src: Any) -> tuple | None:
    """(path, size, mtime) of a file source, or None for in-memory sources (never cached)."""
    if isinstance(src, (str, Path)):
        st = os.stat(src)
        return str(Path(src).resolve()), st.st_size, st.st_mtime_ns
    return None


def clip_info(src: Any) -> ClipInfo:
    """:class:`ClipInfo` of a clip (path, bytes or binary file); unreadable clips raise mmtok's video errors."""
    key = _file_key(src)
    return _clip_info_cached(key, src) if key is not None else _read_clip(src)


@functools.lru_cache(maxsize=64)
def _clip_info_cached(key: tuple, src: Any) -> ClipInfo:
    return _read_clip(src)


def _read_clip(src: Any) -> ClipInfo:
    from ..video.index import open_video, read_index

    name = source_name(src)
    container, stream = open_video(src, name)
    try:
        idx = read_index(container, stream, name, 1e9)
        rotation = 0
        container.seek(0)
        for frame in container.decode(stream):  # the display rotation is only known from a decoded frame
            rotation = int(getattr(frame, "rotation", 0) or 0)
            break
        has_audio = bool(container.streams.audio)
    finally:
        container.close()
    w, h = idx.width, idx.height
    if rotation % 180:
        w, h = h, w
    n, seconds = len(idx.pts), float(idx.duration)
    return ClipInfo(h, w, seconds, n, n / seconds if seconds > 0 else 0.0, has_audio, idx)


def audio_samples(src: Any, sample_rate: int | None, target_rate: int) -> int:
    """The exact number of samples mmtok's audio path makes of ``src`` at ``target_rate`` Hz (mono, resampled
    as :func:`mmtok.media.audioio.stream_audio` does); ``sample_rate`` is that of a raw waveform (None for files)."""
    key = _file_key(src)
    if key is not None and sample_rate is None:
        return _samples_cached(key, src, target_rate)
    return _count(src, sample_rate, target_rate)


@functools.lru_cache(maxsize=256)
def _samples_cached(key: tuple, src: Any, target_rate: int) -> int:
    return _count(src, None, target_rate)


def _count(src: Any, sample_rate: int | None, target_rate: int) -> int:
    return sum(len(c) for c in stream_audio(src, target_rate=target_rate, sample_rate=sample_rate,
                                            max_duration=MAX_AUDIO_SECONDS, chunk_seconds=30))
