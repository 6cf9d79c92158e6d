"""Gemini's counts where no open processor exists: the Gemini API's published rule, and mmtok's reading of the
Gemini 1.0 report with every number the report does not state marked as an assumption. Counts only: neither has
tensors to give (``hf_inputs`` raises :class:`~mmtok.errors.InputError` saying so).

``gemini-api`` — the rule on "Understand and count tokens", https://ai.google.dev/gemini-api/docs/tokens
(read 2026-11-30 from a stored copy of the page and of Gemini by Example's "Calculating multimodal input tokens",
https://geminibyexample.com/027-calculate-input-tokens, which quotes the same rule):

- an image with both sides <= 384 pixels is 258 tokens; a larger one is cropped and scaled into tiles of
  768x768 pixels, 258 tokens each: ``258 * ceil(width / 768) * ceil(height / 768)``;
- video is 263 tokens per second (frames and sound together: the API reads a clip's sound track with it);
- audio is 32 tokens per second.

The page gives rates, not how a fraction of a second rounds: mmtok rounds ``rate * seconds`` up (ASSUMPTION), so
the count is never below the rate. Text is counted with mmtok's SentencePiece model, not Gemini's tokenizer
(which is not published): the text column is an estimate (ASSUMPTION). No markers are documented; none are added.
A picture to write (``Image(src, as_="codes")``) is output, not input, and has no input rule here.

``gemini-1.0-mmtok-reading`` — what mmtok's own layout assumes about the model of the Gemini 1.0 report
(arXiv:2312.11805). The report states that video is read as a sequence of frames (16 equally spaced frames per
clip in its video evaluations) and that audio is read from 16 kHz Universal Speech Model (USM) features. It does
not state an image resolution, a patch size, a number of tokens per image or frame, an audio token rate or any
marker tokens. The rules below, each tagged:

| piece | tokens | source |
|---|---|---|
| image | 196 | ASSUMPTION: a 224x224 ViT input in 16x16 patches (mmtok's ``gemini-like`` layout) |
| video | 16 frames x 196 | 16 frames: the report (video evaluations); 196 per frame: ASSUMPTION as for images |
| audio | mmtok's ``usm-128`` frames (10 ms hop) / 4, rounded up | 16 kHz USM features: the report; 4 frames per token (25 per second): ASSUMPTION |
| text | mmtok's SentencePiece | ASSUMPTION (the report's tokenizer is not published) |
| markers | none | ASSUMPTION |

:data:`ASSUMPTIONS` lists the same tags in code, so a table or a plot can mark every assumed number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ..audio.presets import AudioConfig
from ..audio.presets import num_tokens as audio_num_tokens
from ..errors import InputError
from ..media.imageio import image_size
from .base import ModelSpec, Piece, TextIds, register_model
from .probe import audio_samples, clip_info

__all__ = ["GeminiApiRule", "GeminiReportReading", "GEMINI_API", "GEMINI_1_0_READING", "ASSUMPTIONS"]

SAMPLE_RATE = 16_000  # the sample rate the report names for audio, and the one durations are measured at


@dataclass(frozen=True)
class GeminiApiRule:
    """The Gemini API's published count rule (module docstring: page and date)."""

    name: str = "gemini-api"
    image_tokens: int = 258  # per image up to small_side, and per tile
    small_side: int = 384  # both sides at most this: one block of image_tokens
    tile: int = 768  # larger pictures: tiles of tile x tile pixels
    video_per_second: int = 263
    audio_per_second: int = 32

    def image(self, height: int, width: int) -> int:
        """Tokens of one picture: one block up to ``small_side`` on both sides, else one block per tile."""
        if height <= self.small_side and width <= self.small_side:
            return self.image_tokens
        return self.image_tokens * math.ceil(height / self.tile) * math.ceil(width / self.tile)

    def video(self, seconds: float) -> int:
        return math.ceil(self.video_per_second * seconds)

    def audio(self, seconds: float) -> int:
        return math.ceil(self.audio_per_second * seconds)


@dataclass(frozen=True)
class GeminiReportReading:
    """mmtok's reading of the Gemini 1.0 report (module docstring: which numbers are the report's)."""

    name: str = "gemini-1.0-mmtok-reading"
    image_tokens: int = 196  # ASSUMPTION
    video_frames: int = 16  # the report
    sound: AudioConfig = AudioConfig(preset="usm-128", stack=4)  # ASSUMPTION: 25 tokens per second

    def image(self, height: int, width: int) -> int:
        """196 whatever the size (ASSUMPTION: one 224x224 picture in 16x16 patches)."""
        return self.image_tokens

    def video(self, seconds: float) -> int:
        """16 frames (the report) of 196 tokens (ASSUMPTION), whatever the duration."""
        return self.video_frames * self.image_tokens

    def audio(self, seconds: float) -> int:
        """The usm-128 preset's 10 ms frames, 4 per token, the last one partial (ASSUMPTION)."""
        return audio_num_tokens(seconds, self.sound)


GEMINI_API = GeminiApiRule()
GEMINI_1_0_READING = GeminiReportReading()

# (model, piece kind, what is assumed) for every number the source does not state
ASSUMPTIONS: tuple[tuple[str, str, str], ...] = (
    ("gemini-api", "video", "rate x seconds rounded up"),
    ("gemini-api", "audio", "rate x seconds rounded up"),
    ("gemini-api", "text", "mmtok's SentencePiece model stands in for Gemini's tokenizer"),
    ("gemini-1.0-mmtok-reading", "image", "196 tokens: 224x224 pixels in 16x16 patches"),
    ("gemini-1.0-mmtok-reading", "video", "196 tokens per frame (16 frames is the report's)"),
    ("gemini-1.0-mmtok-reading", "audio", "25 tokens per second: 10 ms USM frames stacked 4 per token"),
    ("gemini-1.0-mmtok-reading", "text", "mmtok's SentencePiece model stands in for the report's tokenizer"),
    ("gemini-1.0-mmtok-reading", "markers", "no marker tokens around pictures, clips or sounds"),
)


class _GeminiCounts:
    """Counts of one rule behind :class:`~mmtok.models.ModelProcessor`: no tensors, no markers."""

    def __init__(self, rule: GeminiApiRule | GeminiReportReading, tokenizer: Any = None, fast: bool = False) -> None:
        self.rule, self.fast = rule, fast
        self.text = TextIds(tokenizer, ())

    def _size(self, piece: Piece) -> tuple[int, int]:
        if piece.kind == "size":
            return piece.value
        w, h = image_size(piece.value)
        return h, w

    def _seconds(self, piece: Piece) -> float:
        if piece.kind == "video":
            return clip_info(piece.value.src).seconds
        return audio_samples(piece.value.src, piece.value.sample_rate, SAMPLE_RATE) / SAMPLE_RATE

    def num_tokens(self, piece: Piece) -> int:
        """The rule's count of one piece (module docstring); text: mmtok's SentencePiece count."""
        r, kind = self.rule, piece.kind
        if kind == "text":
            return self.text.count(piece.value)
        if kind == "codes":
            raise InputError(f"{r.name}: a picture to write (as_='codes') is the model's output, which has no input "
                             f"count here; give mmtok.Image(src) to count it as input")
        if kind in ("image", "size"):
            return r.image(*self._size(piece))
        return r.video(self._seconds(piece)) if kind == "video" else r.audio(self._seconds(piece))

    def segment_length(self, piece: Piece) -> int:
        """The same as :meth:`num_tokens`: no marker tokens are documented (or, for the reading, assumed)."""
        return self.num_tokens(piece)

    def hf_inputs(self, pieces: list[Piece]) -> dict[str, torch.Tensor]:
        raise InputError(f"{self.rule.name} is a published count rule, not an open model: there is no processor "
                         f"whose tensors mmtok could give; use num_tokens / segment_length (or mmtok.budget), or "
                         f"an open model such as gemma-4 for tensors")


def _build(rule: Any, tokenizer: Any, fast: bool) -> _GeminiCounts:
    return _GeminiCounts(rule, tokenizer, fast)


for _rule in (GEMINI_API, GEMINI_1_0_READING):
    register_model(ModelSpec(_rule.name, "gemini", _rule, _build))
