"""Gemma 3n: images and audio, the same counts, prompt text and tensors as transformers' ``Gemma3nProcessor``.

Images: transformers 5.23 builds Gemma 3n's image processor as ``SiglipImageProcessor`` (the published config names
``SiglipImageProcessorFast``; ``AutoImageProcessor`` maps it to the torchvision backend by default). The picture is
squashed to ``image_size x image_size`` with torchvision's bilinear filter with antialias on the uint8 picture and
rescaled to [0, 1] (``x * (1/255)``; the published config turns normalization off). Every picture is
``image_seq_length`` soft tokens, written ``"\\n\\n<start_of_image>"`` + that many ``<image_soft_token>`` +
``"<end_of_image>\\n\\n"`` in place of the ``<image_soft_token>`` a user writes for it.

Audio: ``Gemma3nAudioFeatureExtractor`` with its defaults (the published config repeats them): 16 kHz mono, each
clip cut to its first ``max_samples`` = 480000 samples (30 s; ``max_length=480000, truncation=True``), the batch
padded with zeros to its longest clip rounded up to a multiple of 128 samples, then log-mel frames: 513-sample
windows every 160 samples, HTK pre-emphasis 0.97 inside each frame, periodic Hann of 512, 1024-point FFT magnitude,
128 HTK mel bins 125..7600 Hz (no norm), natural log floored at 1e-5. ``input_features_mask`` is the sample mask
read every 160 samples. Every clip, however long or short, is ``audio_seq_length`` soft tokens, written
``"\\n\\n<start_of_audio>"`` + that many ``<audio_soft_token>`` + ``"<end_of_audio>\\n\\n"`` in place of the
``<audio_soft_token>`` a user writes for it.

**Clips over 30 s are cut**, as the feature extractor cuts them (what follows the first 30 s never reaches the
model, and the count stays 188): mmtok reproduces the cut (``hf_inputs`` equals the processor) and makes it
visible twice: ``ModelProcessor.notes`` lists each clip ``hf_inputs`` cut, and the family's ``audio_info(piece)``
(:class:`AudioWindow`: tokens, samples, kept_samples, ``truncated``, ``dropped_seconds``) says it for one clip before
any feature is computed, as ``gemma-4``'s does. Nothing is raised for it. ``num_tokens`` of a clip does not read the
audio (the count does not depend on it).

Preprocessing values: ``google/gemma-3n-E4B-it`` ``preprocessor_config.json`` (image: ``size: {height: 768,
width: 768}``, ``resample: 2`` (bilinear), ``rescale_factor: 1/255``, ``do_normalize: false``; audio:
``feature_size: 128``, ``sampling_rate: 16000``, ``frame_length: 512``, ``hop_length: 160``, ``fft_length: 1024``,
``min_frequency: 125.0``, ``max_frequency: 7600.0``, ``preemphasis: 0.97``, ``preemphasis_htk_flavor: true``,
``mel_floor: 1e-05``, ``dither: 0.0``, ``per_bin_mean/stddev: null``) and ``processor_config.json``
(``audio_seq_length: 188``, ``image_seq_length: 256``). Nothing is downloaded here: the image values are read from a
copy of the checkpoint's preprocessor config quoted in a public test fixture (``SiglipImageProcessorFast``,
``do_normalize: false``, ``resample: 2``, 768x768), ``audio_seq_length: 188`` from a quoted ``processor_config.json``
(``Gemma3nProcessor``); the audio values found quoted (keras-hub's Gemma 3n audio converter test) are the
extractor's class defaults, which mmtok uses. transformers agrees: ``Gemma3nProcessor`` defaults 188 / 256,
``Gemma3nConfig`` ``audio_soft_tokens_per_image=188``, ``vision_soft_tokens_per_image=256``, and its gemma3n docs
("MobileNet v5 ... a default resolution of 768x768 pixels").

Refused (``InputError`` naming the model): video (Gemma3nProcessor reads text, images and audio), VQ codes.

Exactness (``tests/test_models_gemma.py``, against the transformers classes built with the values above):
``pixel_values`` equal (max abs difference measured 0.0) on the bundled photos given the same decoded picture;
``input_features`` and ``input_features_mask`` equal (0.0: the same numpy operations in the same order) given the
same 16 kHz waveform, which mmtok decodes with :func:`mmtok.media.audioio.stream_audio` (the bundled speech and
music, and clips of 0.01 s to 10 min, several per prompt); counts, ``input_ids``, ``attention_mask`` and
``token_type_ids`` (1 on image, 3 on audio soft tokens) equal. ``fast=True`` decodes a JPEG at the smallest DCT
scale covering 768x768, a progressive one without its refinement scans (:mod:`mmtok.media.jpeg_scans`,
``drop="all"``): on the bundled 5312x2988 JPEG (1/2 scale) pixel values differ by at most 0.039 (mean 0.0018) on
the [0, 1] scale; over the 16 photos of ``benchmarks/bench_models.py`` (0.27 to 15.9 MP) by at most 0.200 (largest
mean 0.0080).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, InputError
from ..media.audioio import stream_audio
from ..media.contents import Audio
from .base import ModelSpec, Piece, TextIds, load_picture, refusal, register_model, size_only, writes_no_codes
from .gemma import AROUND, BOI, EOI, IMAGE, RESCALE, Parts, image_parts, picture_size, resize_square, segment_count
from .pixels import normalized
from .probe import audio_samples

__all__ = ["Gemma3nConfig", "Gemma3nProcessor", "GEMMA_3N", "AudioWindow", "audio_features", "kept_samples"]

BOA, EOA, AUDIO = "<start_of_audio>", "<end_of_audio>", "<audio_soft_token>"
SPECIALS = (BOI, EOI, IMAGE, BOA, EOA, AUDIO)
_LONG = 1e9  # seconds: stream_audio's max_duration; the processor takes any length and keeps the first 30 s


@dataclass(frozen=True)
class Gemma3nConfig:
    """Gemma 3n's image and audio preprocessing (the module docstring gives each value's source)."""

    name: str
    checkpoint: str
    image_size: int = 768  # size {height, width}: every picture is squashed to this square
    image_seq_length: int = 256  # soft tokens per picture
    audio_seq_length: int = 188  # soft tokens per clip, whatever its length
    sampling_rate: int = 16_000  # Hz
    max_samples: int = 480_000  # the feature extractor's max_length: a clip is cut to its first 30 s
    pad_to_multiple_of: int = 128  # the batch is padded to a multiple of this many samples
    n_mels: int = 128  # feature_size
    frame_length: int = 512  # samples per window after pre-emphasis (32 ms); frames read frame_length + 1
    hop_length: int = 160  # samples between frames (10 ms)
    fft_length: int = 1024  # 2 ** ceil(log2(frame_length)), doubled by fft_overdrive
    min_frequency: float = 125.0  # Hz
    max_frequency: float = 7600.0  # Hz
    preemphasis: float = 0.97  # HTK flavour: inside each frame, the first sample scaled by 1 - 0.97
    mel_floor: float = 1e-5  # log(max(mel, floor))

    def __post_init__(self) -> None:
        for field in ("image_size", "image_seq_length", "audio_seq_length", "sampling_rate", "max_samples",
                      "pad_to_multiple_of", "n_mels", "frame_length", "hop_length", "fft_length"):
            v = getattr(self, field)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{self.name}: {field} must be a positive int, got {v!r}")
        if self.fft_length < self.frame_length:
            raise ConfigError(f"{self.name}: fft_length {self.fft_length} is below frame_length {self.frame_length}")
        if not 0 <= self.min_frequency < self.max_frequency <= self.sampling_rate / 2:
            raise ConfigError(f"{self.name}: need 0 <= min_frequency < max_frequency <= {self.sampling_rate / 2} Hz")


GEMMA_3N = Gemma3nConfig("gemma-3n", "google/gemma-3n-E4B-it")


def kept_samples(cfg: Gemma3nConfig, n_samples: int) -> int:
    """Samples of a clip of ``n_samples`` (at 16 kHz) the model hears: the first ``max_samples`` (30 s)."""
    return min(n_samples, cfg.max_samples)


@dataclass(frozen=True)
class AudioWindow:
    """How Gemma 3n's processor reads a clip of ``samples`` samples at 16 kHz."""

    tokens: int  # the <audio_soft_token> it writes: audio_seq_length, whatever the length
    samples: int  # of the clip at 16 kHz (mmtok's decoding and resampling)
    kept_samples: int  # what the feature extractor keeps: min(samples, max_samples)

    @property
    def truncated(self) -> bool:
        """True when the extractor drops the audio after 30 s."""
        return self.samples > self.kept_samples

    @property
    def dropped_seconds(self) -> float:
        return (self.samples - self.kept_samples) / GEMMA_3N.sampling_rate


@cache
def _mel_filters(cfg: Gemma3nConfig) -> np.ndarray:
    """float64 [fft_length // 2 + 1, n_mels]: HTK triangles, no norm; ``create_fb_matrix`` of transformers'
    Gemma 3n feature extractor, operation for operation (float32 bin frequencies, float64 mel points)."""
    all_freqs = np.arange(cfg.fft_length // 2 + 1, dtype=np.float32) * (cfg.sampling_rate / cfg.fft_length)
    m_min = 2595.0 * math.log10(1.0 + (cfg.min_frequency / 700.0))
    m_max = 2595.0 * math.log10(1.0 + (cfg.max_frequency / 700.0))
    f_pts = 700.0 * (10 ** (np.linspace(m_min, m_max, cfg.n_mels + 2) / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = np.expand_dims(f_pts, 0) - np.expand_dims(all_freqs, 1)  # (n_freqs, n_mels + 2)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(np.zeros(1, dtype=np.float32), np.minimum(down, up))


@cache
def _window(cfg: Gemma3nConfig) -> np.ndarray:
    """float32 [frame_length]: the periodic Hann window, computed as the extractor computes it."""
    arange = np.arange(cfg.frame_length, dtype=np.float32)
    return (0.5 * (1 - np.cos(2 * np.pi * arange / cfg.frame_length))).astype(np.float32)


def _log_mel(cfg: Gemma3nConfig, wave: np.ndarray) -> np.ndarray:
    """float32 [n] -> float32 [frames, n_mels], frames = (n - frame_length - 1) // hop_length + 1 (0 when
    shorter): the extractor's ``_extract_spectrogram`` in the same numpy operations."""
    size = cfg.frame_length + 1
    n_frames = (len(wave) - size) // cfg.hop_length + 1
    if n_frames <= 0:
        return np.zeros((0, cfg.n_mels), dtype=np.float32)
    step = wave.strides[0]
    frames = np.lib.stride_tricks.as_strided(wave, shape=(1, n_frames, size),  # a batch of one, as there
                                             strides=(step * len(wave), step * cfg.hop_length, step))
    first = frames[..., :1] * (1.0 - cfg.preemphasis)
    rest = frames[..., 1:-1] - cfg.preemphasis * frames[..., :-2]
    windowed = np.concatenate([first, rest], axis=-1) * _window(cfg)  # (1, frames, frame_length)
    magnitude = np.abs(np.fft.rfft(windowed, n=cfg.fft_length, axis=-1))  # (1, frames, fft_length // 2 + 1)
    mel = np.matmul(magnitude, _mel_filters(cfg))  # float64 (1, frames, n_mels)
    return np.log(np.maximum(mel, np.array(cfg.mel_floor, dtype=np.float64)))[0].astype(np.float32)


def audio_features(cfg: Gemma3nConfig, waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_features`` float32 [clips, T, n_mels] and ``input_features_mask`` bool [clips, T] of 16 kHz mono
    float32 clips, as ``Gemma3nAudioFeatureExtractor`` returns them for the list: each clip cut to
    :func:`kept_samples`, all zero-padded to the longest rounded up to ``pad_to_multiple_of`` samples
    (N samples), T = (N - frame_length - 1) // hop_length + 1 frames; the mask is True on frames that start
    inside the clip."""
    kept = [np.asarray(w, dtype=np.float32)[:cfg.max_samples] for w in waves]
    m = cfg.pad_to_multiple_of
    n = -(-max(len(w) for w in kept) // m) * m
    feats, masks = [], []
    for w in kept:
        padded = np.zeros(n, dtype=np.float32)
        padded[:len(w)] = w
        f = _log_mel(cfg, padded)
        feats.append(f)
        masks.append((np.arange(0, n, cfg.hop_length) < len(w))[:len(f)])
    return torch.from_numpy(np.stack(feats)), torch.from_numpy(np.stack(masks))


class Gemma3nProcessor:
    """The image and audio paths of Gemma 3n behind :class:`~mmtok.models.ModelProcessor`."""

    def __init__(self, cfg: Gemma3nConfig, tokenizer: Any = None, fast: bool = False) -> None:
        self.cfg, self.fast = cfg, fast
        self.text = TextIds(tokenizer, SPECIALS)
        self.notes: list[str] = []  # what the last hf_inputs call cut (ModelProcessor.notes)

    def _refusal(self, piece: Piece) -> InputError:
        if piece.kind == "codes":
            return writes_no_codes(self.cfg.name)
        return refusal(self.cfg.name, piece.kind, "Gemma3nProcessor reads text, images and audio",
                       "give its frames as images and its sound as mmtok.Audio")

    def _parts(self, kind: str) -> Parts:
        if kind == "audio":
            seq = self.cfg.audio_seq_length
            return [("text", AROUND), ("special", BOA), *[("special", AUDIO)] * seq, ("special", EOA),
                    ("text", AROUND)]
        return image_parts(1, self.cfg.image_seq_length)

    def num_tokens(self, piece: Piece) -> int:
        """Image: 256 ``<image_soft_token>``; audio: 188 ``<audio_soft_token>`` whatever its length (the audio is
        not read; a clip over 30 s is cut, see the module docstring); text: its tokens."""
        if piece.kind == "text":
            return self.text.count(piece.value)
        if piece.kind == "audio":
            return self.cfg.audio_seq_length
        if piece.kind in ("image", "size"):
            picture_size(piece)  # read the header: an unreadable picture fails here, as in hf_inputs
            return self.cfg.image_seq_length
        raise self._refusal(piece)

    def segment_length(self, piece: Piece) -> int:
        """The count plus the begin/end markers and the ``"\\n\\n"`` text around them, counted on its own."""
        n = self.num_tokens(piece)
        return n if piece.kind == "text" else segment_count(self.text, self._parts(piece.kind))

    def audio_info(self, piece: Piece) -> AudioWindow:
        """:class:`AudioWindow` of an audio piece (the clip is decoded to count its samples, cached per file):
        whether the feature extractor cuts it at 30 s, and how much it drops."""
        if piece.kind != "audio":
            raise InputError(f"{self.cfg.name}: audio_info takes an audio piece (mmtok.Audio), got {piece.kind}")
        n = audio_samples(piece.value.src, piece.value.sample_rate, self.cfg.sampling_rate)
        return AudioWindow(self.cfg.audio_seq_length, n, kept_samples(self.cfg, n))

    def _load_image(self, src: Any) -> torch.Tensor:
        side = self.cfg.image_size
        return load_picture(src, self.fast, lambda w, h: (side, side)).pixels

    def _load_audio(self, content: Audio) -> np.ndarray:
        """float32 [n] mono at 16 kHz, at most max_samples; a longer clip is cut (and noted), as the extractor
        cuts it. A file is decoded only up to the cut."""
        cfg, chunks, n = self.cfg, [], 0
        stream = stream_audio(content.src, target_rate=cfg.sampling_rate, sample_rate=content.sample_rate,
                              max_duration=_LONG, chunk_seconds=cfg.max_samples / cfg.sampling_rate)
        for chunk in stream:
            chunks.append(chunk)
            n += len(chunk)
            if n > cfg.max_samples:
                stream.close()
                break
        wave = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        if len(wave) > cfg.max_samples:
            seconds = cfg.max_samples / cfg.sampling_rate
            self.notes.append(f"{cfg.name}: an audio clip lasts more than {seconds:g} s; Gemma3nAudioFeatureExtractor "
                              f"keeps its first {cfg.max_samples} samples ({seconds:g} s at {cfg.sampling_rate} Hz) "
                              f"and drops the rest (max_length={cfg.max_samples}, truncation=True), and so does "
                              f"mmtok; split the clip to hear all of it")
        return wave[:cfg.max_samples]

    def hf_inputs(self, pieces: list[Piece]) -> dict[str, torch.Tensor]:
        """What ``Gemma3nProcessor`` returns with ``return_tensors="pt"`` for ``text=[prompt], images=[the
        pictures], audio=[the clips as 16 kHz float32 waveforms]``, where ``prompt`` is the pieces in order, each
        picture written as ``<image_soft_token>`` and each clip as ``<audio_soft_token>`` (no chat template):
        ``input_ids``, ``attention_mask`` int64 [1, L]; with pictures ``pixel_values`` float32 [pictures, 3, 768,
        768]; with clips ``input_features`` float32 [clips, T, 128] and ``input_features_mask`` bool [clips, T]
        (:func:`audio_features`); ``token_type_ids`` int64 [1, L] (1 on image, 3 on audio soft tokens). A clip cut
        at 30 s is listed in ``notes``."""
        self.notes = []
        parts: Parts = []
        pictures, clips = [], []
        for piece in pieces:
            if piece.kind == "text":
                parts.append(("text", piece.value))
                continue
            if piece.kind == "size":
                raise size_only(self.cfg.name, piece)
            if piece.kind == "image":
                pictures.append(resize_square(self._load_image(piece.value), self.cfg.image_size))
            elif piece.kind == "audio":
                clips.append(self._load_audio(piece.value))
            else:
                raise self._refusal(piece)
            parts += self._parts(piece.kind)
        input_ids, attention_mask = self.text.encode(parts)
        types = torch.zeros_like(input_ids)
        types[input_ids == self.text.special_ids[IMAGE]] = 1
        types[input_ids == self.text.special_ids[AUDIO]] = 3
        assert int((types == 1).sum()) == len(pictures) * self.cfg.image_seq_length
        assert int((types == 3).sum()) == len(clips) * self.cfg.audio_seq_length
        out = {"input_ids": input_ids, "attention_mask": attention_mask}
        if pictures:
            out["pixel_values"] = normalized(pictures, (), None, RESCALE)  # rescale only (do_normalize: false)
        if clips:
            out["input_features"], out["input_features_mask"] = audio_features(self.cfg, clips)
        out["token_type_ids"] = types
        return out


def _build(cfg: Gemma3nConfig, tokenizer: Any, fast: bool) -> Gemma3nProcessor:
    return Gemma3nProcessor(cfg, tokenizer, fast)


register_model(ModelSpec(GEMMA_3N.name, "gemma3n", GEMMA_3N, _build))
