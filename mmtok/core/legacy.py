"""Span metadata of earlier manifest formats, read into today's segments.

- ``mmtok.sequence/1`` (mmtok 0.1) stored plain metadata dicts without ``kind``: the kind follows from the modality
  and, for the parts of a clip with its sound, from ``part`` (:func:`read_meta`).
- Up to ``mmtok.sequence/2`` a clip with its sound was 2N + 1 spans: N frame spans (``clip_frame``; the first one
  opens with <start_of_video>), each followed by the audio span of its time slice (``clip_audio``), and an end span
  (``clip_end``: <end_of_video>). :func:`merge_clips` joins each such run into the one video segment with
  :class:`~mmtok.core.meta.VideoAudioMeta` that mmtok makes now: the same ids, positions, modalities and feature
  rows, so the stored tensors verify against it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..errors import ManifestError, SequenceError
from .meta import (
    META_TYPES,
    AudioMeta,
    SpanMeta,
    VideoAudioMeta,
    _Frames,
    _Picture,
    _Sound,
    default_meta,
    meta_from_dict,
)
from .positions import stacked_positions
from .segment import Segment
from .vocab import Modality

__all__ = ["V1", "read_meta", "merge_clips"]

V1 = "mmtok.sequence/1"


@dataclass(frozen=True)
class _ClipPart(SpanMeta):
    """What every part of a clip with its sound repeated about the clip."""

    clip_frames: int = 0
    clip_duration: float = 0.0


@dataclass(frozen=True)
class _ClipFrame(_ClipPart, _Frames):
    """One frame of a clip with its sound (the first one opened with <start_of_video>)."""

    kind: ClassVar[str] = "clip_frame"
    modality: ClassVar[Modality] = Modality.VIDEO
    first_frame: int = 0  # this frame's number among the clip's sampled frames


@dataclass(frozen=True)
class _ClipAudio(_ClipPart, _Sound):
    """The audio tokens of one frame's time slice."""

    kind: ClassVar[str] = "clip_audio"
    modality: ClassVar[Modality] = Modality.AUDIO
    first_token: int = 0  # the slice's first token among the clip's audio tokens
    audio_tokens: int = 0  # audio tokens of the whole clip
    slice: tuple[float, float] = (0.0, 0.0)  # the slice's [start, end) in seconds


@dataclass(frozen=True)
class _ClipEnd(_ClipPart, _Picture):
    """<end_of_video> of a clip with its sound."""

    kind: ClassVar[str] = "clip_end"
    modality: ClassVar[Modality] = Modality.VIDEO
    rotation: int = 0
    sampling: str = "exact"
    audio_tokens: int = 0
    audio_padded_frames: int = 0


_PARTS: dict[str, type[SpanMeta]] = {t.kind: t for t in (_ClipFrame, _ClipAudio, _ClipEnd)}
_V1_PART = {"frame": "clip_frame", "audio": "clip_audio", "end": "clip_end"}
_V1_DROPPED = {"video": {"image"}}  # keys mmtok 0.1 stored that later versions derive


def read_meta(modality: Modality, d: Any, what: str, fmt: str) -> SpanMeta:
    """The metadata of a span saved in format ``fmt`` (``/1`` or ``/2``), parts of a clip with its sound included."""
    if not isinstance(d, Mapping):
        raise SequenceError(f"{what}: meta must be a dict, got {type(d).__name__}")
    if fmt == V1:
        d = dict(d)
        part = d.pop("part", None)
        kind = _V1_PART.get(part, "") if isinstance(part, str) else ""
        kind = kind or default_meta(modality).kind
        for key in _V1_DROPPED.get(kind, ()):
            d.pop(key, None)
        d["kind"] = kind
    return meta_from_dict(modality, d, what, META_TYPES | _PARTS)


Entry = tuple[Segment, tuple[int, int, int]]  # a segment and its span's (offset, num_features, sound_features)


def merge_clips(entries: list[Entry]) -> list[Entry]:
    """The entries with each run of a clip with its sound's parts joined into one video segment (module
    docstring); a run that is cut short, interrupted or out of order raises :class:`ManifestError`."""
    out: list[Entry] = []
    run: list[Entry] | None = None
    for k, (seg, counts) in enumerate(entries):
        m = seg.meta
        if isinstance(m, _ClipFrame) and m.first_frame == 0 and run is None:
            run = [(seg, counts)]
        elif isinstance(m, (_ClipFrame, _ClipAudio, _ClipEnd)):
            if run is None:
                raise ManifestError(f"span {k} is part of a clip with its sound but follows no first frame")
            run.append((seg, counts))
            if isinstance(m, _ClipEnd):
                out.append(_join(run, k))
                run = None
        elif run is not None:
            raise ManifestError(f"span {k} interrupts a clip with its sound before its end span")
        else:
            out.append((seg, counts))
    if run is not None:
        raise ManifestError("a clip with its sound lacks its end span (<end_of_video>)")
    return out


def _join(run: list[Entry], k: int) -> Entry:
    """One clip from its parts: frame, audio, frame, audio, ..., end."""
    parts = [seg for seg, _ in run]
    frames, sounds, end = parts[:-1:2], parts[1:-1:2], parts[-1].meta
    n = len(frames)
    if (len(parts) != 2 * n + 1 or not all(isinstance(s.meta, _ClipFrame) and s.meta.first_frame == i
                                           for i, s in enumerate(frames))
            or not all(isinstance(s.meta, _ClipAudio) for s in sounds) or end.clip_frames != n):
        raise ManifestError(f"the clip with its sound that ends at span {k} is not frame, audio, ..., end for each "
                            f"of its {end.clip_frames} frames")
    f0, a0 = frames[0].meta, sounds[0].meta
    sound = AudioMeta(source=a0.source, preset=a0.preset, stack=a0.stack, duration=a0.duration,
                      sample_rate=a0.sample_rate, tokens_per_second=a0.tokens_per_second,
                      padded_frames=end.audio_padded_frames, source_rate=a0.source_rate, channels=a0.channels)
    meta = VideoAudioMeta(
        source=f0.source, image_config=f0.image_config, original_size=f0.original_size, grid=f0.grid, num_frames=n,
        timestamps=[t for s in frames for t in s.meta.timestamps], targets=[t for s in frames for t in s.meta.targets],
        frame_indices=[i for s in frames for i in s.meta.frame_indices],
        repeats=[r for s in frames for r in s.meta.repeats], rotation=f0.rotation, sampling=f0.sampling,
        duration=f0.clip_duration, sound=sound, slices=[s.meta.slice for s in sounds],
        slice_tokens=[s.num_features for s in sounds])
    video = [s.features for s in frames if s.features is not None]
    audio = [s.features for s in sounds if s.features is not None]
    seg = Segment(Modality.VIDEO, torch.cat([s.input_ids for s in parts]), stacked_positions([s.pos3d for s in parts]),
                  torch.cat(video) if video else None, meta, torch.cat(audio) if audio else None)
    return seg, (run[0][1][0], seg.num_features, seg.num_sound_features)
