"""Typed span metadata: one frozen dataclass per kind of segment, saved in manifests by ``to_dict``.

Every :class:`~mmtok.core.segment.Segment` (and so every :class:`Span`) carries one of these instead of a free
dict, so what a span says about its source (sizes, grids, timestamps, audio preset, VQ model) is spelled in one
place. ``to_dict`` gives JSON values with a ``"kind"`` key; ``meta_from_dict`` checks every field's type and
refuses unknown keys. Manifests of earlier formats (``mmtok.sequence/1`` plain dicts without ``kind``, and a clip
with its sound as 2N + 1 spans up to ``mmtok.sequence/2``) are read by :mod:`mmtok.core.legacy`.

Packages above ``core`` add their own types with :func:`register_meta_type` (``mmtok.models``: the spans of a
model's layout); a type may give an ``extent`` field, the positions its segment takes (:func:`mmtok.pack`).

The configs inside (``image_config``) stay plain dicts here: ``core`` knows no modality. The image package turns
one back into an ``ImageConfig`` (``ImageConfig.from_dict``).
"""

from __future__ import annotations

import functools
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ..errors import SequenceError
from .vocab import Modality

__all__ = ["SpanMeta", "ControlMeta", "TextMeta", "ImageMeta", "VideoMeta", "AudioMeta", "CodesMeta",
           "VideoAudioMeta", "META_TYPES", "meta_from_dict", "default_meta", "register_meta_type"]


@dataclass(frozen=True)
class SpanMeta:
    """What every span says: where it came from (a file name, or None)."""

    kind: ClassVar[str] = ""
    modality: ClassVar[Modality]
    source: str | None = None

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in fields(self):
            object.__setattr__(self, f.name, _coerce(getattr(self, f.name), hints[f.name], f"{self.kind}.{f.name}"))

    def to_dict(self) -> dict:
        """JSON values (tuples as lists) with ``"kind"`` first; :func:`meta_from_dict` inverts it."""
        return {"kind": self.kind} | {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpanMeta:
        """The metadata a :meth:`to_dict` result describes (its ``kind`` may be left out); it must be of this
        class. Unknown keys and badly typed values raise ``SequenceError``."""
        if not isinstance(d, Mapping):
            raise SequenceError(f"{cls.__name__}.from_dict takes a dict, got {type(d).__name__}")
        meta = meta_from_dict(cls.modality, {"kind": cls.kind, **d}, cls.__name__)
        if not isinstance(meta, cls):
            raise SequenceError(f"{cls.__name__}.from_dict got a {type(meta).__name__} description")
        return meta


@dataclass(frozen=True)
class ControlMeta(SpanMeta):
    """A control token (<bos>, <eos>, <pad>)."""

    kind: ClassVar[str] = "control"
    modality: ClassVar[Modality] = Modality.CONTROL


@dataclass(frozen=True)
class TextMeta(SpanMeta):
    """A run of text pieces."""

    kind: ClassVar[str] = "text"
    modality: ClassVar[Modality] = Modality.TEXT


@dataclass(frozen=True)
class _Picture(SpanMeta):
    """How a picture (or each frame of a clip) was planned: the config and the original size decide the rest."""

    image_config: dict | None = None  # ImageConfig fields (ImageConfig.from_dict rebuilds it)
    original_size: tuple[int, int] | None = None  # (height, width) in pixels
    grid: tuple[int, int] | None = None  # (rows, cols) of patches per block


@dataclass(frozen=True)
class ImageMeta(_Picture):
    """An image as ViT patches."""

    kind: ClassVar[str] = "image"
    modality: ClassVar[Modality] = Modality.IMAGE
    policy: str = "fixed"
    blocks: int = 1  # 1, or 1 + tiles (thumbnail first)
    processed_size: tuple[int, int] | None = None  # (height, width) of the last view
    clamped: bool = False  # dynamic: a side was forced up to one patch
    tiles_limited: bool = False  # tiles: max_tiles cut the tile count
    tile_grid: tuple[int, int] | None = None  # tiles: (rows, cols) of tiles


@dataclass(frozen=True)
class _Frames(_Picture):
    """Sampled frames of a clip."""

    num_frames: int = 0
    timestamps: tuple[float, ...] = ()  # seconds from the clip start (the chosen frames' pts)
    targets: tuple[float, ...] = ()  # seconds where the sampling rule looked
    frame_indices: tuple[int, ...] = ()  # presentation index of each chosen frame in the clip
    repeats: tuple[bool, ...] = ()  # frame already chosen for an earlier target
    rotation: int = 0  # degrees counterclockwise applied to the pixels
    sampling: str = "exact"


@dataclass(frozen=True)
class VideoMeta(_Frames):
    """A whole clip: <start_of_video>, its frames, <end_of_video>. The fields after ``duration`` describe the
    decode (absent in mmtok 0.1 manifests)."""

    kind: ClassVar[str] = "video"
    modality: ClassVar[Modality] = Modality.VIDEO
    duration: float = 0.0  # seconds of the clip's presentation span
    pts: tuple[int, ...] | None = None  # the chosen frames' pts in the stream time base
    time_base: tuple[int, int] | None = None
    num_clip_frames: int | None = None  # frames in the clip
    frames_decoded: int | None = None
    frame_ends: tuple[float, ...] | None = None  # seconds where each chosen frame's display ends (pts + duration)


@dataclass(frozen=True)
class _Sound(SpanMeta):
    """How audio became features."""

    preset: str = ""  # audio front end, a name in mmtok.audio.PRESETS
    stack: int = 1  # feature frames per token
    duration: float = 0.0  # seconds of 16 kHz audio
    sample_rate: int = 0  # of the features' input (16 kHz for every preset)
    tokens_per_second: float = 0.0
    padded_frames: int = 0  # frames added to fill the last token
    source_rate: int = 0  # of the file (0 when unknown)
    channels: int = 0


@dataclass(frozen=True)
class AudioMeta(_Sound):
    """An audio clip: <start_of_audio>, one placeholder per token, <end_of_audio>."""

    kind: ClassVar[str] = "audio"
    modality: ClassVar[Modality] = Modality.AUDIO


@dataclass(frozen=True)
class CodesMeta(SpanMeta):
    """A block of VQ image codes."""

    kind: ClassVar[str] = "image_codes"
    modality: ClassVar[Modality] = Modality.IMAGE_CODES
    grid: tuple[int, int] = (0, 0)  # (rows, cols) of codes
    codebook_size: int = 0
    downsample: int = 1  # pixels per code side
    image_size: int = 0  # side of the square picture the codes reconstruct
    vq_model: str = ""
    original_size: tuple[int, int] | None = None  # (height, width) of the picture the codes came from


@dataclass(frozen=True)
class VideoAudioMeta(VideoMeta):
    """A clip with its sound (``Video(src, audio=True)``), one span: <start_of_video>, then for each sampled frame
    its block followed by the audio tokens of its slice (<start_of_audio> ... <end_of_audio>), then <end_of_video>
    (:mod:`mmtok.multimodal.interleave`). The fields of :class:`VideoMeta` describe the frames; ``sound`` the whole
    sound track; slice i is the sound of frame i's sampling interval."""

    kind: ClassVar[str] = "video_audio"
    sound: AudioMeta = field(default_factory=AudioMeta)  # the whole sound as an audio span says it (its duration)
    slices: tuple[tuple[float, float], ...] = ()  # each frame's slice: [start, end) seconds from the clip start
    slice_tokens: tuple[int, ...] = ()  # audio tokens in each slice (those past the last slice's end join it)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not len(self.slices) == len(self.slice_tokens) == self.num_frames:
            raise SequenceError(f"video_audio: {self.num_frames} frames need as many slices and slice_tokens, got "
                                f"{len(self.slices)} and {len(self.slice_tokens)}")
        if any(n < 0 for n in self.slice_tokens) or any(not a <= b for a, b in self.slices):
            raise SequenceError(f"video_audio: slices must be [start, end) with start <= end and slice_tokens >= 0, "
                                f"got {self.slices!r:.80} and {self.slice_tokens!r:.80}")

    @property
    def audio_tokens(self) -> int:
        """Audio tokens of the whole clip."""
        return sum(self.slice_tokens)


META_TYPES: dict[str, type[SpanMeta]] = {t.kind: t for t in (
    ControlMeta, TextMeta, ImageMeta, VideoMeta, AudioMeta, CodesMeta, VideoAudioMeta)}


def register_meta_type(cls: type[SpanMeta]) -> type[SpanMeta]:
    """Add a metadata type defined outside ``core`` (e.g. by :mod:`mmtok.models`) so that manifests holding its
    ``kind`` load again; a kind registers once. Usable as a class decorator."""
    if not (isinstance(cls, type) and issubclass(cls, SpanMeta)) or not cls.kind or not hasattr(cls, "modality"):
        raise SequenceError(f"{cls!r} is not a SpanMeta subclass with a kind and a modality")
    if cls.kind in META_TYPES:
        raise SequenceError(f"span metadata kind {cls.kind!r} is already registered ({META_TYPES[cls.kind].__name__})")
    META_TYPES[cls.kind] = cls
    return cls


_DEFAULT = {Modality.CONTROL: ControlMeta, Modality.TEXT: TextMeta, Modality.IMAGE: ImageMeta,
            Modality.VIDEO: VideoMeta, Modality.AUDIO: AudioMeta, Modality.IMAGE_CODES: CodesMeta}


def default_meta(modality: Modality) -> SpanMeta:
    """The metadata of a segment that gives none: the modality's type with its defaults."""
    return _DEFAULT[Modality.parse(modality)]()


def meta_from_dict(modality: Modality, d: Mapping[str, Any], what: str = "span",
                   types: Mapping[str, type[SpanMeta]] = META_TYPES) -> SpanMeta:
    """The typed metadata of a ``to_dict`` result (``kind`` picks the type among ``types``; without ``kind``, the
    modality's default type). Unknown keys and badly typed values raise ``SequenceError``."""
    if not isinstance(d, Mapping):
        raise SequenceError(f"{what}: meta must be a dict, got {type(d).__name__}")
    modality = Modality.parse(modality)
    kind = d.get("kind", _DEFAULT[modality].kind)
    cls = types.get(kind) if isinstance(kind, str) else None
    if cls is None or cls.modality != modality:
        choices = [k for k, t in types.items() if t.modality == modality]
        raise SequenceError(f"{what}: meta kind {kind!r} does not fit a {modality.label} span; use one of {choices}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names - {"kind"}, key=str)
    if unknown:
        raise SequenceError(f"{what}: {kind} metadata has no field(s) {unknown}; its fields are {sorted(names)}")
    try:
        return cls(**{k: v for k, v in d.items() if k != "kind"})
    except SequenceError as e:
        raise SequenceError(f"{what}: {e}") from None


# --- field checks --------------------------------------------------------------------------------------------
@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The evaluated field annotations of a metadata class (evaluated once per class)."""
    return typing.get_type_hints(cls)


def _coerce(value: Any, hint: Any, name: str) -> Any:
    """``value`` as the annotated type (lists become tuples); a value of another type raises ``SequenceError``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], name)
    if hint is dict or origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise SequenceError(f"{name} must be a dict with str keys, got {value!r:.80}")
        return json.loads(json.dumps(dict(value), allow_nan=False))  # plain JSON values, equal after a save
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise SequenceError(f"{name} must be a list, got {value!r:.80}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], name) for v in value)
        if len(value) != len(args):
            raise SequenceError(f"{name} must hold {len(args)} values, got {value!r:.80}")
        return tuple(_coerce(v, a, name) for v, a in zip(value, args))
    if isinstance(hint, type) and issubclass(hint, SpanMeta):  # nested metadata (a clip's sound)
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise SequenceError(f"{name} must be {hint.kind} metadata (a dict), got {value!r:.80}")
        try:
            return hint.from_dict(value)
        except SequenceError as e:
            raise SequenceError(f"{name}: {e}") from None
    return _scalar(value, hint, name)


def _scalar(value: Any, t: type, name: str) -> Any:
    if t is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if t is int and type(value) is int or t is bool and type(value) is bool or t is str and isinstance(value, str):
        return value
    raise SequenceError(f"{name} must be {'a finite number' if t is float else t.__name__}, got {value!r:.80}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, SpanMeta):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value
