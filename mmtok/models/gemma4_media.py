"""Gemma 4's audio and video arithmetic: the audio soft-token count (with the processor's 30 s truncation), the
log-mel features of ``Gemma4AudioFeatureExtractor``, and the frames ``Gemma4VideoProcessor`` samples with the
timestamps ``Gemma4Processor`` writes before each frame. Pure functions; :mod:`mmtok.models.gemma4` holds the
config, the image path and the processor that calls these.

Audio (16 kHz mono float32, the rate the extractor assumes): the extractor truncates a waveform to its
``max_length`` of 480000 samples (30 s, ``truncation=True`` by default), pads the batch with zeros to the longest
one rounded up to a multiple of 128 samples, prepends 160 zeros (semicausal padding), cuts frames of 321 samples
every 160 (the last sample dropped: no pre-emphasis), applies a periodic Hann window of 320, takes
``|rfft(n=512)|`` @ an HTK mel bank of 128 filters over 0..8000 Hz (no norm), ``log(x + 0.001)``, and zeroes the
frames that reach past the real samples. A frame ``i`` is real when sample ``160 * i + 160`` exists, so a waveform
of ``S`` samples (after truncation) has ``V = max(0, (S - 161) // 160 + 1)`` real frames, and the processor writes
``ceil(V / 4)`` audio tokens (``replace_audio_token``: the mask subsampled by two stride-2 convolutions): at most
750, reached at 30 s. Under 161 samples (10 ms) that is 0 tokens, markers only.

Video: the processor samples ``num_frames`` (32) frames at indices ``i * F // num_frames`` of the clip's ``F``
frames (``default_sample_indices_fn``) and refuses a clip with fewer than 32 frames; frame ``k`` is announced by its
time ``index / fps`` written ``mm:ss`` (``int(s // 60):02d``, ``int(s % 60):02d``). transformers decodes a clip
with torchcodec (``seek_mode="exact"``): ``F`` is the number of frames a scan finds and ``fps`` their average rate,
``F / (end - start)`` over the presentation span, which is what mmtok's packet index (:mod:`mmtok.video.index`)
gives without decoding a pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..errors import InputError
from ..video.index import ClipIndex

__all__ = ["AudioCount", "audio_count", "log_mel", "VideoPlan", "video_plan", "timestamp", "Clip"]

SAMPLE_RATE = 16_000  # Hz, Gemma4AudioFeatureExtractor.sampling_rate
FRAME_LENGTH = 320  # samples, frame_length_ms 20
HOP_LENGTH = 160  # samples, hop_length_ms 10
FFT_LENGTH = 512  # 2 ** ceil(log2(320)), no fft_overdrive
NUM_MELS = 128  # feature_size
MEL_FLOOR = 1e-3  # added before the log
MAX_SAMPLES = 480_000  # the extractor's max_length: 30 s at 16 kHz, truncated beyond
PAD_MULTIPLE = 128  # pad_to_multiple_of
SUBSAMPLING = 4  # two stride-2 convolutions


@dataclass(frozen=True)
class AudioCount:
    """How Gemma 4's processor reads a waveform of ``samples`` samples at 16 kHz."""

    tokens: int  # the <|audio|> tokens it writes (between <|audio> and <audio|>)
    samples: int  # of the waveform given
    kept_samples: int  # what the feature extractor keeps: min(samples, 480000)
    frames: int  # real mel frames (mask True)

    @property
    def truncated(self) -> bool:
        """True when the processor drops the audio after 30 s (``samples > 480000``)."""
        return self.samples > self.kept_samples

    @property
    def dropped_seconds(self) -> float:
        return (self.samples - self.kept_samples) / SAMPLE_RATE


def audio_count(samples: int) -> AudioCount:
    """THE audio count: tokens of a 16 kHz waveform of ``samples`` samples, truncation included."""
    if not isinstance(samples, int) or samples < 1:
        raise InputError(f"gemma-4: an audio needs at least one sample, got {samples!r}")
    kept = min(samples, MAX_SAMPLES)
    frames = max(0, (kept - FRAME_LENGTH // 2 - 1) // HOP_LENGTH + 1)
    return AudioCount(-(-frames // SUBSAMPLING), samples, kept, frames)


@lru_cache(maxsize=1)
def _mel_bank() -> np.ndarray:
    """float64 [257, 128]: transformers ``mel_filter_bank(norm=None, mel_scale="htk")``, computed the same way."""
    mel = 2595.0 * np.log10(1.0 + np.array([0.0, SAMPLE_RATE / 2]) / 700.0)
    filter_freqs = 700.0 * (np.power(10, np.linspace(mel[0], mel[1], NUM_MELS + 2) / 2595.0) - 1.0)
    fft_freqs = np.linspace(0, SAMPLE_RATE // 2, FFT_LENGTH // 2 + 1)
    diff = np.diff(filter_freqs)
    slopes = filter_freqs[None, :] - fft_freqs[:, None]
    down, up = -slopes[:, :-2] / diff[:-1], slopes[:, 2:] / diff[1:]
    return np.maximum(np.zeros(1), np.minimum(down, up))


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(FRAME_LENGTH + 1)[:-1].astype(np.float32)  # periodic Hann


def log_mel(wave: np.ndarray, padded_length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(input_features, input_features_mask)`` of one 16 kHz waveform, as ``Gemma4AudioFeatureExtractor`` gives
    them in a batch whose longest waveform has ``padded_length`` samples (None: this one alone).

    Args:
        wave: float32 [S], truncated here to 480000 samples as the extractor does.
        padded_length: the batch's longest kept length; rounded up to a multiple of 128.

    Returns:
        float32 [T, 128] log-mel (zero where the mask is False) and bool [T].
    """
    wave = np.asarray(wave, dtype=np.float32)[:MAX_SAMPLES]
    n = len(wave) if padded_length is None else min(padded_length, MAX_SAMPLES)
    n = -(-n // PAD_MULTIPLE) * PAD_MULTIPLE
    pad_left = FRAME_LENGTH // 2
    x = np.zeros((1, pad_left + n), dtype=np.float32)
    x[0, pad_left:pad_left + len(wave)] = wave
    real = np.zeros(pad_left + n, dtype=np.int32)
    real[pad_left:pad_left + len(wave)] = 1
    size = FRAME_LENGTH + 1
    count = max(0, (x.shape[1] - size) // HOP_LENGTH + 1)
    frames = np.lib.stride_tricks.as_strided(x, shape=(1, count, size),
                                             strides=(x.strides[0], x.strides[1] * HOP_LENGTH, x.strides[1]))
    frames = frames[..., :-1] * _window()  # (1, T, 320)
    spec = np.abs(np.fft.rfft(frames, n=FFT_LENGTH, axis=-1))
    feats = np.log(np.matmul(spec, _mel_bank()) + np.array(MEL_FLOOR, dtype=np.float64))[0].astype(np.float32)
    mask = real[np.arange(count) * HOP_LENGTH + size - 1].astype(bool)
    return feats * mask[..., None], mask


@dataclass(frozen=True)
class VideoPlan:
    """The frames Gemma 4's processor takes from a clip, known from its packet index alone."""

    total_frames: int  # F: frames in the clip
    fps: float  # F / duration of the presentation span
    indices: np.ndarray  # int64 [N] presentation index of each sampled frame
    height: int
    width: int

    @property
    def timestamps(self) -> list[float]:
        """Seconds of each sampled frame as the processor computes them (index / fps)."""
        return [int(i) / self.fps for i in self.indices]

    @property
    def labels(self) -> list[str]:
        """The ``mm:ss`` text written before each frame."""
        return [timestamp(s) for s in self.timestamps]


def timestamp(seconds: float) -> str:
    """``mm:ss`` as ``Gemma4Processor.replace_video_token`` writes it."""
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def video_plan(idx: ClipIndex, num_frames: int, model: str) -> VideoPlan:
    """The processor's frame choice for a clip with index ``idx``; fewer frames than ``num_frames`` is refused, as
    ``default_sample_indices_fn`` refuses it."""
    total = len(idx.pts)
    if total < num_frames:
        raise InputError(f"{model} samples {num_frames} frames per clip and refuses a clip of {total} frames (the "
                         f"video processor's rule: num_frames may not exceed the clip's frames); give a longer clip "
                         f"or its frames as images")
    duration = idx.duration
    fps = total / duration if duration > 0 else math.nan
    indices = np.arange(num_frames, dtype=np.int64) * total // num_frames
    return VideoPlan(total, fps, indices, idx.height, idx.width)


class Clip:
    """A clip as Gemma 4's processor takes it: ``plan`` from the packet index (nothing decoded), ``frames()`` the
    sampled frames decoded by :class:`mmtok.video.frames.FrameDecoder` (display rotation applied)."""

    def __init__(self, src, num_frames: int, model: str) -> None:
        from ..media.container import source_name
        from ..video.frames import FrameDecoder
        from ..video.tokenizer import VideoConfig

        self._decoder = FrameDecoder(src, source_name(src), VideoConfig(num_frames=num_frames))
        self.plan = video_plan(self._decoder.index, num_frames, model)
        # the processor's picks replace the decoder's own sampling rule before anything is decoded
        self._decoder.pick(self.plan.indices)

    def frames(self) -> torch.Tensor:
        """uint8 [N, 3, H, W], the sampled frames in order."""
        return torch.from_numpy(np.stack(list(self._decoder))).permute(0, 3, 1, 2).contiguous()

