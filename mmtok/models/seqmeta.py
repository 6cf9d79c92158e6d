"""Span metadata of a sequence in a model's layout, and the provenance it gives.

``ModelProcessor(name)(contents)`` lays a prompt out as the model reads it (:mod:`mmtok.models.sequence`). Each of
its spans carries one of the frozen types below (registered with :func:`mmtok.core.meta.register_meta_type`, so a
saved sequence loads again), and :func:`mmtok.core.protocol.register_meta_tokenizer` routes their provenance here:

- text: ``chars``, the [start, end) character span of each token in the piece's text (``text``);
- picture token: ``box`` (x0, y0, x1, y1) in the ORIGINAL picture's pixels of the patch block it stands for
  (Qwen: merge_size x merge_size patches; Gemma 4: the 3x3 pooled patches; Chameleon: one 16x16 patch of the
  512x512 centre crop). The resized picture covers the whole original (Qwen, Gemma 4: the boxes tile it exactly
  once) or, after Chameleon's centre crop, the part ``crop`` names (the boxes tile that region);
- video token: ``frame`` (the sampled frame's number), ``frame_index`` (its index in the clip), ``time`` (its
  display interval ``[index / fps, (index + 1) / fps)``; a Qwen token covers a temporal patch of
  temporal_patch_size frames: from its first frame's start to its last frame's end) and ``box`` as for pictures;
  the timestamp text a model writes before a frame gets that frame's ``frame`` and ``time``;
- audio token j: ``time`` ``[j, j + 1) * seconds_per_token`` (Whisper: 20 ms per encoder position, window w
  starting at 30 w s; Gemma 4: 40 ms per token). Padding past the end of the sound is covered too (recorded:
  ``samples``, ``kept_samples``).

Marker tokens (``<|vision_start|>``, ``<|image>``, ...) and control tokens have no provenance of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..core.meta import SpanMeta, register_meta_type
from ..core.model_vocab import placeholder_ids
from ..core.protocol import ProvenanceFromTable, empty_provenance, register_meta_tokenizer
from ..core.segment import Segment
from ..core.vocab import Modality
from ..errors import SequenceError

__all__ = ["ModelSpanMeta", "ModelTextMeta", "ModelControlMeta", "ModelImageMeta", "ModelVideoMeta",
           "ModelAudioMeta", "ModelProvenance"]


@dataclass(frozen=True)
class ModelSpanMeta(SpanMeta):
    """What every span of a model sequence says: the model, and (Qwen-VL clips) the positions it takes."""

    model: str = ""
    extent: int | None = None  # the next span's position offset minus this one's, when not max position + 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.extent is not None and self.extent < 1:
            raise SequenceError(f"{self.kind}.extent must be >= 1 or None, got {self.extent}")


@register_meta_type
@dataclass(frozen=True)
class ModelTextMeta(ModelSpanMeta):
    """A text piece: its string and each token's character span in it (flattened pairs; -1 where unknown)."""

    kind: ClassVar[str] = "model_text"
    modality: ClassVar[Modality] = Modality.TEXT
    text: str = ""
    chars: tuple[int, ...] = ()


@register_meta_type
@dataclass(frozen=True)
class ModelControlMeta(ModelSpanMeta):
    """Tokens the tokenizer or the processor adds around the prompt (``"prefix"``: BOS or Whisper's
    ``<|startoftranscript|>...``; ``"suffix"``: ``<|endoftext|>``, Chameleon's separator)."""

    kind: ClassVar[str] = "model_control"
    modality: ClassVar[Modality] = Modality.CONTROL
    role: str = ""


@dataclass(frozen=True)
class _ModelPicture(ModelSpanMeta):
    original_size: tuple[int, int] = (0, 0)  # (height, width) of the picture / frame as decoded
    resized_size: tuple[int, int] = (0, 0)  # (height, width) after the processor's resize (before any crop)
    crop: tuple[int, int, int, int] | None = None  # (top, left, height, width) kept of the resized picture
    patch_size: int = 0  # pixels per patch side
    merge: int = 1  # patches per token side: Qwen's merge_size, Gemma 4's pooling kernel, 1 for Chameleon
    rows: int = 0  # patches per column of the (cropped) picture / frame
    cols: int = 0  # patches per row
    max_patches: int = 0  # Gemma 4: rows of pixel_values per picture / frame, padding included (0: no padding)

    def box(self, k: torch.Tensor) -> torch.Tensor:
        """float64 [n, 4] (x0, y0, x1, y1) in original pixels of tokens ``k`` (int64 [n], row-major)."""
        side = self.patch_size * self.merge
        r, c = k // (self.cols // self.merge), k % (self.cols // self.merge)
        top, left = (self.crop[0], self.crop[1]) if self.crop is not None else (0, 0)
        sy = self.original_size[0] / self.resized_size[0]
        sx = self.original_size[1] / self.resized_size[1]
        x0, y0 = (left + c * side).double(), (top + r * side).double()
        return torch.stack([x0 * sx, y0 * sy, (x0 + side) * sx, (y0 + side) * sy], dim=1)

    @property
    def tokens_per_frame(self) -> int:
        return (self.rows // self.merge) * (self.cols // self.merge)


@register_meta_type
@dataclass(frozen=True)
class ModelImageMeta(_ModelPicture):
    """A picture as the model reads it."""

    kind: ClassVar[str] = "model_image"
    modality: ClassVar[Modality] = Modality.IMAGE
    temporal_patch_size: int = 1  # Qwen: the still picture repeated to fill one temporal patch


@register_meta_type
@dataclass(frozen=True)
class ModelVideoMeta(_ModelPicture):
    """A clip as the model reads it: the sampled frames and how they are grouped into tokens."""

    kind: ClassVar[str] = "model_video"
    modality: ClassVar[Modality] = Modality.VIDEO
    total_frames: int = 0  # frames in the clip
    fps: float = 0.0  # total_frames / duration, as the processor's metadata
    frame_indices: tuple[int, ...] = ()  # the sampled frames' indices in the clip
    temporal_patch_size: int = 1  # sampled frames per token (Qwen 2, the last repeated to fill; Gemma 4 1)
    groups: int = 0  # temporal groups of tokens (Qwen grid_t; Gemma 4 frames)
    second_per_grid_t: float = 0.0  # Qwen: temporal_patch_size / sampled fps

    def frame_times(self) -> torch.Tensor:
        """float64 [groups, 2]: each group's display interval in seconds (first frame's start, last frame's end)."""
        idx = list(self.frame_indices)
        tps = self.temporal_patch_size
        idx += [idx[-1]] * (self.groups * tps - len(idx))  # padded with the last frame, as the processor pads
        first = torch.tensor(idx[::tps], dtype=torch.float64)
        last = torch.tensor(idx[tps - 1::tps], dtype=torch.float64)
        return torch.stack([first / self.fps, (last + 1) / self.fps], dim=1)


@register_meta_type
@dataclass(frozen=True)
class ModelAudioMeta(ModelSpanMeta):
    """A sound as the model reads it (16 kHz mono)."""

    kind: ClassVar[str] = "model_audio"
    modality: ClassVar[Modality] = Modality.AUDIO
    samples: int = 0  # of the decoded sound
    kept_samples: int = 0  # what the model reads (Gemma 4: the first 30 s; Whisper: all, in 30 s windows)
    sample_rate: int = 16_000
    seconds_per_token: float = 0.0  # 0.02 (Whisper), 0.04 (Gemma 4)
    frames_per_token: int = 1  # mel frames in one feature row
    n_mels: int = 0
    windows: int = 0  # Whisper: 30 s windows (1500 tokens each)
    real_frames: int = 0  # Gemma 4: mel frames with mask True
    feature_frames: int = 0  # Gemma 4: the frames of input_features (padded to the prompt's longest sound)
    padded_frames: int = 0  # zero frames added to fill the last token (Gemma 4)

    @property
    def truncated(self) -> bool:
        """True when the model drops the sound after its limit (Gemma 4: 30 s)."""
        return self.kept_samples < self.samples


class ModelProvenance(ProvenanceFromTable):
    """Provenance of the spans of a model sequence (module docstring), from their metadata and ids alone."""

    def provenance_table(self, segment: Segment, vocab=None) -> dict[str, torch.Tensor]:
        meta, n = segment.meta, len(segment)
        table = empty_provenance(n)
        if isinstance(meta, ModelTextMeta):
            if meta.chars:
                table["chars"] = torch.tensor(meta.chars, dtype=torch.int64).reshape(n, 2)
            return table
        if not isinstance(meta, (_ModelPicture, ModelAudioMeta)):
            return table
        pid = placeholder_ids(vocab).get(segment.modality) if vocab is not None else None
        if pid is None:
            raise SequenceError(f"{meta.model}: the vocabulary has no {segment.modality.label} placeholder")
        where = (segment.input_ids == pid).nonzero()[:, 0]  # (tokens,)
        k = torch.arange(len(where))
        if isinstance(meta, ModelAudioMeta):
            t = k.double() * meta.seconds_per_token
            table["time"][where] = torch.stack([t, t + meta.seconds_per_token], dim=1)
            return table
        per = meta.tokens_per_frame
        table["box"][where] = meta.box(k % per)
        if isinstance(meta, ModelVideoMeta):
            # each token's temporal group; a text token (timestamp) belongs to the group whose tokens follow it
            before = torch.cumsum((segment.input_ids == pid).long(), 0) - (segment.input_ids == pid).long()
            group = (before // per).clamp(max=meta.groups - 1)
            is_text = ~torch.isin(segment.input_ids, torch.tensor([i for _, i in vocab.markers], dtype=torch.int64))
            rows = torch.cat([where, is_text.nonzero()[:, 0]])
            g = group[rows]
            tps = meta.temporal_patch_size
            table["frame"][rows] = g * tps
            table["frame_index"][rows] = torch.tensor(meta.frame_indices, dtype=torch.int64)[g * tps]
            table["time"][rows] = meta.frame_times()[g]
        return table


PROVENANCE = ModelProvenance()
register_meta_tokenizer(ModelSpanMeta, lambda segment, vocab: PROVENANCE)
