"""The resize and normalize arithmetic the Qwen-VL image and video paths share, step for step as transformers 5.23.

- :func:`smart_resize`: ``transformers.models.qwen2_vl.image_processing_qwen2_vl.smart_resize``, used for every
  picture of all three models and for each frame of a Qwen2/2.5-VL clip (the video processor has a copy).
- :func:`smart_resize_video`: ``transformers.models.qwen3_vl.video_processing_qwen3_vl.smart_resize``, the Qwen3-VL
  clip size, whose pixel limits count every frame (``t_bar * h_bar * w_bar``).
- :func:`resize_uint8` and :func:`normalize`: torchvision's uint8 bicubic resize with antialias and the processors'
  fused rescale-and-normalize, so the float32 values are the same.
- :func:`patch_rows`: normalize and cut into patches block by block, each block's passes in the core's cache
  (the same operations on the same values, so the same bits as :func:`normalize` then ``rearrange``; about 3x
  faster on a 6 MP picture, measured in ``benchmarks/RESULTS.md``, "Model-exact processors vs transformers").
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from ..core import buffers, threads
from ..errors import InputError
from .pixels import fused

__all__ = ["MAX_RATIO", "RESCALE", "smart_resize", "smart_resize_video", "resize_uint8", "normalize", "patch_rows",
           "empty_float32"]

MAX_RATIO = 200  # smart_resize refuses a picture whose longer side exceeds 200 x its shorter side
RESCALE = 1 / 255  # Qwen2VLImageProcessor.rescale_factor (the BaseImageProcessor default)
# floats of pixel_values written per block of patch_rows (1 MB; at least one row of merge blocks), so a block's
# four passes (convert, subtract, divide, repeat) reuse the core's cache instead of streaming a 100 MB buffer four
# times (a 6 MP picture: 34 against 48 ms, 2026-11-30). Blocks run on Python threads of one torch thread each:
# with torch's own two threads, each of a 6 MP picture's ~560 passes waited at an OpenMP barrier, and beside two
# busy processes a wait costs a scheduler slice (the picture took 2.2-2.5 s against transformers' 0.3-0.6 s).
PATCH_BLOCK = 1 << 18


def _check_ratio(height: int, width: int, model: str, what: str, shown: tuple[int, int] | None = None) -> None:
    """Refuse a ratio over MAX_RATIO; the message names the size ``shown`` (height, width), by default this one."""
    if max(height, width) / min(height, width) > MAX_RATIO:
        sh, sw = shown or (height, width)
        raise InputError(f"{model} refuses a {sw}x{sh} {what} (width x height): its aspect ratio "
                         f"{max(height, width) / min(height, width):.1f} is over {MAX_RATIO}, the limit of the "
                         f"model's processor (smart_resize); crop or pad it to a ratio of {MAX_RATIO}:1 or less")


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int,
                 model: str = "qwen2-vl", what: str = "picture") -> tuple[int, int]:
    """(height, width) in pixels a picture is resized to: each a multiple of ``factor``, the area within
    [min_pixels, max_pixels] (rounded to the nearest multiple first, then scaled down with floor or up with ceil),
    the aspect ratio kept as well as that allows. The arithmetic of transformers' ``smart_resize``, step for step
    (Python's round-half-even included), so that the sides agree for every size.

    A longer side more than :data:`MAX_RATIO` times the shorter raises :class:`InputError` naming ``model``.
    """
    if min(height, width) < 1:
        raise InputError(f"{model}: a {what} needs at least 1x1 pixels, got {width}x{height} (width x height)")
    _check_ratio(height, width, model, what)
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def smart_resize_video(num_frames: int, height: int, width: int, factor: int, temporal_factor: int,
                       min_pixels: int, max_pixels: int, model: str = "qwen3-vl") -> tuple[int, int]:
    """(height, width) every frame of a Qwen3-VL clip of ``num_frames`` sampled frames is resized to: as
    :func:`smart_resize`, but a side under ``factor`` is first scaled up to it (``int`` truncation, as there) and the
    limits hold for ``round(num_frames / temporal_factor) * temporal_factor`` frames together.

    Fewer than ``temporal_factor`` frames raise :class:`InputError` (the processor raises ``ValueError``).
    """
    if num_frames < temporal_factor:
        raise InputError(f"{model} refuses a clip of {num_frames} sampled frame(s): its video processor needs at "
                         f"least temporal_patch_size={temporal_factor} frames (smart_resize: t must be at least "
                         f"temporal_factor); give a clip with more frames or pass its frame as an image")
    if min(height, width) < 1:
        raise InputError(f"{model}: a clip needs frames of at least 1x1 pixels, got {width}x{height}")
    shown = (height, width)
    if height < factor or width < factor:
        scale = max(factor / height, factor / width)
        height, width = int(height * scale), int(width * scale)
    _check_ratio(height, width, model, "clip", shown)
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    t_bar = round(num_frames / temporal_factor) * temporal_factor
    if t_bar * h_bar * w_bar > max_pixels:
        beta = math.sqrt((num_frames * height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif t_bar * h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (num_frames * height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def resize_uint8(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 [..., 3, h, w] -> uint8 [..., 3, *size]: torchvision's tensor resize (the uint8 bicubic kernel with
    antialias, rounded back to uint8); a picture already at ``size`` is returned untouched, as torchvision does.
    A channels-last input (a decoded picture) is resized into channels-last numpy-allocated memory (huge pages, see
    :func:`empty_float32`): the same values as ``F.interpolate``, without its copy back to channels-first."""
    if tuple(pixels.shape[-2:]) == tuple(size):
        return pixels
    lead = pixels.shape[:-3]
    flat = pixels.reshape(-1, *pixels.shape[-3:])
    if not flat.is_contiguous(memory_format=torch.channels_last):
        out = F.interpolate(flat, size=list(size), mode="bicubic", align_corners=False, antialias=True)
        return out.reshape(*lead, *out.shape[-3:])
    out = buffers.empty((flat.shape[0], *size, flat.shape[1]), np.uint8).permute(0, 3, 1, 2)
    # F.interpolate(flat, size, mode="bicubic", align_corners=False, antialias=True), into ``out``
    torch.ops.aten._upsample_bicubic2d_aa.out(flat, list(size), False, None, None, out=out)
    return out.reshape(*lead, *out.shape[-3:])


def normalize(pixels: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 [..., 3, h, w] -> float32, ``(x - mean) / std`` with mean and std moved to the 0..255 scale as the
    processors fuse rescale into normalize (``torch.tensor(mean) * (1 / rescale_factor)``)."""
    m, s = fused(mean, RESCALE).view(-1, 1, 1), fused(std, RESCALE).view(-1, 1, 1)
    return (pixels.to(torch.float32) - m) / s


def empty_float32(*shape: int) -> torch.Tensor:
    """An uninitialised float32 tensor from :func:`mmtok.core.buffers.empty`: a large one reuses a buffer its
    last user let go (no page faults), else numpy allocates it (transparent huge pages on large buffers, which made
    the first write of a 100 MB ``pixel_values`` about 3x cheaper than torch's 4 KB pages). An ordinary, writable,
    contiguous tensor."""
    return buffers.empty(shape, np.float32)


def patch_rows(frames: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...], patch: int, merge: int,
               temporal: int, still: bool = False) -> torch.Tensor:
    """Resized uint8 frames -> the processors' ``pixel_values`` rows, normalized as :func:`normalize`.

    Args:
        frames: uint8 [N, 3, h, w], sides multiples of ``patch * merge``; N a multiple of ``temporal`` (a clip,
            padded by the caller), or 1 with ``still`` (a picture, repeated ``temporal`` times as the processors
            repeat it).

    Returns:
        float32 [(N / temporal or 1) * (h / patch) * (w / patch), 3 * temporal * patch**2]: rows in merge-block
        order, each (channel, time, y, x) — ``rearrange(normalize(frames), "(gt t) c (gh m1 p1) (gw m2 p2) ->
        (gt gh gw m1 m2) (c t p1 p2)")`` bit for bit (each value is the same float32 ``(v - m) / s``).
    """
    n, _, h, w = frames.shape
    gt, t_in = (1, 1) if still else (n // temporal, temporal)
    assert (n == 1 if still else n % temporal == 0) and h % (patch * merge) == 0 and w % (patch * merge) == 0
    gh, gw = h // (patch * merge), w // (patch * merge)
    out = empty_float32(gt, gh, gw, merge, merge, 3, temporal, patch, patch)
    src = rearrange(frames, "(gt t) c (gh m1 p1) (gw m2 p2) -> gt gh gw m1 m2 c t p1 p2", t=t_in, m1=merge, m2=merge,
                    p1=patch, p2=patch)
    m, s = fused(mean, RESCALE).view(3, 1, 1, 1), fused(std, RESCALE).view(3, 1, 1, 1)  # as in normalize
    row = gw * merge * merge * 3 * temporal * patch * patch  # floats per row of merge blocks
    if gh * row <= PATCH_BLOCK:  # small frames: blocks of whole temporal groups
        step = PATCH_BLOCK // (gh * row)
        blocks = [(slice(t, t + step), slice(None)) for t in range(0, gt, step)]
    else:  # blocks of rows within each temporal group
        step = max(1, PATCH_BLOCK // row)
        blocks = [(slice(t, t + 1), slice(a, a + step)) for t in range(gt) for a in range(0, gh, step)]
    def fill(block: tuple[slice, slice]) -> None:  # a block's passes reuse the core's cache
        ts, rs = block
        dst = out[ts, rs, :, :, :, :, :t_in]
        dst.copy_(src[ts, rs])  # uint8 -> float32, in patch order
        dst.sub_(m).div_(s)
        if still:
            out[ts, rs, :, :, :, :, 1:].copy_(dst)  # the picture's patch repeated over the temporal patch

    # blocks shared out to torch.get_num_threads() threads of one torch thread each, taken in turn: no OpenMP
    # barrier per pass, so a thread that loses its core under load does not hold the others up
    threads.map_threads(fill, blocks, threads=torch.get_num_threads())
    return out.view(gt * gh * gw * merge * merge, 3 * temporal * patch * patch)
