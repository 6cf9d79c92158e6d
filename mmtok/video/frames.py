"""Decoding the sampled frames of a clip: each chosen frame decoded once, one full-resolution frame at a time.

Decoding visits the chosen frames in time order and, for each, decodes forward while the frame comes before the
next keyframe, otherwise seeks to the last keyframe at or before it; FFmpeg's own threads decode. Each run of
forward decoding ends by draining the decoder at its last chosen frame, and frames that no other frame refers to
(most B-frames) are skipped unless chosen (H.264, HEVC, MPEG-1/2). Only the chosen frames are kept (memory does
not grow with the clip's length). Display rotation (``frame.rotation``) is applied
to the pixels.

- ``FrameDecoder(src, name, cfg)`` reads the packet index and applies the sampling rule (nothing decoded yet);
  iterating it yields the N frames, uint8 [H, W, 3]; ``frames_decoded`` and ``rotation`` are final afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DecodeError, InputError, LimitError
from .index import ClipIndex, Samples, VideoSource, nearest_keyframes, open_video, read_index, sample_rule

if TYPE_CHECKING:
    from .tokenizer import VideoConfig

__all__ = ["FrameDecoder", "SEEKABLE_FORMATS"]

# Demuxers whose seeking uses a frame index (MP4/MOV sample tables, Matroska/WebM cues): exact after a seek.
SEEKABLE_FORMATS = {"mov", "matroska"}  # others decode forward only (tests cover these two)
# Decoders that read AVCodecContext.skip_frame for each packet: the frames no other frame refers to (most B-frames)
# are skipped unless chosen. (libdav1d reads it once when it opens, so AV1 is not here; VP9 clips rarely have such
# frames.) Tests cover each one.
SKIP_NONREF_CODECS = {"h264", "hevc", "mpeg1video", "mpeg2video"}


class FrameDecoder:
    """The N sampled frames of one clip, decoded while they are iterated (iterate once).

    On construction the clip is opened, its packet index read and the sampling rule applied, so ``index``,
    ``samples`` and ``timestamps`` are known before any frame is decoded. Iterating yields the N sampled frames
    (uint8 [H, W, 3], rotation applied) in sample order, each distinct frame decoded once; a repeated pick yields
    the previous frame again. ``frames_decoded`` and ``rotation`` are updated as frames are decoded and are final
    once iteration ends; the container is closed then (or when construction fails).
    """

    index: ClipIndex  # the clip's packet index (every frame's pts, durations, keyframes)
    samples: Samples  # the N picks of the sampling rule (cfg.sampling)
    timestamps: np.ndarray  # float64 [N] seconds from the clip start of the chosen frames
    frames_decoded: int  # frames FFmpeg decoded so far, chosen or not; LimitError past cfg.max_decoded_frames
    rotation: int  # degrees counterclockwise in [0, 360) applied to the pixels (of the last decoded frame)

    def __init__(self, src: VideoSource, name: str, cfg: VideoConfig) -> None:
        self.name, self.cfg = name, cfg
        self.frames_decoded, self.rotation = 0, 0
        self._container, self._stream = open_video(src, name)
        try:
            w, h = self._stream.codec_context.width, self._stream.codec_context.height
            if w * h > cfg.image.max_pixels:
                raise LimitError(f"{name} frames are {w}x{h}, more than max_pixels={cfg.image.max_pixels:,}; raise "
                                 f"ImageConfig(max_pixels=...)")
            self.index = read_index(self._container, self._stream, name, cfg.max_duration)
            self.samples = (sample_rule if cfg.sampling == "exact" else nearest_keyframes)(self.index, cfg.num_frames)
            self.timestamps = self.index.seconds(self.samples.pts - self.index.start)
            self._stream.thread_type = "AUTO"
            if cfg.threads:
                self._stream.codec_context.thread_count = cfg.threads
        except BaseException:
            self._container.close()
            raise

    def pick(self, indices: np.ndarray) -> None:
        """Decode the frames of presentation ``indices`` (int64 [N], non-decreasing, repeats allowed) instead of the
        sampling rule's picks: a model processor's own choice of frames. Call before iterating."""
        indices = np.asarray(indices, dtype=np.int64)
        n = len(self.index.pts)
        if indices.ndim != 1 or not len(indices) or indices.min() < 0 or indices.max() >= n or (np.diff(indices) < 0).any():
            raise InputError(f"{self.name}: frames to decode must be non-decreasing indices in [0, {n}), got "
                             f"{indices.tolist()[:8]}{' ...' if len(indices) > 8 else ''}")
        pts = self.index.pts[indices]
        repeats = np.zeros(len(indices), dtype=bool)
        repeats[1:] = indices[1:] == indices[:-1]
        self.samples = Samples(indices, self.index.seconds(pts - self.index.start), repeats, pts)
        self.timestamps = self.samples.targets

    def __iter__(self) -> Iterator[np.ndarray]:
        import av
        from av.video.reformatter import VideoReformatter

        if self._container is None:
            raise RuntimeError(f"{self.name}: a FrameDecoder is iterated once; make a new one to decode again")
        container, self._container = self._container, None
        try:
            last, to_rgb = None, VideoReformatter()  # one colour converter for every frame
            decoder = self._decode_chosen(container)
            try:
                for repeat in self.samples.repeats.tolist():  # chosen pts never decrease: decoding order = sample order
                    if not repeat or last is None:
                        frame = next(decoder)
                        self.rotation = int(getattr(frame, "rotation", 0) or 0) % 360
                        last = _rgb(frame, self.rotation, to_rgb)
                    yield last
            except av.FFmpegError as e:
                raise DecodeError(f"{self.name}: decoding failed ({e})"
                                  f"; the file is corrupt or truncated: re-export or re-download it") from None
        finally:
            container.close()

    def _decode_chosen(self, container) -> Iterator:
        """Yield the frame of each distinct chosen pts, in time order, decoding as little as possible.

        Forward while the next wanted frame comes before the next keyframe, else seek to the last keyframe at or
        before it. The last wanted frame before a seek (or of the clip) ends a run: once every packet shown up to
        it is sent, the decoder is drained, so no packet shown after it is decoded (B-frame reordering and FFmpeg's
        frame threads would otherwise decode a few frames ahead that the seek then throws away). Containers without
        a frame index (MPEG program/transport streams, GIF, ...) are only decoded forward from the start: seeking in
        them is by byte position and FFmpeg can label the first frames after a seek with their neighbours'
        timestamps, which would break exact frame identity. Should a seek land past the frame anyway, the next
        attempt seeks one keyframe further back (without draining), and the last from the start.
        """
        idx, stream = self.index, self._stream
        keys = idx.keyframes if len(idx.keyframes) else idx.pts[:1]
        can_seek = container.format.name.split(",")[0] in SEEKABLE_FORMATS
        wanted = np.unique(self.samples.pts)
        jumps, run_end = _runs(wanted, keys)
        keep = set(wanted.tolist()) if stream.codec_context.name in SKIP_NONREF_CODECS else None
        it, cur = None, None
        for i, c in enumerate(wanted.tolist()):
            # cur is the previous wanted frame unless that one needed a retry
            forward = it is not None and cur is not None and (not can_seek or not jumps[i])
            if it is None and not can_seek:
                it, forward = _seek(container, stream, None, None, keep), True
            starts = [int(k) for k in keys[keys <= c][::-1][:3]] + [None]  # where to seek, in order of preference
            attempt = 0 if not forward else -1
            while True:
                if attempt >= 0:
                    if attempt >= len(starts):
                        raise DecodeError(f"{self.name}: the frame at {float(idx.seconds(c - idx.start)):.3f} s could "
                                          f"not be decoded; the file is corrupt or truncated: re-export or re-download "
                                          f"it")
                    stop = run_end[i] if can_seek and attempt == 0 else None
                    it = _seek(container, stream, starts[attempt], stop, keep)
                frame = self._advance(it, c)
                if frame is not None:
                    cur = c
                    yield frame
                    break
                attempt += 1
                cur = None

    def _advance(self, it, c: int):
        """Decode from ``it`` until the frame with pts ``c``; None if the stream ends or passes it."""
        for frame in it:
            self.frames_decoded += 1
            if self.frames_decoded > self.cfg.max_decoded_frames:
                raise LimitError(f"{self.name}: decoded {self.frames_decoded:,} frames, more than max_decoded_frames="
                                 f"{self.cfg.max_decoded_frames:,}; raise VideoConfig(max_decoded_frames=...)")
            if frame.pts == c:
                return frame
            if frame.pts is not None and frame.pts > c:
                return None
        return None


def _runs(wanted: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """(bool [W]: a keyframe lies between the previous wanted pts and this one, so decoding seeks there;
    per wanted pts, the last wanted pts reached from it by decoding forward)."""
    nxt = np.searchsorted(keys, wanted[:-1], side="right")  # the first keyframe after each wanted frame
    jumps = np.ones(len(wanted), dtype=bool)
    jumps[1:] = (nxt < len(keys)) & (keys[np.minimum(nxt, len(keys) - 1)] <= wanted[1:])
    ends, end = [0] * len(wanted), int(wanted[-1])
    for i in range(len(wanted) - 1, -1, -1):
        ends[i] = end
        if jumps[i]:
            end = int(wanted[i - 1]) if i else end
    return jumps, ends


def _seek(container, stream, at: int | None, stop: int | None = None, keep: set[int] | None = None) -> Iterator:
    """Seek to the keyframe at or before pts ``at`` (None: the start of the file) and return a frame iterator.

    With ``stop``, the iterator drains the decoder and ends at the first packet shown after ``stop`` that follows
    the packet of ``stop`` (B-frames shown before it still come later in decoding order); None: to the end. With
    ``keep``, the decoder skips the frames no other frame refers to unless their pts is in ``keep``.
    """
    if at is None:
        container.seek(0, backward=True, any_frame=False)
    else:
        container.seek(at, stream=stream, backward=True, any_frame=False)
    return _decode(container, stream, stop, keep)


def _decode(container, stream, stop: int | None, keep: set[int] | None) -> Iterator:
    """Frames from the demuxer's position on; see :func:`_seek` for ``stop`` and ``keep``."""
    ctx, sent = stream.codec_context, False
    for packet in container.demux(stream):
        if sent and packet.pts is not None and packet.pts > stop:  # every packet shown up to ``stop`` is sent
            yield from ctx.decode(None)  # drain: the frames held for reordering and in FFmpeg's frame threads
            return
        if keep is not None:
            ctx.skip_frame = "DEFAULT" if packet.pts is None or packet.pts in keep else "NONREF"
        yield from ctx.decode(packet)  # the last (empty) packet of the stream drains the decoder
        sent = sent or (stop is not None and packet.pts == stop)


def _rgb(frame, rotation: int, to_rgb) -> np.ndarray:
    """uint8 (H, W, 3) of ``frame`` rotated, what ``frame.to_ndarray(format="rgb24")`` gives (swscale's pixels),
    converted on this thread: swscale's own threads save little and wait for a core on a busy machine."""
    rgb = to_rgb.reformat(frame, format="rgb24", threads=1).to_ndarray()  # (H, W, 3)
    k = (rotation % 360) // 90
    return np.ascontiguousarray(np.rot90(rgb, k=k)) if k else rgb
