"""Chameleon: what the model reads for a picture, the same counts, markers and tensors as transformers.

transformers 5.23's ``ChameleonProcessor`` writes each picture as ``<racm3:break>`` + 1024 ``<image>`` +
``<eoss>`` (``replace_image_token``; ``image_seq_length = 1024``), appends the separator ``<reserved08706>``
(the tokenizer's ``sep_token``) to the prompt for chat mode (``return_for_text_completion=False``, the default)
and tokenizes it (the Chameleon tokenizer adds ``<s>``). The model's VQ-GAN turns the 512x512 picture into a 32x32
grid of codes, which replace the 1024 ``<image>`` placeholders. Every picture is 1024 tokens whatever its size:

    num_tokens(picture) = 1024;  segment_length(picture) = 1024 + 2 (``<racm3:break>``, ``<eoss>``)

``ChameleonImageProcessor`` (the torchvision backend, which ``AutoImageProcessor`` picks by default) resizes the
shorter side to 512 (the longer to ``int(512 * long / short)``), center-crops 512x512
(``top = int((h - 512) / 2)``), and maps each uint8 value v to (v - 1/0.0078) / (1/0.0078), float32
[n_images, 3, 512, 512] (rescale fused into normalize, as the processor does). The published resample is LANCZOS,
but the torchvision backend falls back to BICUBIC (with antialias) under torchvision < 0.27 (it logs a warning):
this venv has 0.26, so the processor gives bicubic and so does mmtok. With torchvision >= 0.27 (or the PIL backend,
``ChameleonImageProcessorPil``) the processor resizes with Lanczos, which mmtok does not reproduce: measured on the
bundled photos, the PIL backend's Lanczos and this bicubic differ by up to 0.18 (mean at most 0.0047) on the
normalized scale (1.2e-7 on the 512x512 one, which is not resized: the PIL backend does not fuse the rescale).

**Not mmtok's codebook.** mmtok's own VQ codes (:mod:`mmtok.vq`) are not Chameleon's VQ-GAN codes: this module
counts and lays out what the model reads and returns the processor's tensors; the codes themselves come from the
model's ``get_image_tokens``. ``mmtok.Image(src, as_="codes")`` (a picture the model writes) is counted with the
same layout, because Chameleon writes pictures as the same 1024 codes between ``<racm3:break>`` and ``<eoss>``
(``ChameleonModel.get_image_tokens`` and generation); ``hf_inputs`` refuses it, since the ids would be
Chameleon's codes, which mmtok cannot compute.

Preprocessing values (nothing is downloaded here): facebook/chameleon-7b's ``processor_config.json``
(``image_seq_length`` 1024, ``image_token`` ``<image>``; read from FriendliAI/chameleon-7b, "Duplicate from
facebook/chameleon-7b"); its ``preprocessor_config.json`` (``size = {shortest_edge: 512}``, ``crop_size`` 512x512,
``resample`` 1 = LANCZOS, ``rescale_factor`` 0.0078, ``image_mean`` = ``image_std`` = [1.0, 1.0, 1.0],
``do_convert_rgb``, ``do_center_crop``) as published for the Chameleon-7b derivative GAIR/Anole-7b and as
transformers' ``convert_chameleon_weights_to_hf.py`` writes it (``ChameleonImageProcessor()`` with the class
defaults, which equal these); the same script sets ``sep_token_id`` 8710 (``<reserved08706>``), ``pad_token_id`` 1
and renames ``<reserved08707>`` to ``<image>``. No copy of facebook/chameleon-7b's own preprocessor_config.json
was found; the values above are the class defaults, so they hold either way.

Exactness (``tests/test_models_chameleon.py``, against the transformers classes built with the values above): counts
and markers equal ``_get_num_multimodal_tokens`` and the processor's ``input_ids`` over 230 sizes (1x1, 1x10000,
10000x1 included); ``pixel_values`` equal (max abs 0.0) on the bundled photos and on noise pictures, given the same
decoded RGB picture (:mod:`mmtok.media.imageio`), and on the bundled photos also given the processor's own
decoding of the file (``PIL.Image.open``). A picture whose resized (pre-crop) size would exceed
:data:`MAX_RESIZED_PIXELS` (an aspect ratio over 1024:1, e.g. 1x10000 -> 512x5120000) makes ``hf_inputs`` raise
:class:`~mmtok.errors.LimitError` (the processor would allocate that whole picture: 7.9 GB for 1x10000); its count
is still 1024.

``fast=True`` decodes a JPEG at the smallest DCT scale that still covers the resized size (PIL ``draft``), and a
progressive JPEG without its refinement scans (:mod:`mmtok.media.jpeg_scans`, ``drop="all"``), then resizes to the
same size as the exact path: the same counts, other pixel values. On the bundled 5312x2988 JPEG (decoded at 1/4,
1328x747, then resized to 910x512) the values differ from the processor's by at most 0.140 (mean 0.0082) on the
normalized scale; over the 16 photos of ``benchmarks/bench_models.py`` (0.27 to 15.9 MP), at most 0.515 (largest
mean 0.031); the baseline 640x427 JPEG and the PNGs are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError, InputError, LimitError
from ..media.imageio import image_size
from .base import ModelSpec, Piece, TextIds, load_picture, refusal, register_model, size_only
from .pixels import normalized

__all__ = ["ChameleonConfig", "ChameleonProcessor", "CHAMELEON", "resized_size", "resized_crop", "pixel_values",
           "MAX_RESIZED_PIXELS"]

BOS, SEP = "<s>", "<reserved08706>"  # the tokenizer's bos_token; sep_token (id 8710), appended for chat mode
IMAGE, BOI, EOI = "<image>", "<racm3:break>", "<eoss>"  # placeholder, start and end of a picture
SPECIALS = (BOS, SEP, IMAGE, BOI, EOI)
MAX_RESIZED_PIXELS = 512 * 512 * 1024  # hf_inputs refuses a larger resized picture (LimitError); counts do not


@dataclass(frozen=True)
class ChameleonConfig:
    """Chameleon's image preprocessing (the module docstring gives each value's source)."""

    name: str  # mmtok's name for the model, in messages
    checkpoint: str  # the Hugging Face checkpoint whose processor the values come from
    shortest_edge: int = 512  # the shorter side is resized to this
    crop: int = 512  # then a centred crop_size x crop_size square
    rescale_factor: float = 0.0078  # v * 0.0078 ...
    image_mean: float = 1.0  # ... minus 1.0 ...
    image_std: float = 1.0  # ... over 1.0: about [-1, 0.99]
    image_seq_length: int = 1024  # <image> tokens per picture: the VQ-GAN's 32x32 codes of 512x512 pixels

    def __post_init__(self) -> None:
        for field in ("shortest_edge", "crop", "image_seq_length"):
            v = getattr(self, field)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{self.name}: {field} must be a positive int, got {v!r}")
        if self.crop > self.shortest_edge:
            raise ConfigError(f"{self.name}: crop {self.crop} is larger than the resized shorter side "
                              f"{self.shortest_edge}; the processor would pad, which mmtok does not implement")
        if not (self.rescale_factor > 0 and self.image_std > 0):
            raise ConfigError(f"{self.name}: rescale_factor and image_std must be > 0")


CHAMELEON = ChameleonConfig("chameleon", "facebook/chameleon-7b")


def resized_size(cfg: ChameleonConfig, height: int, width: int) -> tuple[int, int]:
    """(height, width) before the crop: the shorter side to ``shortest_edge``, the longer
    ``int(shortest_edge * long / short)`` (transformers' ``get_resize_output_image_size``, float division)."""
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(cfg.shortest_edge * long / short)
    return (new_long, cfg.shortest_edge) if width <= height else (cfg.shortest_edge, new_long)


def resized_crop(cfg: ChameleonConfig, pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """One picture resized and centre-cropped as the processor does.

    Args:
        pixels: uint8 [3, h, w], the decoded picture (possibly decoded smaller than ``size``).
        size: (height, width) of the original picture, which decides the resized size.

    Returns:
        uint8 [3, crop, crop] (a view into the resized picture).
    """
    rh, rw = resized_size(cfg, *size)
    if tuple(pixels.shape[1:]) != (rh, rw):  # torchvision returns a picture already at its size untouched
        # torchvision's tensor resize: the uint8 bicubic kernel with antialias, rounded back to uint8
        pixels = F.interpolate(pixels[None], size=[rh, rw], mode="bicubic", align_corners=False, antialias=True)[0]
    top, left = int((rh - cfg.crop) / 2.0), int((rw - cfg.crop) / 2.0)
    return pixels[:, top:top + cfg.crop, left:left + cfg.crop]


def pixel_values(cfg: ChameleonConfig, pictures: list[torch.Tensor]) -> torch.Tensor:
    """uint8 [3, crop, crop] pictures (:func:`resized_crop`) -> float32 [n, 3, crop, crop], ``(x - m) / s`` with the
    rescale fused into mean and std as the processor does (:func:`~mmtok.models.pixels.normalized`)."""
    return normalized(pictures, [cfg.image_mean] * 3, [cfg.image_std] * 3, cfg.rescale_factor)


class ChameleonProcessor:
    """Chameleon's image path behind :class:`~mmtok.models.ModelProcessor`."""

    def __init__(self, cfg: ChameleonConfig, tokenizer: Any = None, fast: bool = False) -> None:
        self.cfg, self.fast = cfg, fast
        self.text = TextIds(tokenizer, SPECIALS)

    def _refusal(self, piece: Piece) -> InputError:
        return refusal(self.cfg.name, piece.kind, "Chameleon reads text and pictures",
                       "give text or mmtok.Image(src) (a video: its frames as pictures)")

    def num_tokens(self, piece: Piece) -> int:
        """A picture (or VQ codes to write): 1024, whatever its size (a picture's header is still read, so a
        missing or unreadable file raises as everywhere else); text: its tokens."""
        if piece.kind == "text":
            return self.text.count(piece.value)
        if piece.kind in ("image", "codes"):
            image_size(piece.value)
        if piece.kind in ("image", "size", "codes"):
            return self.cfg.image_seq_length
        raise self._refusal(piece)

    def segment_length(self, piece: Piece) -> int:
        """A picture: 1024 plus ``<racm3:break>`` and ``<eoss>``; text: its tokens."""
        return self.num_tokens(piece) + (0 if piece.kind == "text" else 2)

    def _load(self, src: Any) -> tuple[torch.Tensor, tuple[int, int]]:
        """uint8 [3, h, w] and the original (height, width); with ``fast`` a JPEG decodes at the smallest DCT
        scale that still covers the resized size."""
        loaded = load_picture(src, self.fast, lambda w, h: resized_size(self.cfg, h, w)[::-1])
        w, h = loaded.size
        rh, rw = resized_size(self.cfg, h, w)
        if rh * rw > MAX_RESIZED_PIXELS:
            raise LimitError(f"{self.cfg.name}: the processor resizes this {w}x{h} picture (width x height) to "
                             f"{rw}x{rh} before its 512x512 crop, {rh * rw * 3 / 1e9:.1f} GB of pixels, over mmtok's "
                             f"limit of {MAX_RESIZED_PIXELS:,} pixels; crop it to an aspect ratio of 1024:1 or less "
                             f"(its token count, 1024, needs no pixels: num_tokens)")
        return loaded.pixels, (h, w)

    def hf_inputs(self, pieces: list[Piece]) -> dict[str, torch.Tensor]:
        """What ``ChameleonProcessor`` returns with ``return_tensors="pt"`` for ``text=[prompt], images=[the
        pictures]``, where ``prompt`` is the pieces in order, each picture written as ``<image>`` (chat mode: the
        separator appended): ``input_ids`` and ``attention_mask`` int64 [1, L]; and, with pictures,
        ``pixel_values`` float32 [n_images, 3, 512, 512]. Without a Hugging Face tokenizer the text ids are mmtok's
        (:class:`~mmtok.models.base.TextIds`), with ``<s>`` first as the Chameleon tokenizer writes it."""
        parts: list[tuple[str, str]] = [] if self.text.hf is not None else [("special", BOS)]
        rows = []
        for piece in pieces:
            if piece.kind == "text":
                parts.append(("text", piece.value))
                continue
            if piece.kind == "size":
                raise size_only(self.cfg.name, piece)
            if piece.kind == "codes":
                raise InputError(f"{self.cfg.name}: hf_inputs cannot write the ids of a picture the model writes: "
                                 f"they are Chameleon's own VQ codes, not mmtok's (mmtok.vq); count it with "
                                 f"num_tokens, or give mmtok.Image(src) for a picture the model reads")
            if piece.kind != "image":
                raise self._refusal(piece)
            pixels, size = self._load(piece.value)
            rows.append(resized_crop(self.cfg, pixels, size))
            parts += [("special", BOI)] + [("special", IMAGE)] * self.cfg.image_seq_length + [("special", EOI)]
        parts.append(("special", SEP))
        input_ids, attention_mask = self.text.encode(parts)
        assert int((input_ids == self.text.special_ids[IMAGE]).sum()) == len(rows) * self.cfg.image_seq_length
        out = {"input_ids": input_ids, "attention_mask": attention_mask}
        if rows:
            out["pixel_values"] = pixel_values(self.cfg, rows)
        return out


def _build(cfg: ChameleonConfig, tokenizer: Any, fast: bool) -> ChameleonProcessor:
    return ChameleonProcessor(cfg, tokenizer, fast)


register_model(ModelSpec(CHAMELEON.name, "chameleon", CHAMELEON, _build))
