"""A hostile corpus, generated here (no committed binaries), through the same door users take: a file path ->
``mmtok.files.file_content`` -> ``MultimodalTokenizer.encode``. Every case ends in a correct result or an
``MmtokError`` whose message names the file and says what to do — never another exception type, never a hang
(each case runs under a time limit), never a silent truncation."""

from __future__ import annotations

import concurrent.futures
import os
import resource
import struct
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image as PILImage

import mmtok
from mmtok.files import file_content

from images import encoded, exif_rotated_jpeg, gradient, png_header_only
from sounds import tone, write_audio
from videos import make_clip

TIME_LIMIT = 120  # seconds per case
FIX_WORDS = ("raise", "re-", "give", "use ", "convert", "check", "shorten", "install", "split", "export", "save",
             "download", "content", "pass", "try", "clean")


def _truncate(path: Path, fraction: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def _image(path: Path, im: PILImage.Image, fmt: str, **kw) -> Path:
    path.write_bytes(encoded(im, fmt, **kw))
    return path


def _wav_claiming(path: Path, seconds: float, rate: int = 16000) -> Path:
    """A 16-bit mono WAV whose header claims ``seconds`` of audio but holds 0.1 s."""
    data = (tone(0.1, rate)[0] * 32767).astype("<i2").tobytes()
    n = int(seconds * rate) * 2
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate,
                     rate * 2, 2, 16) + b"data" + struct.pack("<I", n) + data)
    return path


def _audio_only_mp4(path: Path) -> Path:
    return write_audio(path, tone(1.0, 44100, 2), 44100, "m4a")


def _one_frame(path: Path) -> Path:
    make_clip(path, "mp4", n=1)
    return path


def _nan_wav(path: Path) -> Path:
    x = tone(1.0, 16000)
    x[0, 100] = np.nan
    return write_audio(path, x, 16000, "f32.wav")


def _zero_samples_wav(path: Path) -> Path:
    path.write_bytes(b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000,
                     32000, 2, 16) + b"data" + struct.pack("<I", 0))
    return path


def _text(path: Path, s: str | bytes) -> Path:
    path.write_bytes(s if isinstance(s, bytes) else s.encode("utf-8"))
    return path


def _clip(kind: str, faststart: bool = False):
    def make(path: Path) -> Path:
        make_clip(path, kind, n=50, faststart=faststart)
        return path
    return make


def _sound(kind: str, seconds: float = 3.0, rate: int = 44100, channels: int = 2):
    def make(path: Path) -> Path:
        return write_audio(path, tone(seconds, rate, channels), rate, kind)
    return make


rng = np.random.default_rng(0)
PHOTO = PILImage.fromarray(gradient(320, 240))

# name -> (builder(path) -> path, expected: "ok" | "error")
CASES = {
    "empty.jpg": (lambda p: _text(p, b""), "error"),
    "empty.wav": (lambda p: _text(p, b""), "error"),
    "empty.mp4": (lambda p: _text(p, b""), "error"),
    "empty.txt": (lambda p: _text(p, b""), "error"),
    **{f"random.{e}": (lambda p: _text(p, rng.bytes(4096)), "error") for e in
       ("jpg", "png", "gif", "mp4", "webm", "mkv", "wav", "flac", "mp3", "ogg")},
    "truncated.jpg": (lambda p: _truncate(_image(p, PHOTO, "JPEG")), "error"),
    "truncated.png": (lambda p: _truncate(_image(p, PHOTO, "PNG")), "error"),
    "truncated.gif": (lambda p: _truncate(_image(p, PHOTO, "GIF")), "error"),
    "truncated.mp4": (lambda p: _truncate(_clip("mp4")(p)), "error"),  # index (moov) at the end: lost
    "truncated-faststart.mp4": (lambda p: _truncate(_clip("mp4", faststart=True)(p)), "error"),
    "truncated.webm": (lambda p: _truncate(_clip("webm")(p)), "error"),
    "truncated.mkv": (lambda p: _truncate(_clip("mkv")(p)), "error"),
    "truncated.wav": (lambda p: _truncate(_sound("wav")(p)), "error"),
    "truncated.flac": (lambda p: _truncate(_sound("flac")(p)), "error"),
    "truncated.m4a": (lambda p: _truncate(_sound("m4a")(p)), "error"),
    "truncated.mp3": (lambda p: _truncate(_sound("mp3")(p)), "error"),
    "truncated.ogg": (lambda p: _truncate(_sound("ogg")(p)), "error"),
    "bomb.png": (lambda p: _text(p, png_header_only(100_000, 100_000)), "error"),
    "1x1.png": (lambda p: _image(p, PILImage.new("RGB", (1, 1), "red"), "PNG"), "ok"),
    "1x50000.png": (lambda p: _image(p, PILImage.new("RGB", (1, 50_000), "red"), "PNG"), "ok"),
    "16bit.png": (lambda p: _image(p, PILImage.fromarray((gradient(64, 48)[..., 0].astype(np.uint16) * 257)), "PNG"),
                  "ok"),
    "cmyk.jpg": (lambda p: _image(p, PHOTO.convert("CMYK"), "JPEG"), "ok"),
    "palette-transparent.png": (lambda p: _image(p, PHOTO.convert("P"), "PNG", transparency=0), "ok"),
    "exif-rotated.jpg": (lambda p: _text(p, exif_rotated_jpeg(64, 32, 6)), "ok"),
    "one-frame.mp4": (_one_frame, "ok"),
    "audio-only.mp4": (_audio_only_mp4, "ok"),
    "zero-samples.wav": (_zero_samples_wav, "error"),
    "nan.wav": (_nan_wav, "error"),
    "8ch.wav": (_sound("wav", 1.0, 48000, 8), "ok"),
    "8khz.wav": (_sound("wav", 1.0, 8000, 1), "ok"),
    "192khz.flac": (_sound("flac", 1.0, 192000, 2), "ok"),
    "claims-10h.wav": (lambda p: _wav_claiming(p, 10 * 3600), "error"),
    "10mb.txt": (lambda p: _text(p, "lorem ipsum dolor sit amet " * 400_000), "error"),
    "nul.txt": (lambda p: _text(p, "a\x00b\x00c"), "ok"),
    "surrogate.txt": (lambda p: _text(p, b"ab\xed\xa0\x80cd"), "error"),  # a lone surrogate in (invalid) UTF-8
}


@pytest.fixture(scope="module")
def tok():
    return mmtok.MultimodalTokenizer("gemini-like")


@pytest.fixture(scope="module")
def pool():
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as ex:
        yield ex


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file(name, tmp_path, tok, pool):
    build, expected = CASES[name]
    path = build(tmp_path / name)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    future = pool.submit(lambda: tok.encode([file_content(path)]))
    try:
        seq = future.result(timeout=TIME_LIMIT)
        outcome = None
    except concurrent.futures.TimeoutError:
        pytest.fail(f"{name}: no answer within {TIME_LIMIT} s")
    except mmtok.MmtokError as e:
        outcome = e
    except Exception as e:  # anything else is a bug
        pytest.fail(f"{name}: {type(e).__name__} instead of an MmtokError: {e}")
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # MB
    assert grown < 1500, f"{name}: peak memory grew by {grown:.0f} MB"
    if expected == "error":
        assert outcome is not None, f"{name}: expected a typed error, got a {len(seq)}-token sequence"
        msg = str(outcome)
        assert name in msg, f"{name}: the message does not name the file: {msg}"
        assert any(w in msg.lower() for w in FIX_WORDS), f"{name}: the message says no fix: {msg}"
    else:
        assert outcome is None, f"{name}: {type(outcome).__name__}: {outcome}"
        assert len(seq) > 0


def test_no_pickle_loading_anywhere():
    """Weights and features load through safetensors only: no torch.load, pickle or numpy pickles in the code."""
    root = Path(__file__).resolve().parent.parent
    for path in sorted((root / "mmtok").rglob("*.py")) + sorted((root / "demos").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for bad in ("torch.load(", "import pickle", "pickle.load", "allow_pickle=True"):
            assert bad not in text, f"{path.relative_to(root)} uses {bad}"
