"""Clips made in the tests with PyAV: every frame carries its own index in its pixels (8 vertical bars, a bar
white for a 1 bit), so a test can read which frame came back."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

W, H = 128, 96


def index_frame(i: int, w: int = W, h: int = H) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    bar = w // 8
    for b in range(8):
        if (i >> b) & 1:
            img[:, b * bar:(b + 1) * bar] = 255
    img[: h // 8, : w // 8] = (255, 0, 0)  # a red corner marks "top-left" for rotation tests
    return img


def read_index(img: np.ndarray) -> int:
    """The index written by index_frame, from an [H, W, 3] frame (as decoded, before any resize)."""
    h, w = img.shape[:2]
    bar = w // 8
    grey = img[h // 4:, :, 1].astype(float)  # green channel, below the red corner
    return sum(1 << b for b in range(8) if grey[:, b * bar + bar // 4:(b + 1) * bar - bar // 4].mean() > 127)


CODECS = {  # container format, codec, pixel format, extra options
    "mp4": ("mp4", "libx264", "yuv420p", {"preset": "fast", "bf": "2"}),
    "webm": ("webm", "libvpx-vp9", "yuv420p", {"deadline": "realtime", "cpu-used": "8", "lossless": "1"}),
    "mkv": ("matroska", "libsvtav1", "yuv420p", {"preset": "12"}),
    "mpg": ("mpeg", "mpeg2video", "yuv420p", {}),
    "gif": ("gif", "gif", "rgb8", {}),
    # B-frames that no frame refers to (no B-pyramid), for each decoder mmtok skips such frames in
    "h264-b": ("mp4", "libx264", "yuv420p", {"preset": "fast", "bf": "2", "x264-params": "b-pyramid=none"}),
    "hevc-b": ("mp4", "libx265", "yuv420p", {"preset": "fast", "x265-params": "bframes=2:b-pyramid=0:log-level=error"}),
    "mpeg2-b": ("mpeg", "mpeg2video", "yuv420p", {"bf": "2"}),
    "mpeg1-b": ("mpeg", "mpeg1video", "yuv420p", {"bf": "2"}),
}


def make_clip(path: Path, kind: str = "mp4", pts_seconds=None, n: int = 30, fps: int = 25, gop: int = 10,
              rotation: int | None = None, faststart: bool = False, size=(W, H)) -> list[float]:
    """Write a clip whose frame i shows index i. ``pts_seconds`` gives variable frame times (else i / fps).
    Returns the frame times in seconds."""
    fmt, codec, pix, opts = CODECS[kind]
    if pts_seconds is None:
        pts_seconds = [i / fps for i in range(n)]
    tb = Fraction(1, 100) if fmt == "gif" else Fraction(1, 90000) if fmt == "mpeg" else Fraction(1, 1000)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=fmt, options=options) as out:
        rate = fps if fmt in ("mpeg", "gif") else None
        s = out.add_stream(codec, rate=rate, options=dict(opts, g=str(gop)) if fmt != "gif" else opts)
        s.width, s.height = size
        s.pix_fmt = pix
        if fmt not in ("mpeg", "gif"):
            s.time_base = tb
            s.codec_context.time_base = tb
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i, t in enumerate(pts_seconds):
            frame = av.VideoFrame.from_ndarray(index_frame(i, *size), format="rgb24")
            if fmt != "mpeg":
                frame.pts = round(t / tb)
                frame.time_base = tb
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return list(pts_seconds)


def decoded_times(path: Path) -> list[float]:
    """Ground truth by a full decode: the presentation time of frame i (read from its pixels), in seconds."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        by_index = {read_index(f.to_ndarray(format="rgb24")): float(f.pts * s.time_base) for f in c.decode(s)}
    return [by_index[i] for i in range(len(by_index))]


def expected_indices(times: list[float], n: int, last_duration: float) -> list[int]:
    """THE rule, re-derived independently: the last frame with time <= start + (i + 0.5) * span / n."""
    start, end = times[0], times[-1] + last_duration
    out = []
    for i in range(n):
        t = start + (i + 0.5) * (end - start) / n
        out.append(max(j for j, ft in enumerate(times) if ft <= t + 1e-9))
    return out


def subtitles_only(path: Path, lines: int = 3) -> Path:
    """A Matroska file whose only stream is ASS subtitles (no picture, no sound)."""
    tb = Fraction(1, 1000)
    with av.open(str(path), "w", format="matroska") as out:
        s = out.add_stream("ass")
        s.time_base = tb
        for i in range(lines):
            p = av.Packet(f"{i},0,Default,,0,0,0,,line {i}".encode())
            p.stream, p.pts, p.dts, p.duration, p.time_base = s, i * 1000, i * 1000, 900, tb
            out.mux(p)
    return path
