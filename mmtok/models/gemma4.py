"""Gemma 4 (``gemma-4``): images, audio and video with the same counts and tensors as transformers 5.23's
``Gemma4Processor``, ``Gemma4ImageProcessor`` (the torchvision backend ``AutoImageProcessor`` picks),
``Gemma4AudioFeatureExtractor`` and ``Gemma4VideoProcessor``.

Images: resized, aspect kept, to the largest size whose sides are multiples of ``pooling * patch = 48`` pixels and
whose ``patch = 16`` patches number at most ``max_soft_tokens * 9`` (``get_aspect_ratio_preserving_size``, float
arithmetic step for step; a side that rounds to 0 becomes 48 and the other ``floor(long / short) * 48``, capped at
``max_soft_tokens * 48``), with torchvision's bicubic + antialias on the uint8 picture; scaled by 1/255 (no
normalization); cut into 16x16 patches, rows ``(y, x, channel)``, padded with zeros to ``max_soft_tokens * 9``
rows; ``image_position_ids`` hold each patch's ``(column, row)``, -1 on padding. The model pools 3x3 patches into
one soft token: ``patches / 9`` tokens, written ``<|image>`` + that many ``<|image|>`` + ``<image|>``.
``max_soft_tokens`` is one of 70, 140, 280, 560, 1120 (``ModelProcessor("gemma-4", max_soft_tokens=560)``).

Audio and video: :mod:`mmtok.models.gemma4_media` (the count rule, the 30 s truncation, the frame choice and its
``mm:ss`` timestamps). A clip's frames go through the image path with the video budget and ``x / 255`` (the video
processor normalizes with mean 0, std 1, which divides by 255 instead of multiplying by 1/255); each frame is
written ``mm:ss <|image>`` + ``<|video|>`` x its tokens + ``<image|>``, frames joined by a space.

Published values: the google/gemma-4 checkpoints' ``processor_config.json`` (nothing downloaded; read from copies
quoted in public repositories: the "released checkpoints' processor_config.json sections" pinned in a Rust port's
test of ``image_processing_gemma4.py`` (crate ``llm_multimodal``); the processor config of google/gemma-4-E4B-it
recorded in a dataset-prep spec; google/gemma-4-E2B's config.json quoted in a test (``image_seq_length`` 280,
``audio_seq_length`` 750, ``audio_ms_per_token`` 40, ``image_token_count_options`` [70, 140, 280, 560, 1120]);
ollama's Gemma 4 audio validator (ollama/ollama, ``x/``), which accepts only the released feature extractor; and
tokenizer_config.json copies for the marker strings). They equal the transformers class defaults, so
``GEMMA_4.checkpoint`` names google/gemma-4-E4B-it but every size reads the same: image ``max_soft_tokens`` 280,
patch 16, pooling 3, bicubic, rescale 1/255, no normalization; video ``max_soft_tokens`` 70, ``num_frames`` 32,
``do_sample_frames``, mean 0 / std 1 normalization; audio 128 mels, 16 kHz, frames 320 / hop 160, FFT 512,
0..8000 Hz, ``mel_floor`` 0.001, no pre-emphasis, dither or per-bin normalization. Markers (the tokenizer's
``extra_special_tokens``): ``<|image>`` ``<|image|>`` ``<image|>``, ``<|audio>`` ``<|audio|>`` ``<audio|>``,
``<|video|>``.

Refused (:class:`~mmtok.errors.InputError` naming the model and the rule): VQ codes (Gemma 4 reads pictures, it does
not write them), a clip of fewer than 32 frames (the video processor's sampling rule), ``Video(audio=True)`` (the
processor takes a clip's frames only; give its sound as ``mmtok.Audio``), a picture size for ``hf_inputs``.

Exactness (``tests/test_models_gemma4.py``, against the transformers classes built with the values above): counts
over 300+ sizes for each budget; ``pixel_values``, ``image_position_ids``, ``input_ids``, ``attention_mask``,
``mm_token_type_ids`` equal (max abs 0.0) on the bundled photos; audio counts over 0.1 s .. 10 min and the features
(0.0) on the bundled sounds given the same 16 kHz waveform; video frames, timestamps and tensors (0.0) on the bundled
clip given the same decoded frames. ``fast=True`` decodes a JPEG at a reduced DCT scale when that still covers the
resized size, and a progressive JPEG without its refinement scans (:mod:`mmtok.media.jpeg_scans`, ``drop="all"``):
the same counts, shapes and position ids; on the bundled 5312x2988 JPEG (decoded at 1/4 or 1/2 scale)
``pixel_values`` differ from the processor's by at most 0.118 (mean 0.0040) at budget 70, 0.098 (mean 0.0042) at
280 and 0.126 (mean 0.0055) at 1120, on the [0, 1] scale; over the 16 photos of ``benchmarks/bench_models.py``
(0.27 to 15.9 MP) at 280, at most 0.157 (largest mean 0.0085); the 640x427 baseline JPEG is exact (0.0).

Video decoding: transformers would decode the file itself with torchcodec (``VideoDecoder(seek_mode="exact")``,
``get_frames_at(indices)``); torchcodec is not installed here (and ``load_video(backend="pyav")`` reads
``stream.frames``, 0 for an MPEG program stream), so the comparison feeds the processor the clip's frames decoded by PyAV with metadata of
190 frames at 25 fps, and mmtok decodes the 32 sampled frames with :class:`mmtok.video.frames.FrameDecoder`.
The count of a clip needs no pixels: frame count and span from its packet index, the frame size as displayed
(display rotation applied, read from the first decoded frame by :func:`mmtok.models.probe.clip_info`), the size
the decoded frames hf_inputs gives have (tested on a clip with rotation metadata).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from ..core.threads import one_torch_thread
from ..errors import ConfigError, InputError
from ..media.audioio import stream_audio
from ..media.imageio import image_size
from .base import ModelSpec, Piece, TextIds, load_picture, refusal, register_model, size_only, writes_no_codes
from .gemma4_media import MAX_SAMPLES, SAMPLE_RATE, AudioCount, Clip, VideoPlan, audio_count, log_mel
from .pixels import fused
from .probe import clip_info

__all__ = ["Gemma4Config", "GEMMA_4", "SOFT_TOKEN_BUDGETS", "resized_size", "num_image_tokens", "patchify"]

SOFT_TOKEN_BUDGETS = (70, 140, 280, 560, 1120)  # _SUPPORTED_SOFT_TOKENS of the image and video processors
RESCALE = 1 / 255  # rescale_factor 0.00392156862745098
BOI, IMAGE, EOI = "<|image>", "<|image|>", "<image|>"
BOA, AUDIO, EOA = "<|audio>", "<|audio|>", "<audio|>"
VIDEO = "<|video|>"
SPECIALS = (BOI, IMAGE, EOI, BOA, AUDIO, EOA, VIDEO)
TYPE_IDS = {IMAGE: 1, VIDEO: 2, AUDIO: 3}  # mm_token_type_ids (ProcessorMixin.create_mm_token_type_ids)


@dataclass(frozen=True)
class Gemma4Config:
    """Gemma 4's preprocessing (the module docstring gives each value's source)."""

    name: str  # mmtok's name for the model, in messages
    checkpoint: str  # whose processor_config.json the values come from
    max_soft_tokens: int = 280  # image budget: at most this many soft tokens per picture
    video_max_soft_tokens: int = 70  # the same per video frame
    num_frames: int = 32  # frames sampled per clip
    patch_size: int = 16  # ViT patch side in pixels
    pooling_kernel_size: int = 3  # the model pools k x k patches into one soft token

    def __post_init__(self) -> None:
        for field in ("max_soft_tokens", "video_max_soft_tokens"):
            v = getattr(self, field)
            if v not in SOFT_TOKEN_BUDGETS or isinstance(v, bool):
                raise ConfigError(f"{self.name}: {field} must be one of {SOFT_TOKEN_BUDGETS} (the processor's "
                                  f"allowed budgets), got {v!r}")
        for field in ("num_frames", "patch_size", "pooling_kernel_size"):
            v = getattr(self, field)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{self.name}: {field} must be a positive int, got {v!r}")


GEMMA_4 = Gemma4Config("gemma-4", "google/gemma-4-E4B-it")
OPTIONS = ("max_soft_tokens", "video_max_soft_tokens")


def resized_size(height: int, width: int, max_soft_tokens: int, patch_size: int = 16,
                 pooling_kernel_size: int = 3) -> tuple[int, int]:
    """(height, width) a picture is resized to: ``get_aspect_ratio_preserving_size``, step for step."""
    if min(height, width) < 1:
        raise InputError(f"gemma-4: a picture needs at least 1x1 pixels, got {width}x{height} (width x height)")
    target_px = max_soft_tokens * pooling_kernel_size**2 * patch_size**2
    factor = math.sqrt(target_px / (height * width))
    side = pooling_kernel_size * patch_size
    th = int(math.floor(factor * height / side)) * side
    tw = int(math.floor(factor * width / side)) * side
    longest = max_soft_tokens * side  # (max_patches // k**2) * side
    if th == 0:
        th, tw = side, min(int(math.floor(width / height)) * side, longest)
    elif tw == 0:
        th, tw = min(int(math.floor(height / width)) * side, longest), side
    assert th * tw <= target_px and th > 0 and tw > 0, (height, width, th, tw)
    return th, tw


def num_image_tokens(height: int, width: int, max_soft_tokens: int, patch_size: int = 16,
                     pooling_kernel_size: int = 3) -> int:
    """THE count: soft tokens (``<|image|>``) of a picture or of one video frame of this size."""
    th, tw = resized_size(height, width, max_soft_tokens, patch_size, pooling_kernel_size)
    return (th // patch_size) * (tw // patch_size) // pooling_kernel_size**2


def patchify(x: torch.Tensor, max_patches: int, patch_size: int,
             scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Patches and position ids of resized, scaled pictures.

    Args:
        x: float32 [N, 3, h, w], sides multiples of ``patch_size``; or uint8 with ``scale``, each value then written
            as ``float32(v) * scale`` (what ``x * scale`` gives, without the float copy of the whole picture).

    Returns:
        float32 [N, max_patches, patch_size**2 * 3] rows (y, x, channel), zero rows after the real ones; int64
        [N, max_patches, 2] (column, row) of each patch, -1 on padding.
    """
    n, _, h, w = x.shape
    gh, gw = h // patch_size, w // patch_size
    rows = rearrange(x, "n c (gh p1) (gw p2) -> n (gh gw) (p1 p2 c)", p1=patch_size, p2=patch_size)
    out = torch.zeros(n, max_patches, rows.shape[-1], dtype=torch.float32 if scale is not None else x.dtype)
    out[:, :gh * gw] = rows
    if scale is not None:
        out[:, :gh * gw].mul_(scale)
    ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    pos = torch.full((n, max_patches, 2), -1, dtype=torch.long)
    pos[:, :gh * gw] = torch.stack([xs, ys], dim=-1).reshape(gh * gw, 2)
    return out, pos


def _resize(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 [N, 3, h, w] -> uint8 [N, 3, *size]: torchvision's tensor resize (bicubic, antialias) on uint8."""
    if tuple(pixels.shape[-2:]) == size:
        return pixels  # the processor returns a picture already at its size untouched
    return F.interpolate(pixels, size=list(size), mode="bicubic", align_corners=False, antialias=True)


class Gemma4Processor:
    """Gemma 4 behind :class:`~mmtok.models.ModelProcessor`: images, audio, video and text."""

    def __init__(self, cfg: Gemma4Config, tokenizer: Any = None, fast: bool = False) -> None:
        self.cfg, self.fast = cfg, fast
        self.text = TextIds(tokenizer, SPECIALS)

    # --- counts ---------------------------------------------------------------------------------------------
    def _image_hw(self, piece: Piece) -> tuple[int, int]:
        if piece.kind == "size":
            return piece.value
        w, h = image_size(piece.value)
        return h, w

    def _refuse(self, piece: Piece) -> None:
        if piece.kind == "codes":
            raise writes_no_codes(self.cfg.name)
        if piece.kind == "video" and piece.value.audio:
            raise refusal(self.cfg.name, "sound track with a clip", "Gemma4Processor takes a clip's frames only",
                          "give mmtok.Video(src) and the sound as mmtok.Audio(src) separately")

    def num_tokens(self, piece: Piece) -> int:
        """Text: its tokens. Image: soft tokens. Audio: ``<|audio|>`` tokens after the processor's 30 s truncation
        (:func:`audio_info` says whether it applies). Video: frames x soft tokens per frame. Markers and the
        timestamps written before each frame are not included (see :meth:`segment_length`)."""
        self._refuse(piece)
        if piece.kind == "text":
            return self.text.count(piece.value)
        if piece.kind in ("image", "size"):
            return num_image_tokens(*self._image_hw(piece), self.cfg.max_soft_tokens, self.cfg.patch_size,
                                    self.cfg.pooling_kernel_size)
        if piece.kind == "audio":
            return self.audio_info(piece).tokens
        plan = self._video(piece.value).plan
        return len(plan.indices) * self._frame_tokens(*self._display_size(piece.value))

    def segment_length(self, piece: Piece) -> int:
        """Tokens the piece takes in the prompt: image and audio add their two markers; a video adds, per frame,
        ``<|image>``, ``<image|>`` and the tokens of its ``mm:ss`` text and the spaces around it."""
        n = self.num_tokens(piece)
        if piece.kind == "text":
            return n
        if piece.kind != "video":
            return n + 2
        plan = self._video(piece.value).plan
        parts = self._video_parts(plan, self._frame_tokens(*self._display_size(piece.value)))
        return sum(self.text.count(s) if kind == "text" else 1 for kind, s in parts)

    def audio_info(self, piece: Piece) -> AudioCount:
        """:class:`~mmtok.models.gemma4_media.AudioCount` of an audio piece: tokens, samples, ``truncated``."""
        return audio_count(len(self._waveform(piece, stop=True)))

    def _frame_tokens(self, height: int, width: int) -> int:
        return num_image_tokens(height, width, self.cfg.video_max_soft_tokens, self.cfg.patch_size,
                                self.cfg.pooling_kernel_size)

    def _display_size(self, content: Any) -> tuple[int, int]:
        """(height, width) of a clip's frames as displayed (rotation applied), as the decoded frames have it."""
        info = clip_info(content.src)
        return info.height, info.width

    def _video(self, content: Any) -> Clip:
        return Clip(content.src, self.cfg.num_frames, self.cfg.name)

    def _video_parts(self, plan: VideoPlan, n: int) -> list[tuple[str, str]]:
        """The replacement of one ``<|video|>``: ``mm:ss <|image>`` + n video tokens + ``<image|>``, joined by ' '."""
        parts: list[tuple[str, str]] = []
        for k, label in enumerate(plan.labels):
            parts += [("text", (" " if k else "") + label + " "), ("special", BOI)]
            parts += [("special", VIDEO)] * n + [("special", EOI)]
        return parts

    def _waveform(self, piece: Piece, stop: bool = False) -> np.ndarray:
        """float32 [S] mono at 16 kHz; with ``stop``, reading ends once past the processor's 30 s."""
        chunks, total = [], 0
        for chunk in stream_audio(piece.value.src, target_rate=SAMPLE_RATE, sample_rate=piece.value.sample_rate,
                                  max_duration=24 * 3600.0, chunk_seconds=30.0):
            chunks.append(chunk)
            total += len(chunk)
            if stop and total > MAX_SAMPLES:
                break
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

    # --- tensors --------------------------------------------------------------------------------------------
    def _image(self, src: Any) -> tuple[torch.Tensor, torch.Tensor, int]:
        """pixel_values [max_patches, 768], image_position_ids [max_patches, 2] and the soft-token count."""
        c = self.cfg
        loaded = load_picture(src, self.fast,
                              lambda w, h: resized_size(h, w, c.max_soft_tokens, c.patch_size, c.pooling_kernel_size)[::-1])
        w, h = loaded.size
        size = resized_size(h, w, c.max_soft_tokens, c.patch_size, c.pooling_kernel_size)
        with one_torch_thread():  # beside busy processes two-thread ops waited for a core at each OpenMP barrier
            pv, pos = patchify(_resize(loaded.pixels[None], size), c.max_soft_tokens * c.pooling_kernel_size**2,
                               c.patch_size, scale=RESCALE)  # float32(v) * float32(1/255), as the processor rescales
        n = num_image_tokens(h, w, c.max_soft_tokens, c.patch_size, c.pooling_kernel_size)
        assert int((pos[0, :, 0] >= 0).sum()) == n * c.pooling_kernel_size**2, (pos.shape, n)
        return pv[0], pos[0], n

    def hf_inputs(self, pieces: list[Piece]) -> dict[str, torch.Tensor]:
        """What ``Gemma4Processor(text=[prompt], images=[[pictures]], videos=[clips], audio=[waveforms],
        return_tensors="pt")`` returns, where ``prompt`` is the pieces in order with each picture written
        ``<|image|>``, each clip ``<|video|>`` and each sound ``<|audio|>`` (no chat template), clips given as their
        decoded frames with their metadata (frame count and fps) and sounds as the 16 kHz waveform:
        ``input_ids``, ``attention_mask``, ``mm_token_type_ids`` (1 image, 2 video, 3 audio token) int64 [1, L];
        with pictures ``pixel_values`` float32 [n, max_soft_tokens * 9, 768] and ``image_position_ids`` int64
        [n, max_soft_tokens * 9, 2]; with clips ``pixel_values_videos`` float32 [frames, video budget * 9, 768],
        ``video_position_ids`` int64 [frames, ..., 2] and ``num_frames_per_video`` int64 [n]; with sounds
        ``input_features`` float32 [n, T, 128] and ``input_features_mask`` bool [n, T] (padded to the longest)."""
        parts: list[tuple[str, str]] = []
        images, positions, waves = [], [], []
        videos, video_pos, video_frames = [], [], []
        for piece in pieces:
            self._refuse(piece)
            if piece.kind == "text":
                parts.append(("text", piece.value))
            elif piece.kind == "size":
                raise size_only(self.cfg.name, piece)
            elif piece.kind == "image":
                pv, pos, n = self._image(piece.value)
                images.append(pv)
                positions.append(pos)
                parts += [("special", BOI)] + [("special", IMAGE)] * n + [("special", EOI)]
            elif piece.kind == "audio":
                wave = self._waveform(piece)
                waves.append(wave)
                n = audio_count(len(wave)).tokens
                parts += [("special", BOA)] + [("special", AUDIO)] * n + [("special", EOA)]
            else:
                clip = self._video(piece.value)
                pv, pos, n = self._video_tensors(clip)
                videos.append(pv)
                video_pos.append(pos)
                video_frames.append(len(pv))
                parts += self._video_parts(clip.plan, n)
        input_ids, attention_mask = self.text.encode(parts)
        type_ids = torch.zeros_like(input_ids)
        for token, t in TYPE_IDS.items():
            type_ids[input_ids == self.text.special_ids[token]] = t
        out = {"input_ids": input_ids, "attention_mask": attention_mask, "mm_token_type_ids": type_ids}
        if images:
            out["pixel_values"], out["image_position_ids"] = torch.stack(images), torch.stack(positions)
        if videos:
            out["pixel_values_videos"], out["video_position_ids"] = torch.cat(videos), torch.cat(video_pos)
            out["num_frames_per_video"] = torch.tensor(video_frames, dtype=torch.long)
        if waves:
            longest = max(len(w) for w in waves)
            feats = [log_mel(w, longest) for w in waves]
            out["input_features"] = torch.from_numpy(np.stack([f for f, _ in feats]))
            out["input_features_mask"] = torch.from_numpy(np.stack([m for _, m in feats]))
        return out

    def _video_tensors(self, clip: Clip) -> tuple[torch.Tensor, torch.Tensor, int]:
        """pixel_values_videos [N, max_patches, 768], video_position_ids [N, max_patches, 2] of a clip and the soft
        tokens per frame (from the decoded frames' size, display rotation applied)."""
        c = self.cfg
        frames = clip.frames()  # uint8 [N, 3, H, W]
        size = resized_size(frames.shape[-2], frames.shape[-1], c.video_max_soft_tokens, c.patch_size,
                            c.pooling_kernel_size)
        std = fused([1.0, 1.0, 1.0], RESCALE).view(1, 3, 1, 1)  # mean 0, std 1, fused with 1/255
        x = _resize(frames, size).to(torch.float32) / std
        pv, pos = patchify(x, c.video_max_soft_tokens * c.pooling_kernel_size**2, c.patch_size)
        n = self._frame_tokens(frames.shape[-2], frames.shape[-1])
        assert int((pos[0, :, 0] >= 0).sum()) == n * c.pooling_kernel_size**2, (pos.shape, n)
        return pv, pos, n


def _build(cfg: Gemma4Config, tokenizer: Any, fast: bool, **options: Any) -> Gemma4Processor:
    return Gemma4Processor(dataclasses.replace(cfg, **options) if options else cfg, tokenizer, fast)


register_model(ModelSpec(GEMMA_4.name, "gemma4", GEMMA_4, _build, OPTIONS))
