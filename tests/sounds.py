"""Audio files made in the tests with PyAV (no committed binaries besides the bundled real clips)."""

from pathlib import Path

import av
import numpy as np

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "audio"

FORMATS = {  # extension: (container format, codec, sample format)
    "wav": ("wav", "pcm_s16le", "s16"),
    "u8.wav": ("wav", "pcm_u8", "u8"),
    "s24.wav": ("wav", "pcm_s24le", "s32"),  # decoded as s32
    "s32.wav": ("wav", "pcm_s32le", "s32"),
    "f32.wav": ("wav", "pcm_f32le", "flt"),
    "f64.wav": ("wav", "pcm_f64le", "dbl"),
    "flac": ("flac", "flac", "s16"),
    "mp3": ("mp3", "libmp3lame", "fltp"),
    "ogg": ("ogg", "libopus", "flt"),
    "m4a": ("ipod", "aac", "fltp"),
}


def tone(seconds: float, rate: int, channels: int = 1, freq: float = 440.0, seed: int = 0) -> np.ndarray:
    """float32 [channels, n]: a decaying tone per channel (different pitch each) plus a little noise."""
    t = np.arange(int(round(seconds * rate))) / rate
    rng = np.random.default_rng(seed)
    x = [0.3 * np.sin(2 * np.pi * freq * (1 + c / 4) * t) * np.exp(-t / 3) + 0.02 * rng.standard_normal(len(t))
         for c in range(channels)]
    return np.stack(x).astype(np.float32)


def write_audio(path: Path, x: np.ndarray, rate: int, kind: str = "wav") -> Path:
    fmt, codec, sample_fmt = FORMATS[kind]
    channels = x.shape[0]
    layout = {1: "mono", 2: "stereo", 3: "3.0", 6: "5.1", 8: "7.1"}[channels]
    with av.open(str(path), "w", format=fmt) as out:
        s = out.add_stream(codec, rate=rate if codec != "libopus" else 48000, layout=layout)
        data = x if sample_fmt.endswith("p") else x.T.reshape(1, -1)
        if sample_fmt.startswith(("s16", "s32")):
            bits, dtype = (15, np.int16) if sample_fmt.startswith("s16") else (31, np.int32)
            data = np.clip(np.round(data * (2 ** bits - 1)), -2 ** bits, 2 ** bits - 1).astype(dtype)
        elif sample_fmt == "u8":
            data = np.clip(np.round(data * 127 + 128), 0, 255).astype(np.uint8)
        elif sample_fmt == "dbl":
            data = data.astype(np.float64)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=sample_fmt, layout=layout)
        frame.sample_rate = rate
        frames = [frame]
        if codec == "libopus" and rate != 48000:
            frames = av.AudioResampler(format="flt", layout=layout, rate=48000).resample(frame)
        elif codec in ("aac", "libmp3lame", "libopus", "flac"):
            pass
        for f in frames:
            f.pts = None
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def clip_with_sound(path: Path, seconds: float = 4.0, fps: int = 25) -> Path:
    """An MP4 with an H.264 picture (grey level = frame index) and an AAC stereo sound track."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=44100, layout="stereo")
        for i in range(int(seconds * fps)):
            for p in v.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i % 256, np.uint8), format="rgb24")):
                out.mux(p)
        frame = av.AudioFrame.from_ndarray(tone(seconds, 44100, 2), format="fltp", layout="stereo")
        frame.sample_rate = 44100
        for p in a.encode(frame):
            out.mux(p)
        for s in (v, a):
            for p in s.encode(None):
                out.mux(p)
    return path
