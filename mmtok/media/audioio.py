"""Audio in: any common file through PyAV, or a waveform tensor plus its rate, as mono float32 chunks at the
``target_rate`` the caller asks for (the audio package passes its ``SAMPLE_RATE``; media knows no model's rate).

- Mono is the mean of all channels (LFE included), taken at the source rate before resampling.
- Files are decoded by PyAV; about a second of decoded frames at a time is converted to float and mixed to mono
  in numpy (as FFmpeg's ``aformat`` + ``pan`` would, the same bits) and pushed through one FFmpeg filter graph
  (libswresample to the target rate -> chunks), so memory stays bounded; a FLAC of 30 s or more is decoded on a
  thread of its own, at most two such seconds ahead (:data:`READ_AHEAD`); tensors and arrays resample with
  ``torchaudio.functional.resample``. Both resamplers are tested to agree.
- NaN or infinite samples in a file are found after resampling (they survive it): the error names the first
  one's position in the resampled audio.
- Errors name the input: a missing, empty, corrupt or truncated file (a WAV or FLAC whose header promises more
  than is there), no audio stream, zero samples, NaN or infinite samples, or more than ``max_duration``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from ..core.threads import read_ahead
from ..errors import ConfigError, DecodeError, InputError, LimitError
from .container import open_media, source_name
from .paths import regular_file

__all__ = ["AudioSource", "AudioInfo", "stream_audio", "check_finite"]

AudioSource = str | Path | bytes | BinaryIO | torch.Tensor | np.ndarray

WAV_PROBESIZE = 32_768  # bytes FFmpeg may read to probe a WAV (its header holds all it needs)
BATCH_SECONDS = 1.0  # decoded frames are joined into about this much sound per push into the filter graph
AHEAD_BATCHES = 2  # such batches the decode thread may hold ready ahead of the resampling (core.threads.read_ahead)
FRAME_THREADED = ("mp3float", "mp3")  # decoders measured faster with frame threads (MP3 12 -> 8.5 ms on 7-10 s of
# stereo); Opus measured slower with them (15 -> 23 ms), AAC the same
READ_AHEAD = ("flac",)  # decoders run on a thread of their own ahead of the resampling (core.threads.read_ahead)
AHEAD_MIN_SECONDS = 30.0  # ... for files whose header says they last this long or more. 2026-12-01, 44.1 kHz stereo
# FLAC to 16 kHz, interleaved rounds: 10 min 0.64 -> 0.53 s, 2 min 133 -> 118 ms, 30 s 36.6 -> 36.0 ms, but 10 s
# 12.0 -> 14.6 ms (the thread's hand-overs cost more than the overlap gains); FFmpeg's frame threads gained nothing
# on FLAC (10 s: 17.5 against 14.8 ms without). MP3 with frame threads: 10 min 0.62 -> 0.59 s but 10 s 11.6 ->
# 13.0 ms, a WAV 3.9 -> 4.1 ms: those stay on the calling thread


@dataclass
class AudioInfo:
    """Facts about the input, filled while streaming (``samples`` is final once the stream ends)."""

    source: str
    source_rate: int = 0  # Hz, of the file or tensor
    channels: int = 0  # of the source, before the mono mix
    samples: int = 0  # mono samples produced at the target rate
    expected: int = 0  # samples at the target rate before any is produced: exact for a waveform, the header's
    # duration for a file (an estimate), 0 when the header has none


def stream_audio(src: AudioSource, *, target_rate: int, sample_rate: int | None, max_duration: float,
                 chunk_seconds: float, info: AudioInfo | None = None, name: str | None = None) -> Iterator[np.ndarray]:
    """Yield mono float32 chunks [n] at ``target_rate`` Hz of about ``chunk_seconds``; fills ``info`` as it goes.

    ``sample_rate`` is the rate of a waveform tensor or array (files carry their own: give None). The chunks of a
    one-channel float32 waveform already at ``target_rate`` are views of it (read them, do not write into them).
    """
    if not isinstance(target_rate, int) or isinstance(target_rate, bool) or target_rate < 1:
        raise ConfigError(f"target_rate must be a positive int (Hz), got {target_rate!r}")
    name = name or source_name(src)
    info = info if info is not None else AudioInfo(name)
    info.source = name
    if isinstance(src, (torch.Tensor, np.ndarray)):
        yield from _from_waveform(src, sample_rate, target_rate, name, max_duration, chunk_seconds, info)
    else:
        if sample_rate is not None:
            raise InputError(f"{name}: sample_rate is only for waveform tensors; files carry their own rate")
        yield from _from_file(src, target_rate, name, max_duration, chunk_seconds, info)


def _from_waveform(x, sample_rate, target_rate, name, max_duration, chunk_seconds, info) -> Iterator[np.ndarray]:
    import torchaudio.functional as AF

    given = f"numpy {x.dtype}" if isinstance(x, np.ndarray) else str(x.dtype)  # the input's own words
    x = torch.as_tensor(x)
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate < 1:
        raise InputError(f"{name}: a waveform needs its sample_rate as a positive int (Hz), got {sample_rate!r}")
    if not x.is_floating_point():
        raise InputError(f"{name}: waveforms must be float in [-1, 1], got {given}; divide int16 audio by 32768")
    if x.dim() == 1:
        x = x[None]
    if x.dim() != 2:
        raise InputError(f"{name}: a waveform must be [samples] or [channels, samples], got {tuple(x.shape)}")
    if x.shape[1] == 0:
        raise InputError(f"{name} has 0 samples; give audio with content")
    check_finite(x, name, sample_rate)
    seconds = x.shape[1] / sample_rate
    if seconds > max_duration:
        raise LimitError(f"{name} lasts {seconds:.1f} s, more than max_duration={max_duration:.0f} s; raise "
                         f"AudioConfig(max_duration=...)")
    info.source_rate, info.channels = sample_rate, x.shape[0]
    mono = x[0].float() if len(x) == 1 else x.float().mean(0)  # the mean of one channel is that channel, unread
    if sample_rate != target_rate:
        mono = AF.resample(mono, sample_rate, target_rate)
    step = int(chunk_seconds * target_rate)
    out = mono.numpy()
    info.expected = len(out)
    for i in range(0, len(out), step):
        chunk = out[i:i + step]
        info.samples += len(chunk)
        yield chunk


def check_finite(x, name: str, rate: int, offset: int = 0) -> None:
    """Raise naming the first non-finite sample of x [..., samples] (index ``offset`` + i at ``rate`` Hz)."""
    x = torch.as_tensor(x)
    if not x.numel():
        return
    if x.is_floating_point():
        lo, hi = torch.aminmax(x)  # one vectorised pass, no mask: a NaN makes both NaN, an infinity one of them
        if math.isfinite(float(lo)) and math.isfinite(float(hi)):  # (a float64 sum took 5x as long, 2026-12-01)
            return
    bad = ~torch.isfinite(x)
    if bad.any():
        i = int(bad.nonzero()[:, -1].min()) + offset
        raise InputError(f"{name} holds NaN or infinite samples (first at sample {i}, {i / rate:.3f} s at {rate} Hz)"
                         f"; replace them with finite values (numpy.nan_to_num) or re-export the audio")


def _open(src, name):
    options = None
    if isinstance(src, (str, Path)) and regular_file(src, "audio"):
        if _check_wav_header(Path(src), name):
            # A WAV header states everything FFmpeg probes for; with its default 5 MB probe FFmpeg reads and decodes
            # the whole file before the first frame (12 ms of an 8 s clip's 15 ms decode).
            options = {"probesize": str(WAV_PROBESIZE)}
        _check_ogg_end(Path(src), name)
    return open_media(src, name, "audio", options)


def _check_ogg_end(path: Path, name: str) -> None:
    """An Ogg file must end with a whole page carrying the end-of-stream flag; a cut file ends without one (and
    FFmpeg decodes what is there without complaint, its duration estimate shrinking with the file)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if fh.read(4) != b"OggS":
            return
        fh.seek(max(0, size - 65_307))  # the longest Ogg page is 27 + 255 + 255 * 255 bytes
        tail = fh.read()
    k = tail.rfind(b"OggS")
    while k >= 0:
        head = tail[k:k + 27]
        if len(head) == 27 and head[4] == 0:  # stream structure version 0: a page header
            n = head[26]
            lacing = tail[k + 27:k + 27 + n]
            end = k + 27 + n + sum(lacing)
            if len(lacing) == n and end == len(tail):
                if not head[5] & 0x04:
                    break  # a whole last page, but the stream was not closed
                return
        k = tail.rfind(b"OggS", 0, k)
    raise DecodeError(f"{name} is truncated: it does not end with a complete Ogg page marking the end of the "
                      f"stream; re-export or re-download it")


def _check_wav_header(path: Path, name: str) -> bool:
    """True for a RIFF WAVE file; a WAV whose data chunk declares more bytes than the file holds is truncated
    (FFmpeg reads it quietly): raise."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return False
    i = 12
    while i + 8 <= len(head):
        cid, size = head[i:i + 4], struct.unpack("<I", head[i + 4:i + 8])[0]
        if cid == b"data":
            if size not in (0, 0xFFFFFFFF) and i + 8 + size > path.stat().st_size:
                raise DecodeError(f"{name} is truncated: its WAV header declares {size:,} bytes of samples but the "
                                  f"file ends after {path.stat().st_size - i - 8:,}; re-export or re-download it")
            return True
        i += 8 + size + (size & 1)
    return True


def _decoded(container, stream) -> Iterator[list]:
    """The stream's decoded frames, in lists of about :data:`BATCH_SECONDS` (one hand-over per list)."""
    batch, n = [], 0
    for frame in container.decode(stream):
        batch.append(frame)
        n += frame.samples
        if n >= BATCH_SECONDS * frame.sample_rate:
            yield batch
            batch, n = [], 0
    if batch:
        yield batch


def _from_file(src, target_rate, name, max_duration, chunk_seconds, info) -> Iterator[np.ndarray]:
    import av

    container, stream = _open(src, name)
    if stream.codec_context.name in FRAME_THREADED:
        stream.codec_context.thread_type = "AUTO"  # frames decode on both cores; the same samples in the same order
    batches = _decoded(container, stream)
    try:
        rate = stream.codec_context.sample_rate or stream.rate
        if not rate:
            raise DecodeError(f"{name}: the audio stream has no sample rate; re-encode the file")
        declared = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        if declared and declared > max_duration:
            raise LimitError(f"{name} lasts {declared:.1f} s by its header, more than max_duration={max_duration:.0f} "
                             f"s; raise AudioConfig(max_duration=...)")
        if stream.codec_context.name in READ_AHEAD and declared and declared >= AHEAD_MIN_SECONDS:
            batches = read_ahead(batches, depth=AHEAD_BATCHES)  # FFmpeg decodes on a thread of its own while this
            # one mixes and resamples, and the caller computes features
        info.source_rate, info.channels = int(rate), stream.codec_context.channels
        info.expected = round(declared * target_rate) if declared else 0
        limit, step = int(max_duration * rate) + 1, int(chunk_seconds * target_rate)
        graph, shape, n_in, pending = None, None, 0, []
        try:
            for frame in (f for batch in batches for f in batch):
                this = (frame.format.name, frame.layout.name, frame.sample_rate)
                if this != shape:  # the first frame, or the layout changed mid-stream: a graph for the new shape
                    # (the resampler restarts there, so what follows may shift by under one output sample)
                    if graph is not None:
                        yield from _finish(graph, pending, target_rate, name, info)
                    graph, shape, pending = _mono_graph(frame, target_rate, step), this, []
                n_in += frame.samples
                if n_in > limit:
                    raise LimitError(f"{name} lasts more than max_duration={max_duration:.0f} s; raise "
                                     f"AudioConfig(max_duration=...)")
                pending.append(frame)
                if sum(f.samples for f in pending) >= BATCH_SECONDS * frame.sample_rate:
                    yield from _run(graph, _mono_frame(pending), target_rate, name, info)
                    pending = []
            if graph is not None:
                yield from _finish(graph, pending, target_rate, name, info)
        except av.FFmpegError as e:
            raise DecodeError(f"{name}: decoding failed ({e})"
                              f"; the file is corrupt or truncated: re-export or re-download it") from None
        if n_in == 0:
            raise DecodeError(f"{name} contains no audio samples; give audio with content")
        got = n_in / rate
        if declared and got < declared - max(0.05, 0.01 * declared):
            raise DecodeError(f"{name} is truncated: its header says {declared:.2f} s but only {got:.2f} s could be "
                              f"decoded; re-export or re-download it")
    finally:
        batches.close()  # a decode thread stops and is joined before its container closes
        container.close()


_DTYPES = {"u8": np.uint8, "s16": np.int16, "s32": np.int32, "s64": np.int64, "flt": np.float32, "dbl": np.float64}
_INT_SCALE = {"s16": 2.0 ** -15, "s32": 2.0 ** -31, "s64": 2.0 ** -63}  # FFmpeg's int -> float conversions


def _planar_float(frames: list) -> np.ndarray:
    """The samples of decoded frames of one shape, in order, as float32 [channels, n], converted as FFmpeg's
    ``aformat=fltp`` converts them (the same bits: int * 2**-(bits-1) in float, u8 centred on 128, double rounded
    to float). Read straight from the frames' planes (``to_ndarray`` costs 20x more per frame)."""
    first = frames[0]
    fmt, channels = first.format, len(first.layout.channels)
    base = fmt.name.rstrip("p")
    if base not in _DTYPES:
        raise DecodeError(f"unsupported decoded sample format {fmt.name!r}; re-encode the audio (e.g. to WAV or FLAC)")
    dtype = _DTYPES[base]
    if fmt.is_planar:  # one plane per channel
        data = np.stack([np.concatenate([np.frombuffer(f.planes[c], dtype, f.samples) for f in frames])
                         for c in range(channels)])
    else:  # one plane of interleaved samples, [n * channels]
        data = np.concatenate([np.frombuffer(f.planes[0], dtype, f.samples * channels) for f in frames])
    if base == "dbl":
        data = data.astype(np.float32)
    elif base == "u8":
        data = (data.astype(np.float32) - np.float32(128)) * np.float32(2.0 ** -7)
    elif base != "flt":
        data = data.astype(np.float32) * np.float32(_INT_SCALE[base])
    return data if fmt.is_planar else data.reshape(-1, channels).T  # converted while contiguous, then [channels, n]


def _mono_frame(frames: list):
    """One mono float frame at the source rate holding ``frames`` (decoded frames of one shape, in order, at least
    one) mixed as the mean of their channels. The mix runs in numpy (FFmpeg's ``pan`` filter took 3 ms per second
    of stereo); about a second goes into the graph per push instead of every decoded frame."""
    import av

    x = _planar_float(frames)
    mono = x[0]
    if len(x) > 1:
        k = np.float32(1 / len(x))
        mono = x[0] * k
        for channel in x[1:]:
            mono += channel * k
    first = frames[0]
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono[None]), format="fltp", layout="mono")
    out.sample_rate, out.time_base, out.pts = first.sample_rate, first.time_base, first.pts
    return out


def _finish(graph, pending: list, rate: int, name: str, info: AudioInfo) -> Iterator[np.ndarray]:
    """Push the frames still pending (if any), then the end of the stream: the graph's last chunks."""
    if pending:
        yield from _run(graph, _mono_frame(pending), rate, name, info)
    yield from _run(graph, None, rate, name, info)


def _mono_graph(frame, rate: int, step: int):
    """An FFmpeg filter graph for mono float frames from :func:`_mono_frame` at ``frame``'s rate -> ``rate`` Hz
    (aresample: libswresample with its default filter) -> float32 mono frames of ``step`` samples (the last one
    shorter)."""
    import av

    g = av.filter.Graph()
    chain = [g.add("abuffer", sample_rate=str(frame.sample_rate), sample_fmt="fltp", channel_layout="mono",
                   time_base=str(frame.time_base or f"1/{frame.sample_rate}")),
             g.add("aresample", str(rate)),
             g.add("aformat", sample_fmts="flt", channel_layouts="mono", sample_rates=str(rate)),
             g.add("asetnsamples", nb_out_samples=str(step), pad="0"),
             g.add("abuffersink")]
    for a, b in zip(chain, chain[1:]):
        a.link_to(b)
    g.configure()
    return g


def _run(graph, frame, rate: int, name: str, info: AudioInfo) -> Iterator[np.ndarray]:
    """Push one decoded frame (None: the end) into the graph; yield the chunks at ``rate`` Hz that are ready."""
    import av

    graph.push(frame)
    while True:
        try:
            out = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        mono = out.to_ndarray()[0]  # (1, n) packed mono -> (n,)
        if not np.isfinite(mono).all():
            check_finite(mono, name, rate, info.samples)
        info.samples += len(mono)
        yield mono
