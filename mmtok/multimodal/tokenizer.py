"""One front door: a mixed prompt -> one ``TokenSequence`` and back.

``MultimodalTokenizer.default()`` uses the ``gemini-like`` layout: ``<bos>``, then each piece in order; images as
224x224 ViT patches (196 tokens), clips as 16 frames through that image path, audio through the USM-style
front end (``usm-128``, 25 tokens/s), and images to *write* as VQ codes (1024 per image). Other layouts come from
one registry (:data:`LAYOUTS`).

- Native call: ``tok(["Describe", mmtok.Image("cat.jpg"), "and", mmtok.Audio("a.wav")])`` -> ``TokenSequence``;
  a list of such lists -> a list of sequences (with a progress bar when there are many).
- Hugging Face style: ``tok(text="Describe <image> and <audio>", images=[...], audio=[...],
  return_tensors="pt")`` -> an :class:`mmtok.Batch` (``collate`` of the native sequences: the same keys,
  ``labels`` included); ``return_tensors=None`` gives those keys as a plain dict with lists in place of tensors,
  as transformers' processors give lists. Placeholders and inputs must match in number.
- ``tok.decode(seq)`` -> the contents back: text exactly, patch images as the exact processed picture, code
  images as the VQ reconstruction, clips as frames + timestamps, audio as a (Griffin-Lim) waveform.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ..audio import SAMPLE_RATE
from ..audio.tokenizer import AudioConfig, AudioTokenizer, AudioTokens
from ..core.batch import Batch, collate
from ..core.meta import AudioMeta, VideoAudioMeta
from ..core.progress import progress_bar
from ..core.registry import Registry
from ..core.reprs import short_repr
from ..core.sequence import DEFAULT_MAX_LENGTH, Segment, TokenSequence, pack, sequential_positions
from ..core.vocab import DEFAULT_IMAGE_CODES, Modality
from ..errors import ConfigError, ContextLengthError, InputError, SequenceError
from ..image.plan import ImageConfig
from ..image.tokenizer import ImageTokenizer
from ..media.contents import Audio, DecodedAudio, DecodedImage, DecodedVideo, Image, Video
from ..media.files import File, resolve_file, text_naming_a_file
from ..text.tokenizer import TextTokenizer
from ..video.tokenizer import VideoConfig, VideoTokenizer
from .interleave import video_with_audio

__all__ = ["LayoutPreset", "LAYOUTS", "register_layout", "MultimodalTokenizer"]


@dataclass(frozen=True)
class LayoutPreset:
    """How a prompt is laid out: the config of every modality plus the framing of the sequence."""

    name: str
    image: ImageConfig = field(default_factory=ImageConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)  # usm-128: AudioTokenizer()'s too
    vq_model: str = "vq-f8-4096"  # a bundled VQ model in assets/vq (for Image(as_="codes"))
    bos: bool = True  # start with <bos>
    max_length: int = DEFAULT_MAX_LENGTH
    image_token: str = "<image>"  # Hugging Face style placeholders in `text=`
    video_token: str = "<video>"
    audio_token: str = "<audio>"

    def __post_init__(self) -> None:
        tokens = (self.image_token, self.video_token, self.audio_token)
        if len(set(tokens)) != 3 or not all(tokens):
            raise ConfigError(f"layout {self.name!r}: the three placeholder strings must differ and not be empty")


LAYOUTS: Registry[LayoutPreset] = Registry("layout")


def register_layout(layout: LayoutPreset) -> LayoutPreset:
    """Register a layout under its name (a taken name raises ``ConfigError``)."""
    return LAYOUTS.register(layout.name, layout)


register_layout(LayoutPreset("gemini-like"))
register_layout(LayoutPreset("dynamic", image=ImageConfig(resize="dynamic"),
                             video=VideoConfig(image=ImageConfig(resize="dynamic", max_tokens=256))))
register_layout(LayoutPreset("tiles", image=ImageConfig(resize="tiles")))
register_layout(LayoutPreset("whisper-audio", audio=AudioConfig(preset="whisper-80")))


class MultimodalTokenizer:
    """See the module docstring."""

    def __init__(self, layout: LayoutPreset | str = "gemini-like") -> None:
        if isinstance(layout, str):
            layout = LAYOUTS.get(layout)
        self.layout = layout
        self.text = TextTokenizer.default()
        self.image = ImageTokenizer(layout.image)
        self.video = VideoTokenizer(layout.video)
        self.audio = AudioTokenizer(layout.audio)
        self.vocab = self.text.make_vocab(image_codes=DEFAULT_IMAGE_CODES)
        self._vq = None

    @classmethod
    def default(cls, layout: LayoutPreset | str = "gemini-like", *, max_length: int | None = None,
                num_frames: int | None = None, image_size: int | None = None,
                audio_preset: str | None = None) -> MultimodalTokenizer:
        """The tokenizer of a layout (a registered name or a :class:`LayoutPreset`) with settings changed by keyword,
        each checked by the config it lands in (a :class:`~mmtok.errors.ConfigError` names the bad value):

        - ``max_length``: the context limit in tokens;
        - ``num_frames``: frames sampled per clip (``VideoConfig.num_frames``);
        - ``image_size``: the square side pictures and frames are resized to (``ImageConfig.size``, a multiple of
          the 16-pixel patch) — for the fixed-resize layouts; ``dynamic`` and ``tiles`` size pictures otherwise;
        - ``audio_preset``: a name in ``mmtok.audio.PRESETS`` (``whisper-80``, ``usm-128``, ...).
        """
        base = LAYOUTS.get(layout) if isinstance(layout, str) else layout
        if not isinstance(base, LayoutPreset):
            raise ConfigError(f"layout must be a name in mmtok.LAYOUTS or a LayoutPreset, got {type(layout).__name__}")
        changes: dict[str, Any] = {}
        if max_length is not None:
            if type(max_length) is not int or max_length < 1:
                raise ConfigError(f"max_length must be a positive int (tokens), got {max_length!r}")
            changes["max_length"] = max_length
        video = base.video
        if image_size is not None:
            if base.image.resize != "fixed" or base.video.image.resize != "fixed":
                raise ConfigError(f"image_size sets the fixed square side; layout {base.name!r} resizes pictures by "
                                  f"{base.image.resize!r}: use a fixed layout (gemini-like) or give a LayoutPreset "
                                  f"with its own ImageConfig")
            changes["image"] = replace(base.image, size=image_size)
            video = replace(video, image=replace(video.image, size=image_size))
        if num_frames is not None:
            video = replace(video, num_frames=num_frames)
        if video is not base.video:
            changes["video"] = video
        if audio_preset is not None:
            changes["audio"] = replace(base.audio, preset=audio_preset)
        return cls(replace(base, **changes) if changes else base)

    def __repr__(self) -> str:
        lay = self.layout
        return (f"MultimodalTokenizer(layout={lay.name!r}, max_length={lay.max_length}, image={short_repr(lay.image)}, "
                f"video={short_repr(lay.video)}, audio={short_repr(lay.audio)})")

    @property
    def vq(self):
        """The VQ tokenizer for ``Image(..., as_="codes")`` (loaded on first use)."""
        if self._vq is None:
            from ..vq import DEFAULT_VQ, VQImageTokenizer

            self._vq = VQImageTokenizer.from_pretrained(DEFAULT_VQ.with_name(f"{self.layout.vq_model}.safetensors"))
            if self._vq.codebook_size > self.vocab.image_codes:
                raise ConfigError(f"the VQ model has {self._vq.codebook_size} codes but the vocabulary reserves "
                                  f"{self.vocab.image_codes}")
        return self._vq

    def vq_num_tokens(self, height: int, width: int) -> int:
        """Codes for ``Image(..., as_="codes")`` of that size (:func:`mmtok.vq.num_codes` of the VQ preset; no
        weights needed)."""
        from ..vq.model import VQ_PRESETS
        from ..vq.tokenizer import num_codes

        return num_codes(VQ_PRESETS[self.layout.vq_model], height, width)

    # --- encoding ---------------------------------------------------------------------------------------
    def segments(self, contents: Sequence[Any], limit: int | None = None) -> list[Segment]:
        """One segment per piece (plus ``<bos>`` when the layout asks for it).

        With ``limit``, a text that cannot fit in what is left of it (by :meth:`TextTokenizer.min_tokens`, a lower
        bound) raises :class:`ContextLengthError` before it is tokenized."""
        if isinstance(contents, (str, Image, Video, Audio, File, Path)):
            contents = [contents]
        out = []
        if self.layout.bos:
            out.append(Segment(Modality.CONTROL, torch.tensor([self.vocab.bos_id]), sequential_positions(1)))
        used = sum(len(s.input_ids) for s in out)
        for i, piece in enumerate(contents):
            piece = resolve_file(piece)  # mmtok.File and pathlib.Path: the piece their content is
            if limit is not None and isinstance(piece, str):
                _refuse_long_text(piece, i, self.text.min_tokens(piece), used, limit)
            seg = self._segment(piece, i)
            used += len(seg.input_ids)
            out.append(seg)
        return out

    def encode(self, contents: Sequence[Any], truncate: bool = False) -> TokenSequence:
        limit = None if truncate else self.layout.max_length  # truncate=True: pack records what it drops
        return pack(self.segments(contents, limit), self.vocab, self.layout.max_length, truncate=truncate)

    def encode_batch(self, batch: Sequence[Sequence[Any]], truncate: bool = False) -> list[TokenSequence]:
        bar = progress_bar(iterable=batch, desc="tokenize", disable=len(batch) < 8, leave=False)
        return [self.encode(c, truncate) for c in bar]

    def __call__(self, contents: Sequence[Any] | None = None, *, text: str | Sequence[str] | None = None,
                 images: Sequence[Any] = (), videos: Sequence[Any] = (), audio: Sequence[Any] = (),
                 return_tensors: str | None = None, truncate: bool = False):
        """Native: ``tok(contents)`` -> ``TokenSequence``; Hugging Face style: ``tok(text=..., images=...,
        return_tensors="pt")`` -> :class:`mmtok.Batch` (see the module docstring)."""
        if text is None:
            if contents is None:
                raise InputError("give contents (a list of str / Image / Video / Audio) or text=...")
            if images or videos or audio or return_tensors:
                raise InputError("images=, videos=, audio= and return_tensors= go with text=..., not with contents")
            if len(contents) and all(isinstance(c, (list, tuple)) for c in contents):
                return self.encode_batch(contents, truncate)
            return self.encode(contents, truncate)
        if contents is not None:
            raise InputError("give either contents or text=..., not both")
        if return_tensors not in (None, "pt"):
            raise InputError(f"return_tensors={return_tensors!r}; mmtok returns PyTorch tensors ('pt') or lists (None)")
        texts = [text] if isinstance(text, str) else list(text)
        seqs = self.encode_batch(self._hf_contents(texts, list(images), list(videos), list(audio)), truncate)
        batch = collate(seqs)
        return batch if return_tensors == "pt" else _lists(batch)

    def _hf_contents(self, texts: list[str], images: list, videos: list, audio: list) -> list[list]:
        lay = self.layout
        marks = {lay.image_token: ("image", images), lay.video_token: ("video", videos), lay.audio_token: ("audio", audio)}
        pattern = re.compile("|".join(re.escape(m) for m in marks))
        found = [marks[m][0] for t in texts for m in pattern.findall(t)]
        counts = {name: found.count(name) for name in ("image", "video", "audio")}
        for mark, (name, items) in marks.items():
            if counts[name] != len(items):
                raise InputError(f"the text holds {counts[name]} {mark} placeholder(s) but {len(items)} {name} "
                                 f"input(s) were given; give one {name} per {mark}")
        taken = {"image": 0, "video": 0, "audio": 0}
        batch = []
        for t in texts:
            contents: list = []
            pos = 0
            for m in pattern.finditer(t):
                if m.start() > pos:
                    contents.append(t[pos:m.start()])
                name, items = marks[m.group()]
                item = items[taken[name]]
                taken[name] += 1
                if isinstance(item, (Image, Video, Audio)):
                    contents.append(item)
                else:
                    contents.append({"image": Image, "video": Video, "audio": Audio}[name](item))
                pos = m.end()
            if pos < len(t):
                contents.append(t[pos:])
            batch.append(contents)
        return batch

    def _segment(self, piece: Any, i: int) -> Segment:
        if isinstance(piece, str):  # a TextFile (mmtok.media.files) also names its file
            text_naming_a_file(piece)
            return self.text.segment(self.text.encode(str(piece)), self.vocab, getattr(piece, "source", None))
        if isinstance(piece, Image):
            if piece.as_ == "patches":
                return self.image.segment(self.image.encode(piece.src), self.vocab)
            vq = self.vq
            loaded, plan = vq.image.load(piece.src)
            pixels = vq.image.render(loaded, plan)[-1]
            codes = vq.encode_pixels(pixels[None])[0]
            return vq.segment(codes, self.vocab, source=loaded.source, original_size=plan.original)
        if isinstance(piece, Video):
            tokens = self.video.encode(piece.src)
            seg = self.video.segment(tokens, self.vocab)
            if not piece.audio:
                return seg
            return video_with_audio(tokens, self.audio.encode(piece.src), self.vocab, seg)
        if isinstance(piece, Audio):
            return self.audio.segment(self.audio.encode(piece.src, piece.sample_rate), self.vocab)
        raise InputError(f"piece {i} is a {type(piece).__name__}; give str, mmtok.Image, mmtok.Video, mmtok.Audio or "
                         f"mmtok.File (or a pathlib.Path)")

    # --- decoding ---------------------------------------------------------------------------------------
    def decode(self, seq: TokenSequence) -> list:
        """The contents back, one item per piece (``<bos>``/``<eos>`` are skipped; a clip with its sound comes
        back as one :class:`DecodedVideo` with ``audio``)."""
        if seq.vocab != self.vocab:
            raise SequenceError(f"the sequence was made with {seq.vocab}, this tokenizer uses {self.vocab}")
        return [self._decode_piece(seg) for seg in seq.unpack() if seg.modality != Modality.CONTROL]

    def _decode_piece(self, seg: Segment):
        """One segment's content: text, a picture, a clip or a sound."""
        source = seg.meta.source
        if seg.modality == Modality.TEXT:
            return self.text.decode(seg.input_ids)
        if seg.modality == Modality.IMAGE:
            tok = self._image_tokenizer(seg.meta.image_config)
            return DecodedImage(tok.decode(tok.from_segment(seg, self.vocab)), "patches", source)
        if seg.modality == Modality.IMAGE_CODES:
            return DecodedImage(self.vq.decode(self.vq.from_segment(seg, self.vocab)), "codes", source)
        if seg.modality == Modality.VIDEO:  # a clip with its sound also gives its waveform
            tok = self._video_tokenizer(seg.meta.image_config)
            sound = seg.meta.sound if isinstance(seg.meta, VideoAudioMeta) else None
            wave = None if sound is None else self.audio.decode(self._audio_tokens(seg.sound, sound))
            return DecodedVideo(tok.decode(tok.from_segment(seg, self.vocab)), list(seg.meta.timestamps), wave, source)
        return DecodedAudio(self.audio.decode(self._audio_tokens(seg.features, seg.meta)), SAMPLE_RATE, source)

    def _image_tokenizer(self, image_config: dict) -> ImageTokenizer:
        cfg = ImageConfig.from_dict(image_config)
        return self.image if cfg == self.image.config else ImageTokenizer(cfg)

    def _video_tokenizer(self, image_config: dict) -> VideoTokenizer:
        cfg = ImageConfig.from_dict(image_config)
        return self.video if cfg == self.video.config.image else VideoTokenizer(VideoConfig(image=cfg))

    def _audio_tokens(self, rows: torch.Tensor | None, meta: AudioMeta) -> AudioTokens:
        if meta.preset != self.audio.config.preset:
            raise SequenceError(f"audio span made with {meta.preset}, this tokenizer uses {self.audio.config.preset}")
        tok = self.audio if meta.stack == self.audio.config.stack else AudioTokenizer(
            replace(self.audio.config, stack=meta.stack))
        return tok.tokens_from_rows(rows, meta)


def _lists(batch: Batch) -> dict:
    """The batch as a plain dict, every tensor (in the feature and grid dicts too) as nested lists."""
    def plain(v):
        if isinstance(v, torch.Tensor):
            return v.tolist()
        return {k: plain(x) for k, x in v.items()} if isinstance(v, dict) else v

    return {k: plain(v) for k, v in batch.items()}


def _refuse_long_text(text: str, i: int, at_least: int, used: int, limit: int) -> None:
    if used + at_least > limit:
        name = getattr(text, "source", None) or f"contents[{i}]"
        raise ContextLengthError(f"sequence of at least {used + at_least:,} tokens exceeds the context limit of "
                                 f"{limit:,}: {name}, text of {len(text):,} characters, needs at least {at_least:,} "
                                 f"(counted from its UTF-8 bytes, before tokenizing) after {used:,}; split the "
                                 f"text, raise max_length, or pass truncate=True to drop whole segments from there on")
