"""Which frames of a clip to sample: a packet index read without decoding, and THE sampling rule.

The rule (exact, on integer timestamps):

- Presentation span [start, end): start = the first frame's pts; end = the last frame's pts + its duration.
- Targets t_i = start + (i + 0.5) * (end - start) / N for i = 0 .. N-1.
- The frame for t_i is the one on screen at t_i: the last frame with pts <= t_i. Only timestamps are used (never
  index x nominal frame rate), so variable frame rate works. With fewer frames than N some frames are chosen
  more than once; those picks are marked as repeats.

``read_index`` demuxes every packet of the video stream (no decoding: memory is a few integers per frame) to
learn the presentation timestamps, durations and keyframes. It also checks the packets against what the
container's header promises, since FFmpeg reads a truncated MKV/WebM without an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import DecodeError, LimitError
from ..media.container import open_media

__all__ = ["VideoSource", "ClipIndex", "Samples", "open_video", "read_index", "check_duration", "sample_rule", "nearest_keyframes"]

VideoSource = str | Path | bytes | BinaryIO


def open_video(src: VideoSource, name: str):
    """``av.open`` with mmtok errors; returns (container, video stream)."""
    return open_media(src, name, "video")


@dataclass(frozen=True)
class ClipIndex:
    """Presentation-ordered timestamps of every frame (from packets), in the stream's time base."""

    pts: np.ndarray  # int64 [F], sorted, unique
    durations: np.ndarray  # int64 [F]
    keyframes: np.ndarray  # int64 [K], sorted pts of keyframe packets
    time_base: tuple[int, int]  # seconds per tick = num / den
    width: int
    height: int
    codec: str
    container_duration: float | None  # seconds, from the header when the format states it

    @property
    def start(self) -> int:
        return int(self.pts[0])

    @property
    def end(self) -> int:
        return int(self.pts[-1] + self.durations[-1])

    def seconds(self, ticks) -> np.ndarray:
        return np.asarray(ticks, dtype=np.float64) * self.time_base[0] / self.time_base[1]

    @property
    def duration(self) -> float:
        return float(self.seconds(self.end - self.start))


def read_index(container, stream, name: str, max_duration: float) -> ClipIndex:
    """Demux all packets of ``stream`` (no decoding) and check them against the header."""
    import av

    pts, dur, keys, sizes = [], [], [], 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None and packet.dts is None:
                continue  # flush packets carry no frame
            p = packet.pts if packet.pts is not None else packet.dts
            pts.append(p)
            dur.append(packet.duration or 0)
            if packet.is_keyframe:
                keys.append(p)
            sizes += packet.size
    except av.FFmpegError as e:
        raise DecodeError(f"{name}: reading packets failed ({e})"
                              f"; the file is corrupt or truncated: re-export or re-download it") from None
    if not pts:
        raise DecodeError(f"{name} has a video stream but no frames; the file is empty or truncated")
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    p = np.asarray(pts, dtype=np.int64)[order]
    d = np.asarray(dur, dtype=np.int64)[order]
    p, first = np.unique(p, return_index=True)
    d = d[first]
    tb = stream.time_base
    if tb is None:
        raise DecodeError(f"{name}: the video stream has no time base; re-mux the file")
    _fill_durations(p, d, stream, tb)
    codec = stream.codec_context.name
    # What the header promises for this stream: its own duration, else the container's when it holds nothing else
    # (a container duration may include a longer audio track).
    if stream.duration:
        header = float(stream.duration * tb)
    elif container.duration and len(container.streams) == 1:
        header = float(container.duration) / 1e6
    else:
        header = None
    idx = ClipIndex(p, d, np.unique(np.asarray(keys, dtype=np.int64)), (tb.numerator, tb.denominator),
                    stream.codec_context.width, stream.codec_context.height, codec, header)
    check_duration(idx, name, max_duration)
    _check_complete(idx, stream, container, name)
    return idx


def check_duration(idx: ClipIndex, name: str, max_duration: float) -> None:
    """LimitError when the clip lasts longer than ``max_duration`` seconds (mmtok's guard, named in the error)."""
    if idx.duration > max_duration:
        raise LimitError(f"{name} lasts {idx.duration:.1f} s, more than max_duration={max_duration:.0f} s; raise "
                         f"VideoConfig(max_duration=...) to take it")


def _fill_durations(p: np.ndarray, d: np.ndarray, stream, tb) -> None:
    """Frames whose packet carries no duration last until the next frame; the last one gets the typical gap."""
    missing = d <= 0
    if not missing.any():
        return
    gaps = np.diff(p)
    d[:-1][missing[:-1]] = gaps[missing[:-1]]
    if missing[-1]:
        if len(gaps):
            d[-1] = int(np.median(gaps))
        else:
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            d[-1] = max(1, round(1 / (float(rate) * float(tb)))) if rate else 1


def _check_complete(idx: ClipIndex, stream, container, name: str) -> None:
    """FFmpeg reads a cut file quietly: compare what the packets cover with what the header promises."""
    declared = stream.frames or 0
    if declared and len(idx.pts) < declared and container.format.name.split(",")[0] in ("mov", "mp4"):
        raise DecodeError(f"{name} is truncated: its index lists {declared} frames but only {len(idx.pts)} could be "
                          f"read; re-download or re-encode the file")
    path = getattr(container, "name", None)
    if container.format.name.startswith("matroska") and path and Path(path).is_file():
        size = _matroska_segment_end(Path(path))
        if size is not None and size > Path(path).stat().st_size:
            raise DecodeError(f"{name} is truncated: its Matroska/WebM header declares {size:,} bytes but the file "
                              f"has {Path(path).stat().st_size:,}; re-download or re-encode the file")
    if idx.container_duration and idx.duration < idx.container_duration - max(0.5, 0.02 * idx.container_duration):
        raise DecodeError(f"{name} is truncated: its header says {idx.container_duration:.2f} s but its frames end "
                          f"after {idx.duration:.2f} s; re-download or re-encode the file")


def _matroska_segment_end(path: Path) -> int | None:
    """Byte offset where the Matroska Segment ends, from the EBML header (None if unknown-size or unreadable)."""
    with open(path, "rb") as fh:
        head = fh.read(64)

    def vint(buf: bytes, i: int, keep_marker: bool) -> tuple[int, int]:
        first = buf[i]
        length = 1
        while length <= 8 and not first & (0x80 >> (length - 1)):
            length += 1
        if length > 8 or i + length > len(buf):
            raise ValueError
        value = first if keep_marker else first & (0xFF >> length)
        for b in buf[i + 1:i + length]:
            value = (value << 8) | b
        return value, i + length

    try:
        i = 0
        ebml_id, i = vint(head, i, True)
        size, i = vint(head, i, False)
        i += size  # skip the EBML header body
        seg_id, i = vint(head, i, True)
        length_start = i
        seg_size, i = vint(head, i, False)
    except (ValueError, IndexError):
        return None
    if ebml_id != 0x1A45DFA3 or seg_id != 0x18538067:
        return None
    n = i - length_start
    if seg_size == (1 << (7 * n)) - 1:  # all ones: unknown size (live streams)
        return None
    return i + seg_size


@dataclass(frozen=True)
class Samples:
    """The result of the sampling rule for one clip."""

    indices: np.ndarray  # int64 [N] presentation index of each chosen frame
    targets: np.ndarray  # float64 [N] target times in seconds from the clip start
    repeats: np.ndarray  # bool [N] True where the frame was already chosen for an earlier target
    pts: np.ndarray  # int64 [N] the chosen frames' pts


def sample_rule(idx: ClipIndex, n: int) -> Samples:
    """THE sampling rule (module docstring), computed exactly on integer ticks."""
    start, span = idx.start, idx.end - idx.start
    i = np.arange(n, dtype=np.int64)
    # frame chosen for t_i: last pts with pts <= start + (2i + 1) * span / (2n)  <=>  2n (pts - start) <= (2i+1) span
    lhs = 2 * n * (idx.pts - start)  # [F]
    rhs = (2 * i + 1) * span  # [N]
    chosen = np.searchsorted(lhs, rhs, side="right") - 1
    chosen = np.clip(chosen, 0, len(idx.pts) - 1)  # t_0 >= start always, so this only guards rounding
    repeats = np.zeros(n, dtype=bool)
    repeats[1:] = chosen[1:] == chosen[:-1]
    targets = (2 * i + 1) * span / (2 * n) * idx.time_base[0] / idx.time_base[1]
    return Samples(chosen, targets, repeats, idx.pts[chosen])


def nearest_keyframes(idx: ClipIndex, n: int) -> Samples:
    """Fast, approximate mode: the keyframe nearest each target (ties to the earlier one)."""
    exact = sample_rule(idx, n)
    keys = idx.keyframes if len(idx.keyframes) else idx.pts[:1]
    target_ticks = idx.start + (2 * np.arange(n) + 1) * (idx.end - idx.start) / (2 * n)
    j = np.clip(np.searchsorted(keys, target_ticks), 1, max(1, len(keys) - 1)) if len(keys) > 1 else np.zeros(n, int)
    if len(keys) > 1:
        left, right = keys[j - 1], keys[j]
        j = np.where(target_ticks - left <= right - target_ticks, j - 1, j)
    chosen_pts = keys[j]
    chosen = np.searchsorted(idx.pts, chosen_pts)
    repeats = np.zeros(n, dtype=bool)
    repeats[1:] = chosen[1:] == chosen[:-1]
    return Samples(chosen, exact.targets, repeats, chosen_pts)
