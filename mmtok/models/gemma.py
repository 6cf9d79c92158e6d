"""Gemma 3: the image path, the same counts, prompt text and tensors as transformers' ``Gemma3Processor``.

transformers 5.23 processes Gemma 3 images with ``Gemma3ImageProcessor`` (the torchvision backend, which
``AutoImageProcessor`` picks by default): the picture is squashed to ``image_size x image_size`` (aspect ratio not
kept) with torchvision's bilinear filter with antialias on the uint8 picture, then rescaled and normalized
(``(x / 255 - 0.5) / 0.5``, fused as ``(x - 127.5) / 127.5``). Every picture is ``image_seq_length`` soft tokens,
written in the prompt as ``"\\n\\n<start_of_image>"`` + that many ``<image_soft_token>`` + ``"<end_of_image>\\n\\n"``
(``Gemma3Processor.full_image_sequence``, which replaces the ``<start_of_image>`` a user writes for each picture);
``token_type_ids`` is 1 on the soft tokens.

Pan-and-scan (off in the published config, as in the processor's defaults) is an option:
``ModelProcessor("gemma-3", pan_and_scan=True)``. A picture whose longer side is at least
``pan_and_scan_min_ratio_to_activate`` times the shorter is also cut into 2..``pan_and_scan_max_num_crops`` crops
along its longer side (:func:`pan_and_scan_crops`, the processor's arithmetic; no crops when a crop would be under
``pan_and_scan_min_crop_size`` pixels); the thumbnail and each crop are resized as above, and the prompt becomes
``"Here is the original image " + FULL + " and here are some crops to help you see better " + " ".join([FULL] *
n)``. The crop count depends on the size alone, so counts stay exact without decoding. The other pan-and-scan
values are options too (``pan_and_scan_min_crop_size``, ``pan_and_scan_max_num_crops``,
``pan_and_scan_min_ratio_to_activate``, with the processor's defaults 256, 4, 1.2).

Preprocessing values: ``google/gemma-3-4b-it`` ``preprocessor_config.json`` (``size: {height: 896, width: 896}``,
``resample: 2`` (bilinear), ``rescale_factor: 1/255``, ``image_mean = image_std = [0.5, 0.5, 0.5]``,
``do_pan_and_scan: null``, ``image_seq_length: 256``) and ``processor_config.json`` (``image_seq_length: 256``).
Nothing is downloaded here: the values are read from copies quoted in public repositories (a full copy of the
Gemma 3 (27B) ``preprocessor_config.json`` in an NVIDIA NeMo-RL eval script; keras-hub's Gemma 3 converter and
several offline-setup scripts write the same values for the 4B checkpoint; the Gemma 3 checkpoints from 4B up
share one preprocessor config), and transformers' ``Gemma3Config.mm_tokens_per_image`` default (256) agrees. The ``null`` pan-and-scan values fall back to ``Gemma3Processor.images_kwargs``
(off, 256, 4, 1.2). So a picture is 256 tokens (258 with its markers, plus the ``"\\n\\n"`` text around them), or
256 x (1 + crops) with pan-and-scan, at most 1280.

Refused (``InputError`` naming the model): video and audio (Gemma 3 reads text and images), VQ codes.

Exactness (``tests/test_models_gemma.py``, against the transformers classes built with the values above): counts
equal the processor's placeholders over 300+ sizes with and without pan-and-scan; ``pixel_values`` equal (max abs
difference measured 0.0) on the bundled photos, with and without pan-and-scan, given the same decoded RGB picture
(:mod:`mmtok.media.imageio`); ``input_ids``, ``attention_mask`` and ``token_type_ids`` equal with a Hugging Face
tokenizer. ``segment_length`` counts the segment's text (``"\\n\\n"``, the pan-and-scan sentences) on its own; with a
Hugging Face tokenizer the ``"\\n\\n"`` at its two ends may merge with the neighbouring text's tokens in a prompt.

``fast=True`` decodes a JPEG at the smallest DCT scale that still covers ``image_size x image_size``, a progressive
one without its refinement scans (:mod:`mmtok.media.jpeg_scans`, ``drop="all"``; a picture cut by pan-and-scan
decodes in full): the same counts, other pixel values. On the bundled 5312x2988 JPEG (1/2 scale) pixel values differ
from the processor's by at most 0.110 (mean 0.0038) on the normalized [-1, 1] scale; over the 16 photos of
``benchmarks/bench_models.py`` (0.27 to 15.9 MP) by at most 0.227 (largest mean 0.019); ``rocket.jpg``, 427x640,
is below the size and decodes in full: exact.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError, InputError
from ..media.imageio import image_size
from .base import ModelSpec, Piece, TextIds, load_picture, refusal, register_model, size_only, writes_no_codes
from .pixels import normalized

__all__ = ["Gemma3Config", "Gemma3Processor", "GEMMA_3", "pan_and_scan_crops", "num_image_tokens",
           "resize_square", "OPTIONS"]

RESCALE = 1 / 255  # rescale_factor in the published preprocessor configs
BOI, EOI, IMAGE = "<start_of_image>", "<end_of_image>", "<image_soft_token>"  # the tokenizer's boi/eoi/image tokens
AROUND = "\n\n"  # the text Gemma 3 (and 3n) processors put before and after each image (and audio) sequence
PAS_HEAD = "Here is the original image "  # Gemma3Processor.replace_image_token when a picture has crops
PAS_MID = " and here are some crops to help you see better "
OPTIONS = ("pan_and_scan", "pan_and_scan_min_crop_size", "pan_and_scan_max_num_crops",
           "pan_and_scan_min_ratio_to_activate")
Parts = list[tuple[str, str]]  # ("text", s) and ("special", marker) in prompt order (TextIds.encode)


@dataclass(frozen=True)
class Gemma3Config:
    """Gemma 3's image preprocessing (the module docstring gives each value's source)."""

    name: str  # mmtok's name for the model, in messages
    checkpoint: str  # the Hugging Face checkpoint whose preprocessor_config.json the values come from
    image_size: int = 896  # size {height, width}: every picture (and crop) is squashed to this square
    image_seq_length: int = 256  # soft tokens per picture (and per crop)
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # per channel, on the [0, 1] scale
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pan_and_scan: bool = False  # do_pan_and_scan: null in the published config -> Gemma3Processor's False
    pan_and_scan_min_crop_size: int = 256  # pixels: no crops when one would be narrower
    pan_and_scan_max_num_crops: int = 4  # crops per picture, at most (at least 2 when cropping)
    pan_and_scan_min_ratio_to_activate: float = 1.2  # longer / shorter side from which a picture is cropped

    def __post_init__(self) -> None:
        if not isinstance(self.pan_and_scan, bool):
            raise ConfigError(f"{self.name}: pan_and_scan must be True or False, got {self.pan_and_scan!r}")
        for field in ("image_size", "image_seq_length", "pan_and_scan_min_crop_size", "pan_and_scan_max_num_crops"):
            v = getattr(self, field)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{self.name}: {field} must be a positive int, got {v!r}")
        if self.pan_and_scan_max_num_crops < 2:
            raise ConfigError(f"{self.name}: pan_and_scan_max_num_crops must be at least 2 (a cut makes 2 crops), "
                              f"got {self.pan_and_scan_max_num_crops}")
        r = self.pan_and_scan_min_ratio_to_activate
        if not isinstance(r, (int, float)) or isinstance(r, bool) or not r >= 1:
            raise ConfigError(f"{self.name}: pan_and_scan_min_ratio_to_activate must be a number >= 1, got {r!r}")
        if any(s <= 0 for s in self.image_std):
            raise ConfigError(f"{self.name}: image_std must be positive, got {self.image_std}")


GEMMA_3 = Gemma3Config("gemma-3", "google/gemma-3-4b-it")


def pan_and_scan_crops(cfg: Gemma3Config, height: int, width: int) -> list[tuple[int, int, int, int]]:
    """The pan-and-scan crops of a (height, width) picture, ``(top, left, bottom, right)`` in pixels, row-major;
    ``[]`` when pan-and-scan is off or the picture is not cut. The arithmetic of ``Gemma3ImageProcessor.
    pan_and_scan_batched`` step for step (half-up rounding of the aspect ratio, ceil of the crop side; the last crop
    is what remains of the picture)."""
    if not cfg.pan_and_scan:
        return []
    long_side, short_side = (width, height) if width >= height else (height, width)
    if long_side / short_side < cfg.pan_and_scan_min_ratio_to_activate:
        return []
    n = int(math.floor(long_side / short_side + 0.5))
    n = min(int(math.floor(long_side / cfg.pan_and_scan_min_crop_size)), n)
    n = min(cfg.pan_and_scan_max_num_crops, max(2, n))
    n_w, n_h = (n, 1) if width >= height else (1, n)
    crop_w, crop_h = int(math.ceil(width / n_w)), int(math.ceil(height / n_h))
    if min(crop_w, crop_h) < cfg.pan_and_scan_min_crop_size:
        return []
    return [(y, x, min(y + crop_h, height), min(x + crop_w, width))
            for y in range(0, crop_h * n_h, crop_h) for x in range(0, crop_w * n_w, crop_w)]


def num_image_tokens(cfg: Gemma3Config, height: int, width: int) -> int:
    """THE count: the ``<image_soft_token>`` of one picture, image_seq_length x (1 + its pan-and-scan crops)."""
    return cfg.image_seq_length * (1 + len(pan_and_scan_crops(cfg, height, width)))


def resize_square(pixels: torch.Tensor, side: int) -> torch.Tensor:
    """uint8 [3, h, w] -> uint8 [3, side, side]: torchvision's tensor resize with the bilinear filter and antialias
    (the uint8 kernel, rounded back to uint8); a picture already at the size is returned untouched, as there."""
    if tuple(pixels.shape[1:]) == (side, side):
        return pixels
    return F.interpolate(pixels[None], size=[side, side], mode="bilinear", align_corners=False, antialias=True)[0]


def image_parts(n_images: int, seq_length: int, head: str = "", mid: str = "") -> Parts:
    """The prompt parts of a picture: ``n_images`` image sequences (the thumbnail and its crops), the first preceded
    by ``head`` and followed by ``mid``, the others joined by a space; consecutive text merged into one part, since
    the marker tokens split the text the tokenizer sees exactly there."""
    full = [AROUND, ("special", BOI), *[("special", IMAGE)] * seq_length, ("special", EOI), AROUND]
    items: list[Any] = [head, *full] if n_images == 1 else [head, *full, mid]
    for i in range(1, n_images):
        items += ([" "] if i > 1 else []) + full
    parts: Parts = []
    for item in items:
        if isinstance(item, tuple):
            parts.append(item)
        elif item and parts and parts[-1][0] == "text":
            parts[-1] = ("text", parts[-1][1] + item)
        elif item:
            parts.append(("text", item))
    return parts


def segment_count(text: TextIds, parts: Parts) -> int:
    """Tokens of a segment's parts, each text part on its own and one per marker."""
    return sum(text.count(s) if kind == "text" else 1 for kind, s in parts)


def picture_size(piece: Piece) -> tuple[int, int]:
    """(height, width) of an image or size piece, read from the header only."""
    if piece.kind == "size":
        return piece.value
    w, h = image_size(piece.value)
    return h, w


class Gemma3Processor:
    """The image path of Gemma 3 behind :class:`~mmtok.models.ModelProcessor`."""

    def __init__(self, cfg: Gemma3Config, tokenizer: Any = None, fast: bool = False) -> None:
        self.cfg, self.fast = cfg, fast
        self.text = TextIds(tokenizer, (BOI, EOI, IMAGE))

    def _refusal(self, piece: Piece) -> InputError:
        if piece.kind == "codes":
            return writes_no_codes(self.cfg.name)
        fix = {"audio": "gemma-3n and gemma-4 read audio", "video": "give the clip's frames as images"}
        return refusal(self.cfg.name, piece.kind, "Gemma 3 reads text and images",
                       fix.get(piece.kind, "give text or mmtok.Image(src)"))

    def _parts(self, height: int, width: int) -> Parts:
        n = len(pan_and_scan_crops(self.cfg, height, width))
        seq = self.cfg.image_seq_length
        return image_parts(1, seq) if n == 0 else image_parts(1 + n, seq, PAS_HEAD, PAS_MID)

    def num_tokens(self, piece: Piece) -> int:
        """Image: its ``<image_soft_token>`` count (256, or 256 x (1 + crops) with pan-and-scan); text: its
        tokens."""
        if piece.kind == "text":
            return self.text.count(piece.value)
        if piece.kind not in ("image", "size"):
            raise self._refusal(piece)
        return num_image_tokens(self.cfg, *picture_size(piece))

    def segment_length(self, piece: Piece) -> int:
        """Image: the count plus ``<start_of_image>``/``<end_of_image>`` per image sequence and the text the
        processor writes around them (``"\\n\\n"``; with crops, its two sentences), counted on its own."""
        if piece.kind == "text":
            return self.text.count(piece.value)
        if piece.kind not in ("image", "size"):
            raise self._refusal(piece)
        return segment_count(self.text, self._parts(*picture_size(piece)))

    def _load(self, src: Any) -> tuple[torch.Tensor, tuple[int, int]]:
        """uint8 [3, h, w] and the original (height, width); with ``fast`` a JPEG that pan-and-scan does not cut
        decodes at the smallest DCT scale that still covers image_size x image_size."""
        side = self.cfg.image_size
        loaded = load_picture(src, self.fast, lambda w, h: None if pan_and_scan_crops(self.cfg, h, w) else (side, side))
        w, h = loaded.size
        return loaded.pixels, (h, w)

    def _pictures(self, pixels: torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
        """uint8 [3, side, side] each: the thumbnail, then each crop (cut from the decoded picture), resized."""
        cfg = self.cfg
        crops = pan_and_scan_crops(cfg, *size)
        assert not crops or tuple(pixels.shape[1:]) == size, "a picture with crops is decoded in full"
        views = [pixels] + [pixels[:, top:bottom, left:right] for top, left, bottom, right in crops]
        return [resize_square(v, cfg.image_size) for v in views]

    def hf_inputs(self, pieces: list[Piece]) -> dict[str, torch.Tensor]:
        """What ``Gemma3Processor`` returns with ``return_tensors="pt"`` (and ``do_pan_and_scan`` as configured)
        for ``text=[prompt], images=[the pictures]``, where ``prompt`` is the pieces in order, each picture written
        as ``<start_of_image>`` (no chat template is applied): ``input_ids``, ``attention_mask``, int64 [1, L];
        ``pixel_values`` float32 [pictures + crops, 3, 896, 896] (each picture's thumbnail then its crops) when
        there are pictures; ``token_type_ids`` int64 [1, L] (1 on ``<image_soft_token>``). Without a Hugging Face
        tokenizer the text ids are mmtok's (:class:`~mmtok.models.base.TextIds`); everything else is the same."""
        parts: Parts = []
        pictures = []
        for piece in pieces:
            if piece.kind == "text":
                parts.append(("text", piece.value))
            elif piece.kind == "size":
                raise size_only(self.cfg.name, piece)
            elif piece.kind != "image":
                raise self._refusal(piece)
            else:
                pixels, size = self._load(piece.value)
                pictures.append(self._pictures(pixels, size))
                parts += self._parts(*size)
        input_ids, attention_mask = self.text.encode(parts)
        image_tokens = input_ids == self.text.special_ids[IMAGE]
        assert int(image_tokens.sum()) == sum(len(p) for p in pictures) * self.cfg.image_seq_length
        out = {"input_ids": input_ids, "attention_mask": attention_mask}
        if pictures:  # every thumbnail and crop written into one float32 tensor
            out["pixel_values"] = normalized([v for p in pictures for v in p], self.cfg.image_mean,
                                             self.cfg.image_std, RESCALE)
        out["token_type_ids"] = image_tokens.long()
        return out


def _build(cfg: Gemma3Config, tokenizer: Any, fast: bool, **options: Any) -> Gemma3Processor:
    """``options`` (names in :data:`OPTIONS`) replace the config's pan-and-scan fields; ``pan_and_scan`` is the
    config's ``pan_and_scan`` (the processor's ``do_pan_and_scan``)."""
    return Gemma3Processor(dataclasses.replace(cfg, **options) if options else cfg, tokenizer, fast)


register_model(ModelSpec(GEMMA_3.name, "gemma", GEMMA_3, _build, options=OPTIONS))
