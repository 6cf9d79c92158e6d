"""Audio decoding: mmtok's numpy mix + one resampling graph give the same bits as FFmpeg doing it all (its
``aformat=fltp`` + ``pan`` mean + ``aresample``), for every sample format a decoder hands back; WAVs probed from
their header alone still give the whole file."""

import av
import numpy as np
import pytest

from mmtok.media.audioio import stream_audio
from sounds import tone, write_audio

# file kinds of tests/sounds.py: the decoder hands back u8, s16, s32 (24 and 32 bit), flt, dbl (packed) and s16p /
# fltp (planar: mp3, aac, opus)
KINDS = ["u8.wav", "wav", "s24.wav", "s32.wav", "f32.wav", "f64.wav", "flac", "mp3", "m4a", "ogg"]
# MP3 holds at most two channels; libopus takes 5.1 only with a mapping family PyAV does not set
CASES = [(k, n) for k in KINDS for n in (1, 2, 6) if n < 6 or k not in ("mp3", "ogg")]


def _ffmpeg_all_the_way(path, rate=16000) -> np.ndarray:
    """What FFmpeg gives doing every step itself: each decoded frame -> fltp -> pan mean -> aresample -> flt."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        frames = list(c.decode(stream))
    first = frames[0]
    n = len(first.layout.channels)
    g = av.filter.Graph()
    chain = [g.add("abuffer", sample_rate=str(first.sample_rate), sample_fmt=first.format.name,
                   channel_layout=first.layout.name, time_base=str(first.time_base)),
             g.add("aformat", sample_fmts="fltp"),
             g.add("pan", "mono|c0=" + "+".join(f"{1 / n!r}*c{i}" for i in range(n))),
             g.add("aresample", str(rate)),
             g.add("aformat", sample_fmts="flt", channel_layouts="mono", sample_rates=str(rate)),
             g.add("abuffersink")]
    for a, b in zip(chain, chain[1:]):
        a.link_to(b)
    g.configure()
    out = []
    for f in frames + [None]:
        g.push(f)
        while True:
            try:
                out.append(g.pull().to_ndarray()[0])
            except (av.error.BlockingIOError, av.error.EOFError):
                break
    return np.concatenate(out)


def _ours(path) -> np.ndarray:
    return np.concatenate(list(stream_audio(path, target_rate=16000, sample_rate=None, max_duration=1e9,
                                            chunk_seconds=1.0)))


@pytest.mark.parametrize("kind, channels", CASES, ids=[f"{k}-{n}ch" for k, n in CASES])
def test_same_bits_as_ffmpeg_mixing_itself(tmp_path, kind, channels):
    path = write_audio(tmp_path / f"a.{kind}", tone(2.3, 44100, channels), 44100, kind)
    with av.open(str(path)) as c:
        got_fmt = c.streams.audio[0].codec_context.format.name
    ref, ours = _ffmpeg_all_the_way(path), _ours(path)
    assert ours.dtype == np.float32 and len(ours) == len(ref) > 16000 * 2.2, (got_fmt, len(ours), len(ref))
    assert np.array_equal(ours, ref), (got_fmt, np.abs(ours - ref).max())


def test_a_wav_is_opened_from_its_header_alone(tmp_path):
    """A WAV is probed from its first 32 KB (FFmpeg's default probe decodes the whole file first): a WAV with 40 KB
    of metadata before its samples still gives its rate, channels and every sample."""
    import struct

    x = tone(3.0, 22050, 3)
    pcm = np.round(x.T * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 3, 22050, 22050 * 6, 6, 16)
    junk = b"x" * 40_000
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", len(junk)) + junk
    body += b"data" + struct.pack("<I", len(pcm)) + pcm
    path = tmp_path / "meta.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    ours = _ours(path)
    assert np.array_equal(ours, _ffmpeg_all_the_way(path)) and len(ours) == 48000


def test_long_flac_decoded_ahead_on_its_own_thread_gives_the_same_bits_and_stops_when_abandoned(tmp_path):
    """A FLAC of 30 s or more is decoded on a read-ahead thread (mmtok.media.audioio.READ_AHEAD): 31 s (more
    one-second batches than the thread may hold ahead) give FFmpeg's own bits; a reader that stops after its first
    chunk leaves no decode thread behind (it is joined before the file closes). A shorter FLAC stays on the calling
    thread (the hand-overs cost more than they gain there)."""
    import threading

    from mmtok.media.audioio import AHEAD_MIN_SECONDS, READ_AHEAD

    assert "flac" in READ_AHEAD and AHEAD_MIN_SECONDS <= 31
    rate = 8000  # a small rate keeps writing and checking 31 s quick
    short, long = (write_audio(tmp_path / f"{s}.flac", tone(s, rate, 2), rate, "flac") for s in (5.0, 31.0))
    for path, threaded in ((long, True), (short, False)):
        seen, chunks = set(), []
        for c in stream_audio(path, target_rate=16000, sample_rate=None, max_duration=60, chunk_seconds=1):
            seen |= {t.name for t in threading.enumerate()}
            chunks.append(c)
        assert ("mmtok-read-ahead" in seen) == threaded, path.name
        assert np.array_equal(np.concatenate(chunks), _ffmpeg_all_the_way(path))
    it = stream_audio(long, target_rate=16000, sample_rate=None, max_duration=60, chunk_seconds=1)
    assert len(next(it)) == 16000
    it.close()
    assert not [t for t in threading.enumerate() if t.name == "mmtok-read-ahead"]
