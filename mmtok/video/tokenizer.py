"""Video tokens: N evenly sampled frames (16 by default), each through the image path, decoded minimally.

The sampling rule lives in :mod:`mmtok.video.index`, decoding in :mod:`mmtok.video.frames`: each chosen frame is
decoded once, forward or after a seek to its keyframe, and only one full-resolution frame is in memory at a time
(memory does not grow with the clip's length). Display rotation (``frame.rotation``) is applied to the pixels.

- ``mmtok.sample_frames(src, num_frames)`` -> torch (uint8 [N, H, W, 3] at the clip's resolution, float64 [N] seconds).
- ``VideoTokenizer(VideoConfig(...)).encode(src)`` -> :class:`VideoTokens`; ``decode(tokens)`` -> uint8
  [N, 3, H, W] equal to the processed frames; ``num_tokens(height, width, num_frames)`` = frames x the image count.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.meta import VideoMeta
from ..core.protocol import ProvenanceFromTable, empty_provenance, register_segment_tokenizer
from ..core.reprs import short_repr
from ..core.segment import Segment
from ..core.vocab import Modality, Vocab, default_vocab
from ..errors import ConfigError, SequenceError
from ..image.plan import ImageConfig
from ..image.tokenizer import ImageTokenizer, ImageTokens, patch_blocks, plan_blocks, view_boxes
from ..media.container import source_name
from ..media.imageio import LoadedImage
from .frames import FrameDecoder
from .index import VideoSource

__all__ = ["VideoConfig", "VideoTokenizer", "VideoTokens", "sample_frames", "SAMPLING_MODES"]

SAMPLING_MODES = ("exact", "nearest_keyframe")


@dataclass(frozen=True)
class VideoConfig:
    """How clips become tokens. Frozen; checked at construction."""

    num_frames: int = 16  # frames sampled per clip (Gemini's evaluation setting)
    image: ImageConfig = field(default_factory=ImageConfig)  # each frame goes through this image path
    sampling: str = "exact"  # "exact" (THE rule) or "nearest_keyframe" (fast, approximate; never the default)
    threads: int = 0  # FFmpeg decoding threads; 0 = FFmpeg's choice
    max_duration: float = 4 * 3600.0  # seconds; longer clips raise LimitError
    max_decoded_frames: int = 100_000  # guard against pathological files; exceeding raises LimitError

    def __post_init__(self) -> None:
        if type(self.num_frames) is not int or self.num_frames < 1:
            raise ConfigError(f"VideoConfig.num_frames must be a positive int, got {self.num_frames!r}")
        if not isinstance(self.image, ImageConfig):
            raise ConfigError(f"VideoConfig.image must be an ImageConfig, got {type(self.image).__name__}")
        if self.sampling not in SAMPLING_MODES:
            raise ConfigError(f"VideoConfig.sampling={self.sampling!r}; use one of {SAMPLING_MODES}")
        if type(self.threads) is not int or self.threads < 0:
            raise ConfigError(f"VideoConfig.threads must be an int >= 0, got {self.threads!r}")
        if not self.max_duration > 0 or type(self.max_decoded_frames) is not int or self.max_decoded_frames < 1:
            raise ConfigError("VideoConfig.max_duration and max_decoded_frames must be positive")


@dataclass(frozen=True, eq=False)
class VideoTokens:
    """The tokens of one clip: one :class:`ImageTokens` per sampled frame plus timing."""

    frames: tuple[ImageTokens, ...]
    timestamps: torch.Tensor  # float64 [N] seconds from the clip start (pts of the chosen frames)
    targets: torch.Tensor  # float64 [N] seconds from the clip start where the rule looked
    pts: torch.Tensor  # int64 [N] the chosen frames' pts in the stream time base
    frame_indices: torch.Tensor  # int64 [N] presentation index of each chosen frame in the clip
    repeats: torch.Tensor  # bool [N] frame already chosen for an earlier target (clips with < N frames)
    duration: float  # seconds, end - start of the presentation span
    time_base: tuple[int, int]
    num_clip_frames: int
    frames_decoded: int
    rotation: int  # degrees counterclockwise applied to the pixels
    sampling: str
    source: str = ""
    ends: torch.Tensor | None = None  # float64 [N] seconds where each chosen frame's display ends (pts + duration)

    @property
    def patches(self) -> torch.Tensor:
        """float32 [N * patches_per_frame, p*p*3], frame after frame."""
        return torch.cat([f.patches for f in self.frames])

    @property
    def grid(self) -> tuple[int, int]:
        return self.frames[0].grid

    @property
    def rows(self) -> torch.Tensor:
        """The feature rows these tokens put in a sequence, one per placeholder token: float32 [N, d]; the same
        name on every token type (``ImageTokens``, ``VideoTokens``, ``AudioTokens``), what ``seq.features`` holds.
        Here: ``patches``, frame after frame."""
        return self.patches


class VideoTokenizer(ProvenanceFromTable):
    """Sampled frames through :class:`~mmtok.image.ImageTokenizer`; see the module docstring."""

    def __init__(self, config: VideoConfig | None = None) -> None:
        self.config = config or VideoConfig()
        if not isinstance(self.config, VideoConfig):
            raise ConfigError(f"config must be a VideoConfig, got {type(self.config).__name__}")
        self.image = ImageTokenizer(self.config.image)

    @classmethod
    def default(cls) -> VideoTokenizer:
        """``VideoTokenizer()``: the default ``VideoConfig()``."""
        return cls()

    def __repr__(self) -> str:
        return f"VideoTokenizer({short_repr(self.config)})"

    def num_tokens(self, height: int, width: int, num_frames: int | None = None) -> int:
        """THE video count: frames x the image count of one frame (markers not included)."""
        n = self.config.num_frames if num_frames is None else num_frames
        return n * self.image.num_tokens(height, width)

    def segment_length(self, height: int, width: int) -> int:
        """Tokens of the video segment (:func:`video_layout`): the frames' patches, each frame's markers, and
        <start_of_video> / <end_of_video>."""
        n = self.config.num_frames
        return self.num_tokens(height, width) + n * self.image.plan(height, width).num_markers + 2

    def encode(self, src: VideoSource) -> VideoTokens:
        name = source_name(src)
        decoded = FrameDecoder(src, name, self.config)
        frames = []
        for rgb in decoded:  # one full-resolution frame in memory at a time
            h, w = rgb.shape[:2]
            loaded = LoadedImage(torch.from_numpy(rgb).permute(2, 0, 1), (w, h), 1.0, name, "RGB")
            plan = self.image.plan(h, w)
            frames.append(self.image.tokenize_views(self.image.render(loaded, plan), plan, name))
        return _video_tokens(frames, decoded, self.config, name)

    def decode(self, tokens: VideoTokens) -> torch.Tensor:
        """uint8 [N, 3, H, W]: each frame's processed picture (exact)."""
        return torch.stack([self.image.decode(f) for f in tokens.frames])

    def segment(self, tokens: VideoTokens, vocab: Vocab | None = None, source: str | None = None) -> Segment:
        """<start_of_video>, per frame <start_of_frame> patches <end_of_frame>, <end_of_video>.

        3D positions: t counts sampling intervals (frame i at t = 1 + i, times the blocks per frame for tiled
        frames), h and w are the patch row and column; the frame's timestamp is in the metadata.
        """
        ids, pos = video_layout(tokens.frames[0].plan, len(tokens.frames), vocab or default_vocab())
        meta = VideoMeta(source=source if source is not None else tokens.source,
                         image_config=self.config.image.to_dict(), original_size=tokens.frames[0].original_size,
                         grid=tokens.grid, num_frames=len(tokens.frames), timestamps=tokens.timestamps.tolist(),
                         targets=tokens.targets.tolist(), frame_indices=tokens.frame_indices.tolist(),
                         repeats=tokens.repeats.tolist(), rotation=tokens.rotation, sampling=tokens.sampling,
                         duration=tokens.duration, pts=tokens.pts.tolist(), time_base=tokens.time_base,
                         num_clip_frames=tokens.num_clip_frames, frames_decoded=tokens.frames_decoded,
                         frame_ends=None if tokens.ends is None else tokens.ends.tolist())
        return Segment(Modality.VIDEO, ids, pos, tokens.patches, meta)

    def from_segment(self, segment: Segment, vocab: Vocab | None = None) -> VideoTokens:
        """The tokens of a video segment made with this config (inverse of :meth:`segment`; a segment saved by
        mmtok 0.1 has no pts, time base or decode counts: those come back as -1 / (0, 1) / 0)."""
        m = self._meta(segment, VideoMeta)
        frames = self.frames_from_features(segment.features, m.original_size, m.num_frames, m.source or "")
        n = m.num_frames
        return VideoTokens(frames, torch.tensor(m.timestamps, dtype=torch.float64),
                           torch.tensor(m.targets, dtype=torch.float64),
                           torch.tensor(m.pts if m.pts is not None else [-1] * n, dtype=torch.int64),
                           torch.tensor(m.frame_indices, dtype=torch.int64), torch.tensor(m.repeats, dtype=torch.bool),
                           m.duration, m.time_base or (0, 1), m.num_clip_frames or 0, m.frames_decoded or 0,
                           m.rotation, m.sampling, m.source or "",
                           None if m.frame_ends is None else torch.tensor(m.frame_ends, dtype=torch.float64))

    def frames_from_features(self, patches: torch.Tensor | None, original_size: tuple[int, int], num_frames: int,
                             source: str = "") -> tuple[ImageTokens, ...]:
        """Per-frame :class:`ImageTokens` of ``num_frames`` frames' patches, frame after frame."""
        plan = self.image.plan(*original_size)
        per = plan.num_patches
        if patches is None or len(patches) != per * num_frames:
            raise SequenceError(f"a video segment of {num_frames} frames of {original_size} must hold "
                                f"{per * num_frames} patches, not {0 if patches is None else len(patches)}")
        return tuple(ImageTokens(patches[k * per:(k + 1) * per], plan.block, plan.num_blocks, plan.views[-1].canvas,
                                 plan.original, plan, source) for k in range(num_frames))

    def provenance_table(self, segment: Segment, vocab: Vocab | None = None) -> dict[str, torch.Tensor]:
        """Per patch: ``box`` in the frame's original pixels, ``block`` (in the frame, as for an image), ``frame``
        (sampled frame number), ``frame_index`` (in the clip) and ``time``: the frame's display interval [pts,
        pts + its duration) in seconds from the clip start. Markers (and the sound of a clip with its sound) have
        none here. A clip saved before frame_ends were recorded gets [t, t + duration / frames in the clip), or
        [t, t] when that count is unknown too (mmtok 0.1)."""
        table = empty_provenance(len(segment))
        m = self._meta(segment, VideoMeta)
        where = (segment.input_ids == (vocab or default_vocab()).placeholder(Modality.VIDEO)).nonzero().flatten()
        plan = self.image.plan(*m.original_size)
        per_frame = torch.cat([view_boxes(v, self.config.image.patch_size) for v in plan.views])
        k = torch.arange(len(where))
        f = k // len(per_frame)
        table["box"][where] = per_frame[k % len(per_frame)]
        table["block"][where] = patch_blocks(plan)[k % len(per_frame)]
        table["frame"][where] = f
        table["frame_index"][where] = torch.tensor(m.frame_indices, dtype=torch.int64)[f]
        table["time"][where] = frame_intervals(m)[f]
        return table

    def _meta(self, segment: Segment, types):
        if segment.modality != Modality.VIDEO or not isinstance(segment.meta, types):
            raise SequenceError(f"expected a video segment, got {segment.modality.label} "
                                f"({type(segment.meta).__name__})")
        m = segment.meta
        if m.image_config is None or m.original_size is None:
            raise SequenceError("the video segment's metadata lacks its image_config or original_size")
        if ImageConfig.from_dict(m.image_config) != self.config.image:
            raise SequenceError("the video segment was made with another frame ImageConfig; use "
                                "VideoTokenizer(VideoConfig(image=ImageConfig.from_dict(segment.meta.image_config)))")
        return m


def frame_intervals(m: VideoMeta) -> torch.Tensor:
    """float64 [N, 2]: each sampled frame's display interval [start, end) in seconds from the clip start (see
    :meth:`VideoTokenizer.provenance_table` for clips saved without ``frame_ends``)."""
    starts = torch.tensor(m.timestamps, dtype=torch.float64)
    if m.frame_ends is not None:
        ends = torch.tensor(m.frame_ends, dtype=torch.float64)
    else:
        ends = starts + (m.duration / m.num_clip_frames if m.num_clip_frames else 0.0)
    return torch.stack([starts, ends], 1).reshape(-1, 2)


def sample_frames(src: VideoSource, num_frames: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampled frames of a clip at its own resolution (rotation applied) and their timestamps.

    Returns torch tensors, as every mmtok output: (uint8 [N, H, W, 3], float64 [N] seconds from the clip start,
    as ``VideoTokens.timestamps``).
    """
    decoded = FrameDecoder(src, source_name(src), VideoConfig(num_frames=num_frames))
    out = None
    for k, rgb in enumerate(decoded):  # each frame copied into place while it is still in the cache
        if out is None:
            out = np.empty((num_frames, *rgb.shape), dtype=np.uint8)
        out[k] = rgb
    return torch.from_numpy(out), torch.as_tensor(decoded.timestamps, dtype=torch.float64)  # no copy of the frames


def video_layout(plan, num_frames: int, vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """Unified ids [n] and relative 3D positions [3, n] of a video segment.

    <start_of_video> at (0, 0, 0); frame i framed by <start_of_frame>/<end_of_frame> with t0 = 1 + i * blocks
    (see :func:`mmtok.image.tokenizer.plan_blocks`); <end_of_video> at t one past the last frame.
    """
    ph = vocab.placeholder(Modality.VIDEO)
    blocks = plan.num_blocks
    ids, pos = [torch.tensor([vocab.special("<start_of_video>")])], [torch.zeros(3, 1, dtype=torch.int64)]
    for i in range(num_frames):
        fi, fp = plan_blocks(plan, vocab, "<start_of_frame>", "<end_of_frame>", ph, t0=1 + i * blocks)
        ids.append(fi)
        pos.append(fp)
    ids.append(torch.tensor([vocab.special("<end_of_video>")]))
    pos.append(torch.tensor([[1 + num_frames * blocks], [0], [0]]))
    return torch.cat(ids), torch.cat(pos, 1)


def _video_tokens(frames: list[ImageTokens], decoded: FrameDecoder, cfg: VideoConfig, name: str) -> VideoTokens:
    """The tokens of the frames of ``decoded``, once it has been iterated to the end."""
    idx, s = decoded.index, decoded.samples
    ends = idx.seconds(s.pts + idx.durations[s.indices] - idx.start)  # each frame shows until its pts + duration
    return VideoTokens(tuple(frames), torch.from_numpy(decoded.timestamps), torch.from_numpy(s.targets),
                       torch.from_numpy(s.pts), torch.from_numpy(s.indices), torch.from_numpy(s.repeats),
                       idx.duration, idx.time_base, len(idx.pts), decoded.frames_decoded, decoded.rotation,
                       cfg.sampling, name, torch.from_numpy(ends))


@functools.lru_cache(maxsize=16)
def _tokenizer_for(image: ImageConfig) -> VideoTokenizer:
    return VideoTokenizer(VideoConfig(image=image))


register_segment_tokenizer(Modality.VIDEO, lambda seg, vocab: _tokenizer_for(
    ImageConfig.from_dict(seg.meta.image_config)))
