"""A hostile corpus, generated here (no committed binaries), through the same door users take: a file path ->
``mmtok.multimodal.files.file_content`` -> ``MultimodalTokenizer.encode``. Every case ends in a correct result or an
``MmtokError`` whose message names the file and says what to do — never another exception type, never a hang
(each case runs under a time limit), never unbounded memory, never a silent truncation.

Each case runs in its own process, forked from a server that has already imported mmtok, torch and PyAV (a case
starts in ~0.1 s): its peak resident memory is its own (``ru_maxrss`` is a per-process peak, so in one shared
process a case after a bigger one would read 0), a hang can be killed, and a crash inside FFmpeg fails that case
only."""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import re
import resource
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

import mmtok
from images import encoded, exif_rotated_jpeg, gradient, png_header_only
from mmtok.errors import ContextLengthError, DecodeError, InputError, LimitError
from mmtok.media.audioio import stream_audio
from sounds import tone, write_audio
from videos import make_clip, subtitles_only

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TIME_LIMIT = 120  # seconds per case
MEMORY_LIMIT_MB = 256  # peak resident memory a case may add to a process holding mmtok (media today: < 40 MB)
# 10 MB of text is read whole, then refused by TextTokenizer.min_tokens before any piece is made (it took ~520 MB
# when it was tokenized before the context check); a tighter limit for it shows that
MEMORY_LIMITS_MB = {"10mb.txt": 128}
# A message says what to do with one of these verbs (generic words like "content" or "check" do not count).
FIX_WORDS = ("raise", "re-", "give", "use ", "convert", "shorten", "install", "split", "export", "save",
             "download", "pass", "replace")
LAYOUT = "gemini-like"


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


def _float_wav_with(value: float):
    def make(path: Path) -> Path:
        x = tone(1.0, 16000)
        x[0, 100] = value
        return write_audio(path, x, 16000, "f32.wav")
    return make


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


# What a case that works must come to: (span modality, its length by the module's ONE count formula), given the
# tokenizer and the file. Each takes the size or duration the builder wrote, not what the tokenizer reports.
def image_span(h: int, w: int):
    """A picture shown as h x w pixels: ImageTokenizer.num_tokens + the plan's markers."""
    return lambda tok, path: ("image", tok.image.num_tokens(h, w) + tok.image.plan(h, w).num_markers)


def video_span(h: int, w: int):
    """A clip of h x w frames: VideoTokenizer.num_tokens + markers around every frame + <start/end_of_video>."""
    def count(tok, path):
        n = tok.video.config.num_frames
        return "video", tok.video.num_tokens(h, w) + n * tok.video.image.plan(h, w).num_markers + 2
    return count


def audio_span(seconds: float, codec_padding: float = 0.0):
    """Sound written as ``seconds``: AudioTokenizer.num_tokens of the decoded duration + 2 markers. The decoded
    duration must be what was written (plus the codec's padding, for AAC): nothing lost, nothing invented."""
    def count(tok, path):
        n = sum(len(c) for c in stream_audio(path, target_rate=mmtok.audio.SAMPLE_RATE, sample_rate=None, max_duration=1e9, chunk_seconds=30))
        assert seconds <= n / 16000 <= seconds + codec_padding, f"{path.name}: decodes to {n / 16000} s"
        return "audio", tok.audio.num_tokens(n / 16000) + 2
    return count


def text_span(tok, path):
    return "text", tok.text.num_tokens(path.read_text(encoding="utf-8"))


rng = np.random.default_rng(0)
PHOTO = PILImage.fromarray(gradient(320, 240))
AAC_PADDING = 2048 / 44100  # encoder delay + the last frame's fill (no edit list in this file)

# name -> (builder(path) -> path, expected: the MmtokError class | a span function above)
CASES = {
    "empty.jpg": (lambda p: _text(p, b""), InputError),
    "empty.wav": (lambda p: _text(p, b""), InputError),
    "empty.mp4": (lambda p: _text(p, b""), InputError),
    "empty.txt": (lambda p: _text(p, b""), InputError),
    **{f"random.{e}": (lambda p: _text(p, rng.bytes(4096)), InputError) for e in
       ("jpg", "png", "gif", "mp4", "webm", "mkv", "wav", "flac", "mp3", "ogg")},
    "truncated.jpg": (lambda p: _truncate(_image(p, PHOTO, "JPEG")), DecodeError),
    "truncated.png": (lambda p: _truncate(_image(p, PHOTO, "PNG")), DecodeError),
    "truncated.gif": (lambda p: _truncate(_image(p, PHOTO, "GIF")), DecodeError),
    "truncated.mp4": (lambda p: _truncate(_clip("mp4")(p)), DecodeError),  # index (moov) at the end: lost
    "truncated-faststart.mp4": (lambda p: _truncate(_clip("mp4", faststart=True)(p)), DecodeError),
    "truncated.webm": (lambda p: _truncate(_clip("webm")(p)), DecodeError),
    "truncated.mkv": (lambda p: _truncate(_clip("mkv")(p)), DecodeError),
    "truncated.wav": (lambda p: _truncate(_sound("wav")(p)), DecodeError),
    "truncated.flac": (lambda p: _truncate(_sound("flac")(p)), DecodeError),
    "truncated.m4a": (lambda p: _truncate(_sound("m4a")(p)), DecodeError),
    "truncated.mp3": (lambda p: _truncate(_sound("mp3")(p)), DecodeError),
    "truncated.ogg": (lambda p: _truncate(_sound("ogg")(p)), DecodeError),
    "bomb.png": (lambda p: _text(p, png_header_only(100_000, 100_000)), LimitError),  # PIL's own guard
    "144mp.png": (lambda p: _text(p, png_header_only(12_000, 12_000)), LimitError),  # ImageConfig.max_pixels
    "1x1.png": (lambda p: _image(p, PILImage.new("RGB", (1, 1), "red"), "PNG"), image_span(1, 1)),
    "1x50000.png": (lambda p: _image(p, PILImage.new("RGB", (1, 50_000), "red"), "PNG"), image_span(50_000, 1)),
    "16bit.png": (lambda p: _image(p, PILImage.fromarray(gradient(64, 48)[..., 0].astype(np.uint16) * 257), "PNG"),
                  image_span(48, 64)),
    "cmyk.jpg": (lambda p: _image(p, PHOTO.convert("CMYK"), "JPEG"), image_span(240, 320)),
    "palette-transparent.png": (lambda p: _image(p, PHOTO.convert("P"), "PNG", transparency=0),
                                image_span(240, 320)),
    "exif-rotated.jpg": (lambda p: _text(p, exif_rotated_jpeg(64, 32, 6)), image_span(64, 32)),  # turned 90°
    "one-frame.mp4": (_one_frame, video_span(96, 128)),
    "audio-only.mp4": (_audio_only_mp4, audio_span(1.0, AAC_PADDING)),
    "subtitles-only.mkv": (subtitles_only, InputError),  # neither video nor audio
    "zero-samples.wav": (_zero_samples_wav, DecodeError),
    "nan.wav": (_float_wav_with(np.nan), InputError),
    "inf.wav": (_float_wav_with(-np.inf), InputError),
    "8ch.wav": (_sound("wav", 1.0, 48000, 8), audio_span(1.0)),
    "8khz.wav": (_sound("wav", 1.0, 8000, 1), audio_span(1.0)),
    "192khz.flac": (_sound("flac", 1.0, 192000, 2), audio_span(1.0)),
    "claims-10h.wav": (lambda p: _wav_claiming(p, 10 * 3600), DecodeError),
    "10mb.txt": (lambda p: _text(p, "lorem ipsum dolor sit amet " * 400_000), ContextLengthError),
    "nul.txt": (lambda p: _text(p, "a\x00b\x00c"), text_span),
    "surrogate.txt": (lambda p: _text(p, b"ab\xed\xa0\x80cd"), InputError),  # a lone surrogate in (invalid) UTF-8
}


# The README's "Hostile inputs" table, row by row: its "inputs tried" cell -> the cases it stands for. The rows
# must be exactly these and cover every case once; each row's outcome cell names its cases' error classes (or says
# "tokenized"), so the table cannot drift from what is tried.
README_ROWS = {
    "zero-byte `.jpg`, `.wav`, `.mp4`, `.txt`": ["empty.jpg", "empty.wav", "empty.mp4", "empty.txt"],
    "random bytes named `.jpg .png .gif .mp4 .webm .mkv .wav .flac .mp3 .ogg`":
        [f"random.{e}" for e in ("jpg", "png", "gif", "mp4", "webm", "mkv", "wav", "flac", "mp3", "ogg")],
    "truncated JPEG, PNG, GIF, MP4 (index at the end and faststart), WebM, MKV, WAV, FLAC, M4A, MP3, OGG":
        [f"truncated.{e}" for e in ("jpg", "png", "gif", "mp4", "webm", "mkv", "wav", "flac", "m4a", "mp3", "ogg")]
        + ["truncated-faststart.mp4"],
    "PNG headers claiming 100000 x 100000 and 12000 x 12000": ["bomb.png", "144mp.png"],
    "1x1 and 1x50000 images; 16-bit, CMYK, palette with transparency, EXIF-rotated":
        ["1x1.png", "1x50000.png", "16bit.png", "cmyk.jpg", "palette-transparent.png", "exif-rotated.jpg"],
    "a one-frame video; an audio-only MP4": ["one-frame.mp4", "audio-only.mp4"],
    "an MKV holding only a subtitle stream (no video, no audio)": ["subtitles-only.mkv"],
    "WAV with 0 samples": ["zero-samples.wav"],
    "float WAV with a NaN; with an -inf": ["nan.wav", "inf.wav"],
    "8 channels, 8 kHz, 192 kHz": ["8ch.wav", "8khz.wav", "192khz.flac"],
    "WAV header claiming 10 hours (0.1 s inside)": ["claims-10h.wav"],
    "10 MB of text": ["10mb.txt"],
    "text with NUL": ["nul.txt"],
    "invalid UTF-8 (an encoded lone surrogate)": ["surrogate.txt"],
}


def _readme_table() -> list[tuple[str, str]]:
    """(inputs tried, outcome) of each row of the README's hostile-input table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Hostile inputs"):]
    section = section[:section.index("\n## ", 1)]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # skip the header
    return [tuple(c.strip() for c in re.split(r"(?<!\\)\|", line)[1:3]) for line in rows]


def test_readme_table_is_what_the_corpus_tries():
    table = _readme_table()
    assert [inputs for inputs, _ in table] == list(README_ROWS), "the README rows differ from README_ROWS"
    covered = [name for names in README_ROWS.values() for name in names]
    assert sorted(covered) == sorted(CASES), f"cases missing from the table: {set(CASES) - set(covered)}; " \
                                             f"rows naming no case: {set(covered) - set(CASES)}"
    for inputs, outcome in table:
        for name in README_ROWS[inputs]:
            expected = CASES[name][1]
            word = f"`{expected.__name__}`" if isinstance(expected, type) else "tokenized"
            assert word in outcome, f"README row {inputs!r} says {outcome!r}, but {name} ends in {word}"


# --- running one case in its own process --------------------------------------------------------------------
_CTX = multiprocessing.get_context("forkserver")


def _encode_file(path: str, conn) -> None:
    """In a child of the fork server: ``file_content`` -> ``encode``, then send (outcome, MB of peak memory added).

    The outcome is ("ok", [(modality, length) per span]), (MmtokError class name, message) or ("bug", ...)."""
    from mmtok.multimodal.files import file_content

    tok = mmtok.MultimodalTokenizer(LAYOUT)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB; right after the fork: the server's size
    try:
        seq = tok.encode([file_content(path)])
        outcome = ("ok", [(s.modality.label, s.length) for s in seq.spans])
    except mmtok.MmtokError as e:
        outcome = (type(e).__name__, str(e))
    except Exception as e:  # anything else is a bug
        outcome = ("bug", f"{type(e).__name__}: {e}")
    conn.send((outcome, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024))


@pytest.fixture(scope="module")
def run_case():
    # The server imports these once; every case is a fork of it (no per-case start-up, and no parent threads).
    # Python 3.11's server ignores the parent's sys.path when it preloads, so it is told where this file is.
    _CTX.set_forkserver_preload(["mmtok", "mmtok.multimodal.files", "mmtok.media.audioio", "av", "PIL.Image", "test_hostile"])
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
        multiprocessing.forkserver.ensure_running()

    def run(name: str, path: Path):
        receive, send = _CTX.Pipe(duplex=False)
        proc = _CTX.Process(target=_encode_file, args=(str(path), send), name=f"hostile {name}")
        proc.start()
        send.close()
        try:
            if not receive.poll(TIME_LIMIT):
                pytest.fail(f"{name}: no answer within {TIME_LIMIT} s")
            try:
                return receive.recv()
            except EOFError:
                proc.join()
                pytest.fail(f"{name}: the process died (exit code {proc.exitcode}) instead of answering")
        finally:
            if proc.is_alive():
                proc.kill()
            proc.join()
            receive.close()
    return run


@pytest.fixture(scope="module")
def tok():
    return mmtok.MultimodalTokenizer(LAYOUT)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file(name, tmp_path, tok, run_case):
    build, expected = CASES[name]
    path = build(tmp_path / name)
    (kind, detail), grown = run_case(name, path)
    assert kind != "bug", f"{name}: {detail} instead of an MmtokError"
    limit = MEMORY_LIMITS_MB.get(name, MEMORY_LIMIT_MB)
    assert grown < limit, f"{name}: peak memory grew by {grown:.0f} MB (limit {limit} MB)"
    if isinstance(expected, type):
        assert kind == expected.__name__, f"{name}: expected a {expected.__name__}, got {kind}: {detail}"
        assert name in detail, f"{name}: the message does not name the file: {detail}"
        assert any(w in detail.lower() for w in FIX_WORDS), f"{name}: the message says no fix: {detail}"
    else:
        assert kind == "ok", f"{name}: {kind}: {detail}"
        assert detail == [("control", 1), expected(tok, path)], f"{name}: spans {detail}"


def test_no_pickle_loading_anywhere():
    """Weights and features load through safetensors only: no torch.load, pickle or numpy pickles in the code."""
    root = Path(__file__).resolve().parent.parent
    for path in sorted((root / "mmtok").rglob("*.py")) + sorted((root / "demos").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for bad in ("torch.load(", "import pickle", "pickle.load", "allow_pickle=True"):
            assert bad not in text, f"{path.relative_to(root)} uses {bad}"
