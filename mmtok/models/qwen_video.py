"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL clips: the frames sampled, the grid, the count and the tensors of transformers
5.23's video processors, the count read from the clip's packet index without decoding a frame.

What the processors do with a clip of ``total`` decoded frames at ``fps`` frames per second (``VideoMetadata``):

- **Sampling** (``do_sample_frames=True``). ``Qwen2VLVideoProcessor.sample_frames`` (Qwen2-VL, Qwen2.5-VL):
  ``n = total / fps * sample_fps`` clamped to [min_frames, max_frames] and to ``total``, floored to a multiple of
  temporal_patch_size; indices ``torch.arange(0, total, total / n).int()``. ``Qwen3VLVideoProcessor.sample_frames``:
  ``n = int(total / fps * sample_fps)`` clamped to [min_frames, max_frames] and to ``total``; indices
  ``np.linspace(0, total - 1, n).round()``. Each frame index ``i`` is at ``i / fps`` seconds.
- **Resize**: every frame to one size. Qwen2/2.5-VL: the image ``smart_resize`` per frame; Qwen3-VL:
  :func:`~mmtok.models.qwen_resize.smart_resize_video`, whose pixel limits count all frames. Then the uint8 bicubic
  resize with antialias, rescale and normalize, as for pictures.
- **Patches**: the frame count padded to a multiple of temporal_patch_size by repeating the last frame; rows
  ``(grid_t, grid_h, grid_w)`` in merge-block order, each row (channel, time, y, x).
- **Prompt**: ``<|video_pad|>`` is replaced by grid_t * grid_h * grid_w / merge_size**2 pads (Qwen2/2.5-VL); by,
  for each temporal patch, ``<{t:.1f} seconds>`` + ``<|vision_start|>`` + grid_h * grid_w / merge_size**2 pads +
  ``<|vision_end|>`` (Qwen3-VL: t the mean time of the patch's first and last frame). Qwen2.5-VL also returns
  ``second_per_grid_ts = temporal_patch_size / sampled_fps``, ``sampled_fps = n / total * fps``.

Preprocessing values (the models' published processor configs, read from copies quoted in public repositories):

| name | source | sizes per frame | sampling | frames |
|---|---|---|---|---|
| ``qwen2-vl`` | Qwen/Qwen2-VL-7B-Instruct ``preprocessor_config.json`` (no video file: ``AutoProcessor`` builds the video processor from it) | min_pixels 3136, max_pixels 12845056 per frame | class default ``do_sample_frames=False``, no fps | 4..768 |
| ``qwen2.5-vl`` | Qwen/Qwen2.5-VL-7B-Instruct, same (its ``Qwen2VLVideoProcessor`` printout: size 3136..12845056, ``fps: null``, ``do_sample_frames: false``); ``vision_config.tokens_per_second = 2`` (``config.json``) | as above | as above | 4..768 |
| ``qwen3-vl`` | Qwen/Qwen3-VL-8B-Instruct ``video_preprocessor_config.json`` (the Qwen3-VL Instruct checkpoints share it; copy read from a Qwen3-VL-2B-Instruct printout) | size 4096..25165824 for all frames together, patch 16, mean/std 0.5 | ``do_sample_frames: true``, ``fps: 2`` | 4..768 |

**Default sampling: 2 frames per second for all three.** Qwen3-VL publishes it. Qwen2/2.5-VL publish no video
config, so their bare processor keeps every frame (a 30 fps clip costs 15 temporal patches a second); their model
cards sample at 2 fps instead (``qwen_vl_utils.process_vision_info``, ``FPS = 2.0``, 4..768 frames). mmtok samples
as transformers does when told so: ``processor(..., do_sample_frames=True, fps=2)`` (``Qwen2VLVideoProcessor``'s
``arange`` indices, which may differ from qwen_vl_utils' ``linspace``). ``QwenVideoConfig(fps=None)`` keeps every
frame, as the bare processor. ``cap_pixels_per_frame`` is False, the 5.23 default (``None`` warns, then means
False); True gives the capped sizes of both processors.

Metadata: ``total`` is the number of frames in the clip's packet index (:mod:`mmtok.video.index`, equal to a full
decode), ``fps = total / duration`` (duration = last pts + its duration - first pts), as an exact ratio of the
integer ticks: torchcodec's ``average_fps``, transformers' default decoder. Refused as the processors refuse
(:class:`~mmtok.errors.InputError` naming the model and the rule): a clip under 2 frames (Qwen2/2.5-VL with
sampling: ``n`` floors to 0; Qwen3-VL: fewer sampled frames than temporal_patch_size), frames with an aspect ratio
over 200. A display rotation of 90 or 270 degrees swaps the sides the frames are decoded with; it is only known
from a decoded frame, so :meth:`QwenVLProcessor.video_plan` (counts, ``position_ids``) reads the first frame of a
path or bytes (:func:`mmtok.models.probe.clip_info`, cached per file) and plans with the displayed sides, as
:meth:`QwenVLProcessor.hf_inputs` does from the decoded frames (tested: the positions equal ``get_rope_index`` on
``hf_inputs``' grid). A clip given as an open file object is read once only: its plan keeps the coded sides (the
resize arithmetic is symmetric, so its count stays exact; its positions' height and width would swap).

Qwen3-VL's prompt: transformers 5.23 replaces only the ``<|video_pad|>`` token, so the ``<|vision_start|>`` and
``<|vision_end|>`` written around it stay outside the per-patch expansion (``<|vision_start|><0.3 seconds>
<|vision_start|>...<|vision_end|>...<|vision_end|>``); mmtok writes the same.

Exactness (``tests/test_models_qwen_video.py``, against the processor classes built with the values above and fed
the frames PyAV decodes from the whole clip; mmtok decodes only the sampled ones): sampled indices, grids, counts,
Qwen3-VL's timestamps and Qwen2.5-VL's ``second_per_grid_ts`` equal over 317 (frames, fps, size) combinations per
model (2 to 40000 frames, 0.5 to 120 fps, 1x200 to 4000x4000 frames); every key of the whole processor call equal
(``pixel_values_videos`` max abs difference measured 0.0) on the bundled ``cityCC0.mpg`` (190 frames, 720x405,
25 fps) and five lavfi testsrc clips (160x120 at 25 fps 25 frames, 320x180 at 30 fps 69 frames, 97x55 at 12 fps
3 frames, 40x300 at 10 fps 7 frames, 64x48 at 5 fps 2 frames), also with ``fps=None`` and ``cap_pixels_per_frame``.
``fast=True`` changes nothing for clips (no reduced-scale decoding): the same tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange

from ..errors import ConfigError, InputError
from ..image.plan import ImageConfig
from ..video.frames import FrameDecoder
from ..video.index import ClipIndex, check_duration, open_video, read_index
from ..video.tokenizer import VideoConfig
from .probe import clip_info
from .qwen_resize import patch_rows, resize_uint8, smart_resize, smart_resize_video

__all__ = ["QwenVideoConfig", "VideoPlan", "clip_index", "probe_clip", "clip_metadata", "sample_indices", "plan_video",
           "plan_frames", "decode_frames", "pixel_values_videos", "group_timestamps", "MAX_DURATION"]

MAX_DURATION = 4 * 3600.0  # seconds; mmtok's guard on a clip (VideoConfig.max_duration), LimitError beyond


@dataclass(frozen=True)
class QwenVideoConfig:
    """One Qwen-VL model's video preprocessing (the module docstring gives each value's source)."""

    processor: str  # "qwen2" (Qwen2VLVideoProcessor: Qwen2-VL, Qwen2.5-VL) or "qwen3" (Qwen3VLVideoProcessor)
    patch_size: int  # ViT patch side in pixels (14; 16 for Qwen3-VL)
    min_pixels: int  # size["shortest_edge"]: per frame (qwen2) or for all sampled frames together (qwen3)
    max_pixels: int  # size["longest_edge"], likewise
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    fps: float | None = 2.0  # frames sampled per second of clip; None keeps every frame (do_sample_frames=False)
    min_frames: int = 4  # sampling never takes fewer (unless the clip has fewer)
    max_frames: int = 768  # ... nor more
    merge_size: int = 2
    temporal_patch_size: int = 2  # frames per temporal patch; the last frame is repeated to fill the last one
    cap_pixels_per_frame: bool = False  # the qwen-vl-utils pixel budget (transformers 5.23: off unless asked)
    max_video_tokens: int = 128000  # the budget cap_pixels_per_frame uses (128000 qwen2; 768 per frame qwen3)
    timestamps: bool = False  # Qwen3-VL writes "<t seconds>" before each temporal patch
    second_per_grid_ts: bool = False  # Qwen2.5-VL returns temporal_patch_size / sampled fps per clip
    tokens_per_second: int = 1  # Qwen2.5-VL's vision_config.tokens_per_second: temporal position step per second

    def __post_init__(self) -> None:
        if self.processor not in ("qwen2", "qwen3"):
            raise ConfigError(f"QwenVideoConfig.processor is 'qwen2' or 'qwen3', got {self.processor!r}")
        for field in ("patch_size", "min_pixels", "max_pixels", "min_frames", "max_frames", "merge_size",
                      "temporal_patch_size", "max_video_tokens", "tokens_per_second"):
            v = getattr(self, field)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"QwenVideoConfig.{field} must be a positive int, got {v!r}")
        if self.fps is not None and not (isinstance(self.fps, (int, float)) and self.fps > 0):
            raise ConfigError(f"QwenVideoConfig.fps must be a positive number or None (every frame), got {self.fps!r}")

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


@dataclass(frozen=True)
class VideoPlan:
    """What the processor does with one clip, known from its packet index alone (nothing decoded)."""

    total_frames: int  # frames in the clip
    fps: float  # total_frames / duration
    size: tuple[int, int]  # (height, width) of the decoded frames
    indices: np.ndarray  # int64 [N] the sampled frames, presentation order (0 = first frame)
    resized: tuple[int, int]  # (height, width) every frame is resized to
    grid: tuple[int, int, int]  # video_grid_thw: (ceil(N / temporal_patch_size), rows, columns) of patches
    group_times: tuple[float, ...]  # seconds of each temporal patch: mean of its first and last frame's time
    second_per_grid_t: float  # temporal_patch_size / sampled fps (Qwen2.5-VL's second_per_grid_ts)
    merge_size: int

    @property
    def timestamps(self) -> np.ndarray:
        """float64 [N] seconds of each sampled frame, ``index / fps`` (``VideoMetadata.timestamps``)."""
        return self.indices / self.fps

    @property
    def tokens_per_group(self) -> int:
        """``<|video_pad|>`` tokens of one temporal patch."""
        return self.grid[1] * self.grid[2] // self.merge_size**2

    @property
    def num_tokens(self) -> int:
        """THE count: ``<|video_pad|>`` tokens of the clip, grid_t * grid_h * grid_w / merge_size**2."""
        return self.grid[0] * self.tokens_per_group


def clip_index(src: Any, name: str) -> ClipIndex:
    """The packet index of a clip (every frame's timestamps; no frame decoded)."""
    container, stream = open_video(src, name)
    try:
        return read_index(container, stream, name, MAX_DURATION)
    finally:
        container.close()


def probe_clip(src: Any, name: str) -> tuple[ClipIndex, tuple[int, int] | None]:
    """A clip's packet index and its displayed (height, width), in one read: for a path or bytes from
    :func:`mmtok.models.probe.clip_info` (cached per file; rotation from the first frame), for a file object (read
    once only) the index alone and None (the coded sides)."""
    if isinstance(src, (str, Path, bytes, bytearray, memoryview)):
        info = clip_info(src)
        check_duration(info.index, name, MAX_DURATION)
        return info.index, (info.height, info.width)
    return clip_index(src, name), None


def clip_metadata(idx: ClipIndex) -> tuple[int, float]:
    """``(total_num_frames, fps)`` of the clip as handed to the processor: fps = frames / duration, the exact
    ratio of integer ticks rounded once to a float."""
    total = len(idx.pts)
    num, den = idx.time_base
    return total, total * den / ((idx.end - idx.start) * num)


def sample_indices(cfg: QwenVideoConfig, total: int, fps: float, model: str) -> np.ndarray:
    """int64 [N] the frames the processor's ``sample_frames`` takes (every frame when ``cfg.fps`` is None)."""
    tps = cfg.temporal_patch_size
    if cfg.fps is None:
        return np.arange(total, dtype=np.int64)
    if cfg.processor == "qwen2":
        max_frames = math.floor(min(cfg.max_frames, total) / tps) * tps
        n = total / fps * cfg.fps
        n = math.floor(min(max(n, cfg.min_frames), max_frames, total) / tps) * tps
        if n < 1:
            raise InputError(f"{model} refuses a clip of {total} frame(s) when sampling at {cfg.fps:g} fps: "
                             f"Qwen2VLVideoProcessor.sample_frames floors the frame count to a multiple of "
                             f"temporal_patch_size={tps}, which gives 0; give a clip of at least {tps} frames")
        return torch.arange(0, total, total / n).int().numpy().astype(np.int64)
    n = int(total / fps * cfg.fps)
    n = min(max(n, cfg.min_frames), cfg.max_frames, total)
    return np.linspace(0, total - 1, n).round().astype(np.int64)


def group_timestamps(indices: np.ndarray, fps: float, tps: int) -> tuple[float, ...]:
    """Seconds written before each temporal patch (``Qwen3VLProcessor._calculate_timestamps``): the indices padded
    with the last one to a multiple of ``tps``, each patch the mean of its first and last frame's ``index / fps``."""
    idx = indices.tolist()
    if len(idx) % tps:
        idx += [idx[-1]] * (tps - len(idx) % tps)
    t = [i / fps for i in idx]
    return tuple((t[i] + t[i + tps - 1]) / 2 for i in range(0, len(t), tps))


def _resized(cfg: QwenVideoConfig, n: int, height: int, width: int, model: str) -> tuple[int, int]:
    """(height, width) the n sampled frames are resized to (the processor's ``resize``)."""
    f, tps = cfg.factor, cfg.temporal_patch_size
    if cfg.processor == "qwen2":
        max_pixels = cfg.max_pixels
        if cfg.cap_pixels_per_frame:
            total_pixels = int(cfg.max_video_tokens * f * f * 0.9)
            max_pixels = max(min(max_pixels, total_pixels * tps // n), int(cfg.min_pixels * 1.05))
        return smart_resize(height, width, f, cfg.min_pixels, max_pixels, model, "clip")
    max_pixels = cfg.max_pixels
    if cfg.cap_pixels_per_frame:
        per_frame = max(min(cfg.max_video_tokens * f * f, cfg.max_pixels // n), int(cfg.min_pixels * 1.05))
        max_pixels = per_frame * n
    return smart_resize_video(n, height, width, f, tps, cfg.min_pixels, max_pixels, model)


def plan_video(cfg: QwenVideoConfig, idx: ClipIndex, model: str, size: tuple[int, int] | None = None) -> VideoPlan:
    """The sampling, size, grid and timestamps of a clip from its index; ``size`` (height, width) overrides the
    coded frame size (a rotated clip's decoded frames)."""
    total, fps = clip_metadata(idx)
    return plan_frames(cfg, total, fps, size if size is not None else (idx.height, idx.width), model)


def plan_frames(cfg: QwenVideoConfig, total: int, fps: float, size: tuple[int, int], model: str) -> VideoPlan:
    """:class:`VideoPlan` of a clip of ``total`` frames at ``fps`` whose frames are ``size`` (height, width): THE
    count function for clips (the video processor's ``sample_frames``, ``resize`` and ``patchify`` sizes)."""
    indices = sample_indices(cfg, total, fps, model)
    rh, rw = _resized(cfg, len(indices), *size, model)
    tps, p = cfg.temporal_patch_size, cfg.patch_size
    grid = (-(-len(indices) // tps), rh // p, rw // p)
    sampled_fps = len(indices) / total * fps
    return VideoPlan(total, fps, tuple(size), indices, (rh, rw), grid, group_timestamps(indices, fps, tps),
                     tps / sampled_fps, cfg.merge_size)


def decode_frames(src: Any, name: str, cfg: QwenVideoConfig, model: str) -> tuple[torch.Tensor, VideoPlan]:
    """The sampled frames, uint8 [N, 3, h, w] (display rotation applied), and the clip's plan. Only the sampled
    frames are kept; :class:`~mmtok.video.frames.FrameDecoder` seeks where the container allows."""
    dec = FrameDecoder(src, name, VideoConfig(num_frames=1, image=ImageConfig(), max_duration=MAX_DURATION))
    plan = plan_video(cfg, dec.index, model)
    idx = dec.index
    dec.pick(plan.indices)  # the processor's picks, not mmtok's sampling rule
    frames = torch.from_numpy(np.stack(list(dec)))  # (N, h, w, 3)
    frames = rearrange(frames, "n h w c -> n c h w")  # channels-last strides, as resize_uint8 likes them
    if tuple(frames.shape[-2:]) != plan.size:  # rotated by 90 or 270 degrees: the sides swap
        plan = plan_video(cfg, idx, model, size=tuple(frames.shape[-2:]))
    return frames, plan


def pixel_values_videos(cfg: QwenVideoConfig, frames: torch.Tensor, plan: VideoPlan) -> torch.Tensor:
    """float32 [grid_t * grid_h * grid_w, 3 * temporal_patch_size * patch_size**2] of the sampled frames
    (uint8 [N, 3, h, w]): resized, normalized, padded with the last frame, cut into merge-ordered patches."""
    x = resize_uint8(frames, plan.resized)  # (N, 3, rh, rw) uint8
    if pad := -x.shape[0] % cfg.temporal_patch_size:
        x = torch.cat([x, x[-1:].expand(pad, -1, -1, -1)])
    return patch_rows(x, cfg.image_mean, cfg.image_std, cfg.patch_size, cfg.merge_size, cfg.temporal_patch_size)
