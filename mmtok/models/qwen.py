"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL: the same counts, grids, tensors and M-RoPE positions as transformers.

transformers 5.23 processes the images of all three with ``Qwen2VLImageProcessor`` (the torchvision backend,
which ``AutoImageProcessor`` picks by default): :func:`smart_resize` the picture to multiples of
``factor = patch_size * merge_size`` within [min_pixels, max_pixels], resize with torchvision's bicubic filter with
antialias on the uint8 picture, scale to [0, 1] and normalize, cut into ``patch_size`` patches ordered merge block
by merge block, and repeat each patch ``temporal_patch_size`` times (a still image fills one temporal patch).
The model sees ``grid_t * grid_h * grid_w / merge_size**2`` image tokens, written in the prompt as
``<|vision_start|>`` + that many ``<|image_pad|>`` + ``<|vision_end|>`` (``Qwen2VLProcessor.replace_image_token``).

Preprocessing values: each model's published ``preprocessor_config.json`` on the Hugging Face hub (read from
copies quoted in public repositories: nothing is downloaded here), where they differ from the class defaults
(``size = {shortest_edge: 56*56, longest_edge: 28*28*1280}``, patch 14, CLIP mean and std):

| name | checkpoint | patch | merge | temporal | min_pixels | max_pixels | mean / std |
|---|---|---|---|---|---|---|---|
| ``qwen2-vl`` | Qwen/Qwen2-VL-7B-Instruct | 14 | 2 | 2 | 3136 (56*56) | 12845056 (28*28*16384) | CLIP |
| ``qwen2.5-vl`` | Qwen/Qwen2.5-VL-7B-Instruct | 14 | 2 | 2 | 3136 | 12845056 | CLIP |
| ``qwen3-vl`` | Qwen/Qwen3-VL-8B-Instruct | 16 | 2 | 2 | 65536 (256*256) | 16777216 (4096*4096) | 0.5, 0.5 |

(Qwen2/2.5-VL write ``min_pixels``/``max_pixels``; Qwen3-VL writes ``size: {shortest_edge: 65536,
longest_edge: 16777216}``; all three keep the class's bicubic resample and 1/255 rescale.) So a picture becomes
4 to 16384 tokens under Qwen2/2.5-VL and 64 to 16384 under Qwen3-VL.

Refused, as the processor refuses them: a picture whose longer side is more than 200 times the shorter
(:class:`~mmtok.errors.InputError` naming the model and the rule). Audio is not a Qwen-VL input.

Clips (``mmtok.Video(src)``): :mod:`mmtok.models.qwen_video` (sampling at 2 fps, sizes, timestamps, tensors; its
docstring gives the video values and their sources). Position ids: :meth:`QwenVLProcessor.position_ids`, the 3D
M-RoPE ids of ``get_rope_index`` (:mod:`mmtok.models.qwen_rope`); the shared resize arithmetic is in
:mod:`mmtok.models.qwen_resize`.

Exactness (``tests/test_models.py``, against the transformers classes built with the values above): counts and
grids equal over 317 sizes (1x1 to 20000x20000, rounding ties, each limit); ``pixel_values`` equal (max abs
difference measured 0.0) on the bundled photos and on random-noise pictures from 1x1 up, given the same decoded RGB
picture. Pictures are decoded by :mod:`mmtok.media.imageio` (EXIF orientation applied, alpha on white), which for
8-bit files gives what ``ImageOps.exif_transpose(PIL.Image.open(f)).convert("RGB")`` gives; on the bundled photos
it also equals the processor's own decoding of a path (measured 0.0).

``fast=True`` (same counts, grids and positions; other pixel values) decodes a progressive JPEG without its
refinement scans (:mod:`mmtok.media.jpeg_scans`, ``load_image(first_pass="all")``; a side that smart_resize rounds
up by a few pixels counts as kept), and a JPEG at a reduced DCT scale (PIL ``draft``) when that still covers the
resized size, then resizes as the exact path. At the published limits a photo up to max_pixels keeps its size, so
the first passes are the lever (a baseline JPEG has none: it takes the exact path); measured over the 16 photos of
``benchmarks/bench_models.py`` (0.27 to 15.9 MP), ``pixel_values`` differ from the processor's by at most 0.960
(qwen2-vl, qwen2.5-vl; largest mean 0.066) and 0.565 (qwen3-vl; largest mean 0.035) on the normalized scale, 0.0
on the baseline (non-progressive) JPEGs; the bundled 5312x2988 JPEG at most 0.583 (mean 0.0265), and with the
class default max_pixels (28*28*1280), decoded at 1/2 scale, at most 0.555 (mean 0.0190).

Speed (``benchmarks/RESULTS.md``, "Model-exact processors vs transformers (issue 19)"): the exact path resizes into
channels-last memory and normalizes straight into the patch layout block by block
(:func:`~mmtok.models.qwen_resize.patch_rows`), each large buffer taken from :mod:`mmtok.core.buffers` (reused once
the previous call's tensors are gone, so a loop over pictures does not fault in 100 MB of fresh pages each time):
the same bits with fewer passes and page faults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError, InputError
from ..media.container import source_name
from ..media.imageio import image_size
from .base import ModelSpec, Piece, TextIds, load_picture, refusal, register_model, size_only, writes_no_codes
from .qwen_resize import MAX_RATIO, patch_rows, resize_uint8, smart_resize
from .qwen_rope import VisionRun, rope_index
from .qwen_video import QwenVideoConfig, VideoPlan, decode_frames, pixel_values_videos, plan_video, probe_clip

__all__ = ["QwenVLConfig", "QwenVLProcessor", "smart_resize", "QWEN2_VL", "QWEN2_5_VL", "QWEN3_VL", "MAX_RATIO"]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OPENAI_CLIP_MEAN in transformers.image_utils
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"
IMAGE_PAD, VIDEO_PAD = "<|image_pad|>", "<|video_pad|>"
SPECIALS = (VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)


@dataclass(frozen=True)
class QwenVLConfig:
    """One Qwen-VL model's image preprocessing (the module docstring gives each value's source) and its video
    preprocessing (:class:`~mmtok.models.qwen_video.QwenVideoConfig`)."""

    name: str  # mmtok's name for the model, in messages
    checkpoint: str  # the Hugging Face checkpoint whose preprocessor_config.json the values come from
    patch_size: int  # ViT patch side in pixels (14; 16 for Qwen3-VL)
    min_pixels: int  # smart_resize grows a smaller picture to at least this many pixels
    max_pixels: int  # ... and shrinks a larger one to at most this many
    image_mean: tuple[float, float, float]  # per channel, on the [0, 1] scale
    image_std: tuple[float, float, float]
    video: QwenVideoConfig  # how clips are sampled, resized and written (qwen_video's docstring)
    merge_size: int = 2  # the merger folds merge_size x merge_size patches into one LLM token
    temporal_patch_size: int = 2  # frames per temporal patch; a still image is repeated to fill one

    def __post_init__(self) -> None:
        for field in ("patch_size", "min_pixels", "max_pixels", "merge_size", "temporal_patch_size"):
            v = getattr(self, field)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{self.name}: {field} must be a positive int, got {v!r}")
        if self.min_pixels > self.max_pixels:
            raise ConfigError(f"{self.name}: min_pixels {self.min_pixels} is above max_pixels {self.max_pixels}")
        if any(s <= 0 for s in self.image_std):
            raise ConfigError(f"{self.name}: image_std must be positive, got {self.image_std}")
        if not isinstance(self.video, QwenVideoConfig):
            raise ConfigError(f"{self.name}: video must be a QwenVideoConfig, got {type(self.video).__name__}")

    @property
    def factor(self) -> int:
        """Resized sides are multiples of this: one merged token covers factor x factor pixels."""
        return self.patch_size * self.merge_size


_QWEN2_VIDEO = QwenVideoConfig("qwen2", 14, 3136, 12845056, CLIP_MEAN, CLIP_STD)
QWEN2_VL = QwenVLConfig("qwen2-vl", "Qwen/Qwen2-VL-7B-Instruct", 14, 3136, 12845056, CLIP_MEAN, CLIP_STD,
                        _QWEN2_VIDEO)
QWEN2_5_VL = QwenVLConfig("qwen2.5-vl", "Qwen/Qwen2.5-VL-7B-Instruct", 14, 3136, 12845056, CLIP_MEAN, CLIP_STD,
                          QwenVideoConfig("qwen2", 14, 3136, 12845056, CLIP_MEAN, CLIP_STD, second_per_grid_ts=True,
                                          tokens_per_second=2))
QWEN3_VL = QwenVLConfig("qwen3-vl", "Qwen/Qwen3-VL-8B-Instruct", 16, 65536, 16777216, (0.5,) * 3, (0.5,) * 3,
                        QwenVideoConfig("qwen3", 16, 4096, 25165824, (0.5,) * 3, (0.5,) * 3, max_video_tokens=768,
                                        timestamps=True))


def resized_size(cfg: QwenVLConfig, height: int, width: int) -> tuple[int, int]:
    """(height, width) a picture of this size is resized to under ``cfg``."""
    return smart_resize(height, width, cfg.factor, cfg.min_pixels, cfg.max_pixels, cfg.name)


def image_grid(cfg: QwenVLConfig, height: int, width: int) -> tuple[int, int, int]:
    """``image_grid_thw`` of one picture: (1, rows, columns) of ViT patches."""
    rh, rw = resized_size(cfg, height, width)
    return 1, rh // cfg.patch_size, rw // cfg.patch_size


def num_image_tokens(cfg: QwenVLConfig, height: int, width: int) -> int:
    """THE count: the ``<|image_pad|>`` tokens of one picture, grid_t * grid_h * grid_w / merge_size**2."""
    t, gh, gw = image_grid(cfg, height, width)
    return t * gh * gw // cfg.merge_size**2


def pixel_values(cfg: QwenVLConfig, pixels: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pixel_values, image_grid_thw row)`` of one picture.

    Args:
        pixels: uint8 [3, h, w], the decoded picture (possibly decoded smaller than ``size``).
        size: (height, width) of the original picture, which decides the grid.

    Returns:
        float32 [grid_h * grid_w, 3 * temporal_patch_size * patch_size**2]: rows in merge-block order (each
        merge_size x merge_size block of patches row-major, blocks row-major), each row (channel, time, y, x);
        and int64 [3] (1, grid_h, grid_w).
    """
    rh, rw = resized_size(cfg, *size)
    p = cfg.patch_size
    rows = patch_rows(resize_uint8(pixels, (rh, rw))[None], cfg.image_mean, cfg.image_std, p, cfg.merge_size,
                      cfg.temporal_patch_size, still=True)
    return rows, torch.tensor([1, rh // p, rw // p], dtype=torch.long)


class QwenVLProcessor:
    """One Qwen-VL model behind :class:`~mmtok.models.ModelProcessor`: pictures, clips and their positions."""

    def __init__(self, cfg: QwenVLConfig, tokenizer: Any = None, fast: bool = False) -> None:
        self.cfg, self.fast = cfg, fast
        self.text = TextIds(tokenizer, SPECIALS)

    def _size(self, piece: Piece) -> tuple[int, int]:
        """(height, width) of a picture piece, read from its header; other kinds are refused."""
        if piece.kind == "size":
            return piece.value
        if piece.kind == "image":
            w, h = image_size(piece.value)
            return h, w
        raise self._refusal(piece)

    def _refusal(self, piece: Piece) -> InputError:
        if piece.kind == "codes":
            return writes_no_codes(self.cfg.name)
        fix = ("give mmtok.Video(src) without audio=True" if piece.kind == "video" else  # a clip with its sound
               "give the sound to a model that reads audio (whisper, gemma-3n, gemma-4)")
        return refusal(self.cfg.name, "audio", "a Qwen-VL model reads text, images and video", fix)

    def video_plan(self, video: Any) -> VideoPlan:
        """The frames sampled from a clip (``indices``, ``timestamps`` in seconds), its size, grid and count, from
        its packet index and, for a path or bytes, its first frame (a display rotation of 90 or 270 degrees swaps
        the sides the frames are decoded with: :func:`mmtok.models.probe.clip_info`, cached per file). ``video`` is
        ``mmtok.Video(src)`` or the source itself."""
        src = video.src if hasattr(video, "src") and hasattr(video, "audio") else video
        if getattr(video, "audio", False):
            raise self._refusal(Piece("video", video))
        idx, size = probe_clip(src, source_name(src))
        return plan_video(self.cfg.video, idx, self.cfg.name, size=size)

    def _group_text(self, t: float) -> str:
        return f"<{t:.1f} seconds>"

    def num_tokens(self, piece: Piece) -> int:
        """Image or clip: the ``<|image_pad|>`` / ``<|video_pad|>`` count (markers and timestamps excluded); text:
        its tokens."""
        if piece.kind == "text":
            return self.text.count(piece.value)
        if piece.kind == "video":
            return self.video_plan(piece.value).num_tokens
        return num_image_tokens(self.cfg, *self._size(piece))

    def segment_length(self, piece: Piece) -> int:
        """Tokens the piece takes in the prompt: the count plus ``<|vision_start|>`` and ``<|vision_end|>``; for a
        Qwen3-VL clip also each temporal patch's ``<t seconds>`` text and its own pair of markers."""
        if piece.kind == "text":
            return self.num_tokens(piece)
        if piece.kind != "video":
            return self.num_tokens(piece) + 2
        plan = self.video_plan(piece.value)
        if not self.cfg.video.timestamps:
            return plan.num_tokens + 2
        return plan.num_tokens + 2 + sum(self.text.count(self._group_text(t)) + 2 for t in plan.group_times)

    def _load(self, src: Any) -> tuple[torch.Tensor, tuple[int, int]]:
        """uint8 [3, h, w] and the original (height, width); with ``fast`` a JPEG decodes at the smallest DCT
        scale that still covers the resized size."""
        # a side rounded up by a few pixels still counts as kept, so the first pass applies (load_image allows it
        # only when the needed size is within the picture's); the DCT scale is chosen from the same size
        loaded = load_picture(src, self.fast,
                              lambda w, h: tuple(min(a, b) for a, b in zip(resized_size(self.cfg, h, w)[::-1], (w, h))))
        w, h = loaded.size
        return loaded.pixels, (h, w)

    def _video_parts(self, plan: VideoPlan) -> list[tuple[str, str]]:
        """What ``<|video_pad|>`` becomes in the prompt (``replace_video_token``)."""
        if not self.cfg.video.timestamps:
            return [("special", VIDEO_PAD)] * plan.num_tokens
        parts: list[tuple[str, str]] = []
        for t in plan.group_times:
            parts += [("text", self._group_text(t)), ("special", VISION_START)]
            parts += [("special", VIDEO_PAD)] * plan.tokens_per_group + [("special", VISION_END)]
        return parts

    def _video_runs(self, plan: VideoPlan) -> list[VisionRun]:
        """The clip's vision runs for the positions (qwen_rope): one per temporal patch for Qwen3-VL."""
        m, v = self.cfg.merge_size, self.cfg.video
        t, h, w = plan.grid[0], plan.grid[1] // m, plan.grid[2] // m
        if v.timestamps:
            return [((1, h, w), 1)] * t
        if v.second_per_grid_ts:  # float32, as the processor's tensor reaches get_rope_index
            return [((t, h, w), v.tokens_per_second * torch.tensor(plan.second_per_grid_t, dtype=torch.float32))]
        return [((t, h, w), 1)]

    def _layout(self, pieces: list[Piece], pixels: bool) -> tuple[list[tuple[str, str]], list[VisionRun], dict]:
        """The prompt's parts (text and markers, as the processor expands them), its vision runs and, with
        ``pixels``, the tensors of its pictures and clips."""
        parts: list[tuple[str, str]] = []
        runs: list[VisionRun] = []
        out: dict[str, list] = {"pixel_values": [], "image_grid_thw": [], "pixel_values_videos": [],
                                "video_grid_thw": [], "second_per_grid_ts": []}
        m = self.cfg.merge_size
        for piece in pieces:
            if piece.kind == "text":
                parts.append(("text", piece.value))
                continue
            if piece.kind == "video":
                if getattr(piece.value, "audio", False):
                    raise self._refusal(piece)
                if pixels:
                    src = piece.value.src
                    frames, plan = decode_frames(src, source_name(src), self.cfg.video, self.cfg.name)
                    pv = pixel_values_videos(self.cfg.video, frames, plan)
                    assert pv.shape[0] == plan.num_tokens * m**2, (pv.shape, plan.grid)
                    out["pixel_values_videos"].append(pv)
                else:
                    plan = self.video_plan(piece.value)
                out["video_grid_thw"].append(torch.tensor(plan.grid, dtype=torch.long))
                out["second_per_grid_ts"].append(plan.second_per_grid_t)
                parts += [("special", VISION_START)] + self._video_parts(plan) + [("special", VISION_END)]
                runs += self._video_runs(plan)
                continue
            if piece.kind == "size" and pixels:
                raise size_only(self.cfg.name, piece)
            if piece.kind not in ("image", "size"):
                raise self._refusal(piece)
            if pixels:
                loaded, size = self._load(piece.value)
                pv, grid = pixel_values(self.cfg, loaded, size)
                out["pixel_values"].append(pv)
            else:
                size = self._size(piece)
                grid = torch.tensor(image_grid(self.cfg, *size), dtype=torch.long)
            n = num_image_tokens(self.cfg, *size)
            out["image_grid_thw"].append(grid)
            parts += [("special", VISION_START)] + [("special", IMAGE_PAD)] * n + [("special", VISION_END)]
            runs.append(((1, int(grid[1]) // m, int(grid[2]) // m), 1))
        return parts, runs, out

    def _token_types(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``mm_token_type_ids``: 1 on image pads, 2 on video pads, 0 elsewhere (int64 [1, L])."""
        ids = self.text.special_ids
        return (input_ids == ids[IMAGE_PAD]).long() + 2 * (input_ids == ids[VIDEO_PAD]).long()

    def hf_inputs(self, pieces: list[Piece]) -> dict[str, torch.Tensor]:
        """What ``Qwen2VLProcessor`` (``Qwen2_5_VLProcessor``, ``Qwen3VLProcessor``) returns with
        ``return_tensors="pt"`` for ``text=[prompt], images=[the pictures], videos=[the clips' decoded frames],
        video_metadata=[their total frames and fps]`` (and, for Qwen2/2.5-VL, ``do_sample_frames=True, fps=2``: see
        :mod:`mmtok.models.qwen_video`), where ``prompt`` is the pieces in order, each picture written as
        ``<|vision_start|><|image_pad|><|vision_end|>`` and each clip as ``<|vision_start|><|video_pad|><|vision_end|>``
        (no chat template is applied): ``input_ids``, ``attention_mask``, ``mm_token_type_ids`` (1 on image tokens,
        2 on video tokens), int64 [1, L]; with pictures ``pixel_values`` float32 [sum of grid_h * grid_w,
        3 * temporal_patch_size * patch_size**2] and ``image_grid_thw`` int64 [n_images, 3]; with clips
        ``pixel_values_videos`` float32 [sum of grid_t * grid_h * grid_w, same], ``video_grid_thw`` int64
        [n_videos, 3] and, for Qwen2.5-VL, ``second_per_grid_ts`` float32 [n_videos]. Without a Hugging Face
        tokenizer the text ids are mmtok's (:class:`~mmtok.models.base.TextIds`); everything else is the same."""
        parts, _, lists = self._layout(pieces, pixels=True)
        input_ids, attention_mask = self.text.encode(parts)
        types = self._token_types(input_ids)
        m2 = self.cfg.merge_size**2
        assert int((types == 1).sum()) == sum(len(r) for r in lists["pixel_values"]) // m2
        assert int((types == 2).sum()) == sum(len(r) for r in lists["pixel_values_videos"]) // m2
        out = {"input_ids": input_ids, "attention_mask": attention_mask, "mm_token_type_ids": types}
        for rows, grids in (("pixel_values", "image_grid_thw"), ("pixel_values_videos", "video_grid_thw")):
            if lists[rows]:
                out[rows] = lists[rows][0] if len(lists[rows]) == 1 else torch.cat(lists[rows])
                out[grids] = torch.stack(lists[grids])
        if lists["pixel_values_videos"] and self.cfg.video.second_per_grid_ts:
            out["second_per_grid_ts"] = torch.tensor(lists["second_per_grid_ts"], dtype=torch.float32)
        return out

    def rope_index(self, pieces: list[Piece]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(position_ids, rope_deltas)``: int64 [3, 1, L] and [1, 1], what the model's ``get_rope_index`` returns
        for :meth:`hf_inputs`' tensors; from headers and packet indices only (no pixel decoded)."""
        parts, runs, _ = self._layout(pieces, pixels=False)
        input_ids, _ = self.text.encode(parts)
        return rope_index(self._token_types(input_ids)[0], runs)

    def position_ids(self, pieces: list[Piece]) -> torch.Tensor:
        """The 3D M-RoPE position ids, int64 [3, 1, L] (temporal, height, width) (:meth:`rope_index`)."""
        return self.rope_index(pieces)[0]


def _build(cfg: QwenVLConfig, tokenizer: Any, fast: bool) -> QwenVLProcessor:
    return QwenVLProcessor(cfg, tokenizer, fast)


for _cfg in (QWEN2_VL, QWEN2_5_VL, QWEN3_VL):
    register_model(ModelSpec(_cfg.name, "qwen", _cfg, _build))
