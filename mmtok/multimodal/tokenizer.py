"""One front door: a mixed prompt -> one ``TokenSequence`` and back.

``MultimodalTokenizer.default()`` uses the ``gemini-like`` layout: ``<bos>``, then each piece in order; images as
224x224 ViT patches (196 tokens), clips as 16 frames through that image path, audio through the USM-style
front end (``usm-128``, 25 tokens/s), and images to *write* as VQ codes (1024 per image). Other layouts come from
one registry (:data:`LAYOUTS`).

- Native call: ``tok(["Describe", mmtok.Image("cat.jpg"), "and", mmtok.Audio("a.wav")])`` -> ``TokenSequence``;
  a list of such lists -> a list of sequences (with a progress bar when there are many).
- Hugging Face style: ``tok(text="Describe <image> and <audio>", images=[...], audio=[...],
  return_tensors="pt")`` -> a dict of batch tensors; placeholders and inputs must match in number.
- ``tok.decode(seq)`` -> the contents back: text exactly, patch images as the exact processed picture, code
  images as the VQ reconstruction, clips as frames + timestamps, audio as a (Griffin-Lim) waveform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from einops import rearrange

from ..audio.tokenizer import AudioConfig, AudioTokenizer, AudioTokens
from ..core.batch import collate
from .contents import Audio, DecodedAudio, DecodedImage, DecodedVideo, Image, Video
from ..errors import ConfigError, ContextLengthError, InputError, SequenceError
from ..image.tokenizer import ImageTokenizer, ImageTokens
from ..image.plan import ImageConfig, plan_image
from ..core.sequence import DEFAULT_MAX_LENGTH, Segment, TokenSequence, pack, sequential_positions
from ..text.tokenizer import TextTokenizer
from ..video.tokenizer import VideoConfig, VideoTokenizer
from ..core.vocab import DEFAULT_IMAGE_CODES, Modality

__all__ = ["LayoutPreset", "LAYOUTS", "register_layout", "MultimodalTokenizer"]


@dataclass(frozen=True)
class LayoutPreset:
    """How a prompt is laid out: the config of every modality plus the framing of the sequence."""

    name: str
    image: ImageConfig = field(default_factory=ImageConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    audio: AudioConfig = field(default_factory=lambda: AudioConfig(preset="usm-128"))
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


LAYOUTS: dict[str, LayoutPreset] = {}


def register_layout(layout: LayoutPreset) -> LayoutPreset:
    if layout.name in LAYOUTS:
        raise ConfigError(f"layout {layout.name!r} is already registered")
    LAYOUTS[layout.name] = layout
    return layout


register_layout(LayoutPreset("gemini-like"))
register_layout(LayoutPreset("dynamic", image=ImageConfig(resize="dynamic"),
                             video=VideoConfig(image=ImageConfig(resize="dynamic", max_tokens=256))))
register_layout(LayoutPreset("tiles", image=ImageConfig(resize="tiles")))
register_layout(LayoutPreset("whisper-audio", audio=AudioConfig()))


class MultimodalTokenizer:
    """See the module docstring."""

    def __init__(self, layout: LayoutPreset | str = "gemini-like") -> None:
        if isinstance(layout, str):
            if layout not in LAYOUTS:
                raise ConfigError(f"unknown layout {layout!r}; use one of {sorted(LAYOUTS)}")
            layout = LAYOUTS[layout]
        self.layout = layout
        self.text = TextTokenizer.default()
        self.image = ImageTokenizer(layout.image)
        self.video = VideoTokenizer(layout.video)
        self.audio = AudioTokenizer(layout.audio)
        self.vocab = self.text.vocab(image_codes=DEFAULT_IMAGE_CODES)
        self._vq = None
        self._image_tokenizers: dict[str, ImageTokenizer] = {}

    @classmethod
    def default(cls) -> "MultimodalTokenizer":
        return cls("gemini-like")

    @property
    def vq(self):
        """The VQ tokenizer for ``Image(..., as_="codes")`` (loaded on first use)."""
        if self._vq is None:
            from ..vq.tokenizer import DEFAULT_VQ, VQImageTokenizer

            self._vq = VQImageTokenizer.from_pretrained(DEFAULT_VQ.with_name(f"{self.layout.vq_model}.safetensors"))
            if self._vq.codebook_size > self.vocab.image_codes:
                raise ConfigError(f"the VQ model has {self._vq.codebook_size} codes but the vocabulary reserves "
                                  f"{self.vocab.image_codes}")
        return self._vq

    def vq_num_tokens(self, height: int, width: int) -> int:
        """Codes for ``Image(..., as_="codes")`` of that size (:func:`mmtok.vq.num_codes` of the VQ preset; no
        weights needed)."""
        from ..vq.tokenizer import num_codes
        from ..vq.model import VQ_PRESETS

        return num_codes(VQ_PRESETS[self.layout.vq_model], height, width)

    # --- encoding ---------------------------------------------------------------------------------------
    def segments(self, contents: Sequence[Any], limit: int | None = None) -> list[Segment]:
        """One segment per piece (plus ``<bos>`` when the layout asks for it).

        With ``limit``, a text that cannot fit in what is left of it (by :meth:`TextTokenizer.min_tokens`, a lower
        bound) raises :class:`ContextLengthError` before it is tokenized."""
        if isinstance(contents, (str, Image, Video, Audio)):
            contents = [contents]
        out = []
        if self.layout.bos:
            out.append(Segment(Modality.CONTROL, torch.tensor([self.vocab.bos_id]), sequential_positions(1)))
        used = sum(len(s.input_ids) for s in out)
        for i, piece in enumerate(contents):
            if limit is not None and isinstance(piece, str):
                _refuse_long_text(piece, i, self.text.min_tokens(piece), used, limit)
            seg = self._segment(piece, i)
            segs = seg if isinstance(seg, list) else [seg]
            used += sum(len(s.input_ids) for s in segs)
            out += segs
        return out

    def encode(self, contents: Sequence[Any], truncate: bool = False) -> TokenSequence:
        limit = None if truncate else self.layout.max_length  # truncate=True: pack records what it drops
        return pack(self.segments(contents, limit), self.vocab, self.layout.max_length, truncate=truncate)

    def encode_batch(self, batch: Sequence[Sequence[Any]], truncate: bool = False) -> list[TokenSequence]:
        from tqdm import tqdm

        return [self.encode(c, truncate) for c in tqdm(batch, desc="tokenize", disable=len(batch) < 8, leave=False)]

    def __call__(self, contents: Sequence[Any] | None = None, *, text: str | Sequence[str] | None = None,
                 images: Sequence[Any] = (), videos: Sequence[Any] = (), audio: Sequence[Any] = (),
                 return_tensors: str | None = None, truncate: bool = False):
        """Native: ``tok(contents)``; Hugging Face style: ``tok(text=..., images=..., return_tensors="pt")``."""
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
        texts = [text] if isinstance(text, str) else list(text)
        seqs = self.encode_batch(self._hf_contents(texts, list(images), list(videos), list(audio)), truncate)
        batch = collate(seqs)
        out = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
               "modality_ids": batch["modality"], "positions": batch["positions"],
               "positions_3d": batch["positions_3d"]}
        for label, feats in batch["features"].items():
            out[f"{label}_features"] = feats
        for label, m in (("image", Modality.IMAGE), ("video", Modality.VIDEO)):  # (rows, cols) per picture/frame
            grids = [g for spans in batch["spans"] for s in spans if s.modality == m and "grid" in s.meta
                     for g in [s.meta["grid"]] * s.meta.get("num_frames", 1) * s.meta.get("blocks", 1)]
            out[f"{label}_grids"] = torch.tensor(grids, dtype=torch.int64).reshape(-1, 2)
        if return_tensors is None:
            return {k: v.tolist() for k, v in out.items()}
        if return_tensors != "pt":
            raise InputError(f"return_tensors={return_tensors!r}; mmtok returns PyTorch tensors ('pt') or lists (None)")
        return out

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
        if isinstance(piece, str):  # a TextFile (mmtok.files) also names its file
            return self.text.segment(str(piece), source=getattr(piece, "source", None))
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
            from .interleave import video_with_audio

            return video_with_audio(tokens, self.audio.encode(piece.src), self.vocab, seg.meta)
        if isinstance(piece, Audio):
            return self.audio.segment(self.audio.encode(piece.src, piece.sample_rate), self.vocab)
        raise InputError(f"piece {i} is a {type(piece).__name__}; give str, mmtok.Image, mmtok.Video or mmtok.Audio")

    # --- decoding ---------------------------------------------------------------------------------------
    def decode(self, seq: TokenSequence) -> list:
        """The contents back, one item per piece (``<bos>``/``<eos>`` are skipped; the segments of a clip with
        its sound come back as one :class:`DecodedVideo` with ``audio``)."""
        if seq.vocab != self.vocab:
            raise SequenceError(f"the sequence was made with {seq.vocab}, this tokenizer uses {self.vocab}")
        out: list = []
        clip: dict | None = None  # the clip with sound being regrouped
        for seg in seq.unpack():
            m, part = seg.modality, seg.meta.get("part")
            if part is not None:
                if part == "frame" and seg.meta["first_frame"] == 0:
                    clip = {"frames": [], "timestamps": [], "audio": [], "meta": seg.meta}
                if clip is None:
                    raise SequenceError("a clip's audio or end segment appears without its first frame")
                if part == "frame":
                    tok, tokens = self._image_tokens(seg, seg.features, seg.meta["original_size"])
                    clip["frames"].append(tok.decode(tokens))
                    clip["timestamps"] += seg.meta["timestamps"]
                elif part == "audio":
                    clip["audio"].append(seg)
                else:  # "end"
                    audio = torch.cat([a.features for a in clip["audio"] if a.features is not None])
                    wave = self.audio.decode(self._audio_tokens(audio, clip["audio"][-1].meta))
                    out.append(DecodedVideo(torch.stack(clip["frames"]), clip["timestamps"], wave,
                                            clip["meta"].get("source")))
                    clip = None
                continue
            if m == Modality.CONTROL:
                continue
            if m == Modality.TEXT:
                out.append(self.text.decode(seg.input_ids))
            elif m == Modality.IMAGE:
                tok, tokens = self._image_tokens(seg, seg.features, seg.meta["original_size"])
                out.append(DecodedImage(tok.decode(tokens), "patches", seg.meta.get("source")))
            elif m == Modality.IMAGE_CODES:
                out.append(DecodedImage(self.vq.decode(self.vq.codes_from_segment(seg, self.vocab)), "codes",
                                        seg.meta.get("source")))
            elif m == Modality.VIDEO:
                n = seg.meta["num_frames"]
                per = len(seg.features) // n
                frames = []
                for k in range(n):
                    tok, tokens = self._image_tokens(seg, seg.features[k * per:(k + 1) * per],
                                                     seg.meta["original_size"])
                    frames.append(tok.decode(tokens))
                out.append(DecodedVideo(torch.stack(frames), seg.meta["timestamps"], None, seg.meta.get("source")))
            elif m == Modality.AUDIO:
                wave = self.audio.decode(self._audio_tokens(seg.features, seg.meta))
                out.append(DecodedAudio(wave, 16_000, seg.meta.get("source")))
        if clip is not None:
            raise SequenceError("a clip with sound is missing its <end_of_video> segment")
        return out

    def _image_tokens(self, seg: Segment, patches: torch.Tensor, original: list[int]):
        cfg = ImageConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in seg.meta["image_config"].items()})
        key = repr(cfg)
        if key not in self._image_tokenizers:
            self._image_tokenizers[key] = ImageTokenizer(cfg)
        plan = plan_image(original[0], original[1], cfg)
        tokens = ImageTokens(patches, plan.block, plan.num_blocks, plan.views[-1].canvas, plan.original, plan,
                             seg.meta.get("source") or "")
        return self._image_tokenizers[key], tokens

    def _audio_tokens(self, tokens: torch.Tensor, meta: dict) -> AudioTokens:
        if meta["preset"] != self.audio.config.preset:
            raise SequenceError(f"audio span made with {meta['preset']}, this tokenizer uses "
                                f"{self.audio.config.preset}")
        frames = rearrange(tokens, "n (k m) -> (n k) m", k=meta["stack"])
        feats = frames[: len(frames) - meta["padded_frames"]]
        n_samples = round(meta["duration"] * 16_000)
        return AudioTokens(feats, tokens, torch.zeros(len(tokens), 2), meta["duration"], n_samples,
                           meta["padded_frames"], meta["preset"], meta["stack"], meta.get("source") or "")


def _refuse_long_text(text: str, i: int, at_least: int, used: int, limit: int) -> None:
    if used + at_least > limit:
        name = getattr(text, "source", None) or f"contents[{i}]"
        raise ContextLengthError(f"sequence of at least {used + at_least:,} tokens exceeds the context limit of "
                                 f"{limit:,}: {name}, text of {len(text):,} characters, needs at least {at_least:,} "
                                 f"(counted from its UTF-8 bytes, before tokenizing) after {used:,}; split the "
                                 f"text, raise max_length, or pass truncate=True to drop whole segments from there on")
