"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL: the image path, the same counts, grids and tensors as transformers.

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
(:class:`~mmtok.errors.InputError` naming the model and the rule). Video is not here yet; audio is not a Qwen-VL
input.

Exactness (``tests/test_models.py``, against the transformers classes built with the values above): counts and
grids equal over 317 sizes (1x1 to 20000x20000, rounding ties, each limit); ``pixel_values`` equal (max abs
difference measured 0.0) on the bundled photos and on random-noise pictures from 1x1 up, given the same decoded RGB
picture. Pictures are decoded by :mod:`mmtok.media.imageio` (EXIF orientation applied, alpha on white), which for
8-bit files gives what ``ImageOps.exif_transpose(PIL.Image.open(f)).convert("RGB")`` gives; on the bundled photos
it also equals the processor's own decoding of a path (measured 0.0).

``fast=True`` decodes a JPEG at a reduced DCT scale (PIL ``draft``) when that still covers the resized size, and
resizes from there: the same counts and grids, other pixel values. At the published limits that happens only for
a JPEG over about 4 x max_pixels, so on the bundled photos ``fast=True`` gives the exact tensors; with the class
default max_pixels (28*28*1280) the bundled 5312x2988 JPEG decodes at 1/2 scale and its pixel values differ from
the processor's by at most 0.555 (mean 0.0097) on the normalized scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import repeat

from ..errors import ConfigError, InputError
from ..media.imageio import image_size, load_image
from .base import ModelSpec, Piece, TextIds, register_model

__all__ = ["QwenVLConfig", "QwenVLProcessor", "smart_resize", "QWEN2_VL", "QWEN2_5_VL", "QWEN3_VL", "MAX_RATIO"]

MAX_RATIO = 200  # smart_resize refuses a picture whose longer side exceeds 200 x its shorter side
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OPENAI_CLIP_MEAN in transformers.image_utils
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
RESCALE = 1 / 255  # Qwen2VLImageProcessor.rescale_factor (the BaseImageProcessor default)
VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"
IMAGE_PAD, VIDEO_PAD = "<|image_pad|>", "<|video_pad|>"
SPECIALS = (VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)


@dataclass(frozen=True)
class QwenVLConfig:
    """One Qwen-VL model's image preprocessing (the module docstring gives each value's source)."""

    name: str  # mmtok's name for the model, in messages
    checkpoint: str  # the Hugging Face checkpoint whose preprocessor_config.json the values come from
    patch_size: int  # ViT patch side in pixels (14; 16 for Qwen3-VL)
    min_pixels: int  # smart_resize grows a smaller picture to at least this many pixels
    max_pixels: int  # ... and shrinks a larger one to at most this many
    image_mean: tuple[float, float, float]  # per channel, on the [0, 1] scale
    image_std: tuple[float, float, float]
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

    @property
    def factor(self) -> int:
        """Resized sides are multiples of this: one merged token covers factor x factor pixels."""
        return self.patch_size * self.merge_size


QWEN2_VL = QwenVLConfig("qwen2-vl", "Qwen/Qwen2-VL-7B-Instruct", 14, 3136, 12845056, CLIP_MEAN, CLIP_STD)
QWEN2_5_VL = QwenVLConfig("qwen2.5-vl", "Qwen/Qwen2.5-VL-7B-Instruct", 14, 3136, 12845056, CLIP_MEAN, CLIP_STD)
QWEN3_VL = QwenVLConfig("qwen3-vl", "Qwen/Qwen3-VL-8B-Instruct", 16, 65536, 16777216, (0.5,) * 3, (0.5,) * 3)


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int,
                 model: str = "qwen2-vl") -> tuple[int, int]:
    """(height, width) in pixels a picture is resized to: each a multiple of ``factor``, the area within
    [min_pixels, max_pixels] (rounded to the nearest multiple first, then scaled down with floor or up with ceil),
    the aspect ratio kept as well as that allows. The arithmetic of transformers' ``smart_resize``, step for step
    (Python's round-half-even included), so that the sides agree for every size.

    A longer side more than :data:`MAX_RATIO` times the shorter raises :class:`InputError` naming ``model``.
    """
    if min(height, width) < 1:
        raise InputError(f"{model}: a picture needs at least 1x1 pixels, got {width}x{height} (width x height)")
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise InputError(f"{model} refuses a {width}x{height} picture (width x height): its aspect ratio "
                         f"{max(height, width) / min(height, width):.1f} is over {MAX_RATIO}, the limit of the "
                         f"model's processor (smart_resize); crop or pad it to a ratio of {MAX_RATIO}:1 or less")
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


def _scale_tensors(cfg: QwenVLConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std on the 0..255 scale, float32 [3, 1, 1], computed as the processor fuses rescale into
    normalize (``torch.tensor(mean) * (1 / rescale_factor)``), so the float32 values are the same."""
    mean = torch.tensor(cfg.image_mean) * (1.0 / RESCALE)
    std = torch.tensor(cfg.image_std) * (1.0 / RESCALE)
    return mean.view(-1, 1, 1), std.view(-1, 1, 1)


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
    if tuple(pixels.shape[1:]) != (rh, rw):  # torchvision returns a picture already at its size untouched
        # torchvision's tensor resize: the uint8 bicubic kernel with antialias, rounded back to uint8
        pixels = F.interpolate(pixels[None], size=[rh, rw], mode="bicubic", align_corners=False, antialias=True)[0]
    mean, std = _scale_tensors(cfg)
    x = (pixels.to(torch.float32) - mean) / std  # (3, rh, rw)
    p, m = cfg.patch_size, cfg.merge_size
    rows = repeat(x, "c (gh m1 p1) (gw m2 p2) -> (gh gw m1 m2) (c t p1 p2)", m1=m, m2=m, p1=p, p2=p,
                  t=cfg.temporal_patch_size)
    return rows.contiguous(), torch.tensor([1, rh // p, rw // p], dtype=torch.long)


class QwenVLProcessor:
    """The image path of one Qwen-VL model behind :class:`~mmtok.models.ModelProcessor`."""

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
        raise InputError(self._refusal(piece))

    def _refusal(self, piece: Piece) -> str:
        name = self.cfg.name
        if piece.kind == "codes":
            return f"{name} reads pictures but does not write VQ codes; give mmtok.Image(src) (as_='patches')"
        if piece.kind == "audio":
            return f"{name} takes no audio (a Qwen-VL model reads text, images and video)"
        if piece.kind == "video":
            return f"{name}: video is not implemented in mmtok.models yet (issue 19); give its frames as images"
        return f"{name} cannot read a {piece.kind} piece here"

    def num_tokens(self, piece: Piece) -> int:
        """Image: the ``<|image_pad|>`` count (markers excluded); text: its tokens."""
        if piece.kind == "text":
            return self.text.count(piece.value)
        return num_image_tokens(self.cfg, *self._size(piece))

    def segment_length(self, piece: Piece) -> int:
        """Image: the count plus ``<|vision_start|>`` and ``<|vision_end|>``; text: its tokens."""
        return self.num_tokens(piece) + (0 if piece.kind == "text" else 2)

    def _load(self, src: Any) -> tuple[torch.Tensor, tuple[int, int]]:
        """uint8 [3, h, w] and the original (height, width); with ``fast`` a JPEG decodes at the smallest DCT
        scale that still covers the resized size."""
        draft = (lambda w, h: resized_size(self.cfg, h, w)[::-1]) if self.fast else None
        loaded = load_image(src, draft=draft)
        w, h = loaded.size
        return loaded.pixels, (h, w)

    def hf_inputs(self, pieces: list[Piece]) -> dict[str, torch.Tensor]:
        """What ``Qwen2VLProcessor`` (``Qwen2_5_VLProcessor``, ``Qwen3VLProcessor``) returns with
        ``return_tensors="pt"`` for ``text=[prompt], images=[the pictures]``, where ``prompt`` is the pieces in order,
        each picture written as ``<|vision_start|><|image_pad|><|vision_end|>`` (no chat template is applied):
        ``input_ids``, ``attention_mask``, ``mm_token_type_ids`` (1 on image tokens), int64 [1, L]; and, when there
        are pictures, ``pixel_values`` float32 [sum of grid_h * grid_w, 3 * temporal_patch_size * patch_size**2]
        and ``image_grid_thw`` int64 [n_images, 3]. Without a Hugging Face tokenizer the text ids are mmtok's
        (:class:`~mmtok.models.base.TextIds`); everything else is the same."""
        parts: list[tuple[str, str]] = []
        rows, grids = [], []
        for piece in pieces:
            if piece.kind == "text":
                parts.append(("text", piece.value))
                continue
            if piece.kind == "size":
                raise InputError(f"{self.cfg.name}: hf_inputs needs the picture itself, not only its size "
                                 f"{piece.value}; give mmtok.Image(src)")
            if piece.kind != "image":
                raise InputError(self._refusal(piece))
            pixels, size = self._load(piece.value)
            pv, grid = pixel_values(self.cfg, pixels, size)
            n = num_image_tokens(self.cfg, *size)
            assert pv.shape[0] == int(grid.prod()) == n * self.cfg.merge_size**2, (pv.shape, grid, n)
            rows.append(pv)
            grids.append(grid)
            parts += [("special", VISION_START)] + [("special", IMAGE_PAD)] * n + [("special", VISION_END)]
        input_ids, attention_mask = self.text.encode(parts)
        image_tokens = input_ids == self.text.special_ids[IMAGE_PAD]
        assert int(image_tokens.sum()) == sum(len(r) for r in rows) // self.cfg.merge_size**2
        out = {"input_ids": input_ids, "attention_mask": attention_mask, "mm_token_type_ids": image_tokens.long()}
        if rows:
            out["pixel_values"] = rows[0] if len(rows) == 1 else torch.cat(rows)
            out["image_grid_thw"] = torch.stack(grids)
        return out


def _build(cfg: QwenVLConfig, tokenizer: Any, fast: bool) -> QwenVLProcessor:
    return QwenVLProcessor(cfg, tokenizer, fast)


for _cfg in (QWEN2_VL, QWEN2_5_VL, QWEN3_VL):
    register_model(ModelSpec(_cfg.name, "qwen", _cfg, _build))
