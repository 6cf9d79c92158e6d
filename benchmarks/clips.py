"""The video benchmark's clips, made once with PyAV (its bundled FFmpeg: libx264, libvpx-vp9, libsvtav1) into a cache.

Material: the bundled 5312x2988 photo (``assets/images/seeding_by_Clements_Engelhardt.jpg``) panned and zoomed at
sub-pixel steps (real detail at full resolution), the bundled real clip ``assets/video/cityCC0.mpg`` (720x405,
MPEG-2, 190 frames; scaled and played forward then backward to loop without a cut), and FFmpeg's ``testsrc2``
pattern. ``CLIPS`` names every clip with its maker; :func:`clip` makes one if its file is not in the cache yet
(written to a ``.part`` file first, so an interrupted run leaves nothing half-made).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "assets" / "images" / "seeding_by_Clements_Engelhardt.jpg"
CITY = ROOT / "assets" / "video" / "cityCC0.mpg"

__all__ = ["CLIPS", "MEMORY_CLIPS", "clip"]


def pan(w: int, h: int, n: int, zoom: tuple[float, float] = (0.4, 0.8)) -> Iterator[np.ndarray]:
    """``n`` RGB frames [h, w, 3]: a window of the photo gliding across it, its width zooming between the two
    shares of the photo's width in ``zoom``."""
    photo = Image.open(PHOTO).convert("RGB")
    pw, ph = photo.size
    lo, hi = zoom
    for i in range(n):
        t = i / max(1, n - 1)
        scale = lo + (hi - lo) * (0.5 + 0.5 * math.cos(2 * math.pi * t))  # window width as a share of the photo's
        cw, ch = pw * scale, pw * scale * h / w
        x = (pw - cw) * (0.5 - 0.5 * math.cos(math.pi * t))
        y = (ph - ch) * (0.5 + 0.4 * math.sin(3 * math.pi * t))
        yield np.asarray(photo.resize((w, h), Image.Resampling.BILINEAR, box=(x, y, x + cw, y + ch)))


def city(w: int, h: int, n: int) -> Iterator[np.ndarray]:
    """``n`` RGB frames [h, w, 3] of the bundled clip, scaled, played forward and backward in turn."""
    with av.open(str(CITY)) as c:
        frames = [f.reformat(width=w, height=h, format="rgb24").to_ndarray() for f in c.decode(video=0)]
    loop = frames + frames[-2:0:-1]
    for i in range(n):
        yield loop[i % len(loop)]


def testsrc2(w: int, h: int, n: int, fps: int) -> Iterator[np.ndarray]:
    """``n`` RGB frames of FFmpeg's testsrc2 pattern (a moving test card with a frame counter)."""
    with av.open(f"testsrc2=size={w}x{h}:rate={fps}:duration={math.ceil(n / fps)}", format="lavfi") as src:
        for i, f in enumerate(src.decode(video=0)):
            if i == n:
                break
            yield f.to_ndarray(format="rgb24")


def encode(path: Path, frames: Iterator[np.ndarray], codec: str, times: list[Fraction],
           options: dict[str, str], rate: int = 30) -> Path:
    """Write ``frames`` shown at ``times`` (seconds) with ``codec`` (nominal frame ``rate``); returns ``path``."""
    tmp = path.with_name(path.stem + ".part" + path.suffix)
    tb = Fraction(1, 90000)
    with av.open(str(tmp), "w") as out:
        s = out.add_stream(codec, rate=rate, options=options)
        s.time_base = s.codec_context.time_base = tb
        s.pix_fmt = "yuv420p"
        for k, (rgb, t) in enumerate(zip(frames, times)):
            if k == 0:
                s.height, s.width = rgb.shape[:2]
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = round(t / tb), tb
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    tmp.rename(path)
    return path


def cfr(n: int, fps: int) -> list[Fraction]:
    return [Fraction(i, fps) for i in range(n)]


def vfr(n: int) -> list[Fraction]:
    """Frame times of a phone-like variable rate: mostly 1/30 s apart, bursts at 1/60, drops of 1/20 and 1/12."""
    gaps = np.random.default_rng(20).choice([2, 3, 3, 3, 3, 3, 4, 5, 6, 8, 10], size=n - 1)  # in 1/60 s
    return [Fraction(0)] + [Fraction(int(g), 60) for g in np.cumsum(gaps)]


X264 = {"preset": "fast", "crf": "23", "bf": "3"}


def _x264(gop: int) -> dict[str, str]:
    return dict(X264, g=str(gop), keyint_min=str(gop), sc_threshold="0")


# label -> (file name, maker(path)); the labels are the rows of the benchmark's tables
CLIPS: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "1080p H.264 GOP 30 B-frames, 20 s (photo pan)": (
        "pan1080_h264_gop30.mp4", lambda p: encode(p, pan(1920, 1080, 600), "libx264", cfr(600, 30), _x264(30))),
    "1080p H.264 GOP 30 B-frames, 20 s (testsrc2)": (
        "testsrc1080_h264_gop30.mp4",
        lambda p: encode(p, testsrc2(1920, 1080, 600, 30), "libx264", cfr(600, 30), _x264(30))),
    "720p H.264 GOP 250, 60 s (cityCC0 scaled)": (
        "city720_h264_gop250.mp4", lambda p: encode(p, city(1280, 720, 1500), "libx264", cfr(1500, 25), _x264(250))),
    "1080p VP9 WebM GOP 120, 20 s (photo pan)": (
        "pan1080_vp9.webm", lambda p: encode(p, pan(1920, 1080, 600), "libvpx-vp9", cfr(600, 30),
                                             {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0",
                                              "g": "120", "row-mt": "1"})),
    "1080p AV1 (SVT-AV1) GOP 120, 20 s (photo pan)": (
        "pan1080_av1.mp4", lambda p: encode(p, pan(1920, 1080, 600), "libsvtav1", cfr(600, 30),
                                            {"preset": "10", "crf": "35", "g": "120"})),
    "720p H.264 variable frame rate, 900 frames (cityCC0 scaled)": (
        "city720_h264_vfr.mp4", lambda p: encode(p, city(1280, 720, 900), "libx264", vfr(900), _x264(60))),
    "4K H.264 GOP 60 B-frames, 10 s (photo pan)": (
        "pan2160_h264_gop60.mp4",
        lambda p: encode(p, pan(3840, 2160, 300, (0.72, 0.95)), "libx264", cfr(300, 30), _x264(60))),
    "cityCC0.mpg (bundled, MPEG-2 program stream)": ("", lambda p: CITY),
}

# Peak memory in clip length: the same kind of clip, 1 min and 10 min (testsrc2, 720p, 25 fps, GOP 250)
MEMORY_CLIPS: dict[str, tuple[str, Callable[[Path], Path]]] = {
    f"{m} min": (f"testsrc720_h264_gop250_{m}min.mp4",
                 lambda p, m=m: encode(p, testsrc2(1280, 720, 1500 * m, 25), "libx264", cfr(1500 * m, 25),
                                       dict(_x264(250), preset="veryfast")))
    for m in (1, 10)
}


def clip(cache: Path, label: str, table: dict | None = None) -> Path:
    """The clip ``label`` of ``table`` (default :data:`CLIPS`), made into ``cache`` on first use."""
    name, make = (table or CLIPS)[label]
    if not name:
        return make(cache)
    path = cache / name
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        make(path)
    return path
