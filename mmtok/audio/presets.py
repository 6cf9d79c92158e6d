"""Audio feature presets (one small registry) and THE audio token-count formula.

Every preset reads 16 kHz mono audio and makes 100 feature frames per second (10 ms hop); a token stacks
``AudioConfig.stack`` consecutive frames (4 by default -> 25 tokens/s), the last token padded (recorded).

- ``whisper-80`` / ``whisper-128`` (L // 160 frames for L samples): OpenAI Whisper, a 400-point periodic Hann
  STFT centred with reflect padding, power, Slaney mel (0-8 kHz, Slaney norm), log10 floored at 1e-10, clamped to
  (clip max - 8), then (x + 4) / 4.
- ``usm-128`` ((L - 513) // 160 + 1 frames): Gemma 3n / USM, a 32 ms (512-sample) periodic Hann window,
  1024-point FFT, HTK pre-emphasis 0.97 inside each frame, magnitude, HTK mel 125-7600 Hz (no norm), natural log
  floored at 1e-5.
- ``kaldi-fbank-80`` ((L - 400) // 160 + 1 frames): ``torchaudio.compliance.kaldi.fbank``, a 25 ms Povey window,
  10 ms shift, pre-emphasis 0.97, DC removal, 80 bins from 20 Hz, log, input scaled to the int16 range.

Each preset is a front-end object (:mod:`mmtok.audio.frontends`: ``WhisperMel``, ``UsmMel``, ``KaldiFbank``)
registered by name in ``PRESETS``, a :class:`mmtok.core.registry.Registry`; :func:`register_preset` adds one.

Token rates used by budget presets elsewhere: Gemini API 32 tokens/s, Gemma 3n 6.25 tokens/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.registry import Registry
from ..errors import ConfigError
from .frontends import FRAMES_PER_SECOND, HOP_LENGTH, SAMPLE_RATE, KaldiFbank, MelPreset, UsmMel, WhisperMel

__all__ = ["SAMPLE_RATE", "HOP_LENGTH", "DEFAULT_PRESET", "MelPreset", "AudioConfig", "PRESETS", "register_preset",
           "num_frames", "num_tokens", "min_samples"]

# THE default front end: AudioConfig(), AudioTokenizer(), log_mel() and the default layout (gemini-like) all use it.
# USM's, as Gemma 3n (the open model closest to Gemini's audio input) reads it; Whisper's is "whisper-80".
DEFAULT_PRESET = "usm-128"

PRESETS: Registry[MelPreset] = Registry("audio preset")


def register_preset(preset: MelPreset) -> MelPreset:
    """Add a front end (a :class:`MelPreset` subclass instance) under its name; a name already taken is an error."""
    if not isinstance(preset, MelPreset):
        raise ConfigError(f"an audio preset must be a MelPreset (WhisperMel, UsmMel, KaldiFbank), got "
                          f"{type(preset).__name__}")
    return PRESETS.register(preset.name, preset)


for _n in (80, 128):
    register_preset(WhisperMel(f"whisper-{_n}", _n, window=400, n_fft=400, f_min=0.0, f_max=8000.0,
                               source="openai/whisper whisper/audio.py log_mel_spectrogram"))
register_preset(UsmMel("usm-128", 128, window=513, n_fft=1024, f_min=125.0, f_max=7600.0,
                       source="transformers Gemma3nAudioFeatureExtractor defaults"))
register_preset(KaldiFbank("kaldi-fbank-80", 80, window=400, n_fft=512, f_min=20.0, f_max=8000.0,
                           source="torchaudio.compliance.kaldi.fbank defaults, num_mel_bins=80"))


def min_samples(preset: MelPreset) -> int:
    """Fewest 16 kHz samples that give one frame (Whisper's reflect padding needs n_fft/2 + 1)."""
    return preset.min_samples


def num_frames(n_samples: int, preset: MelPreset) -> int:
    """Feature frames for ``n_samples`` at 16 kHz (0 below :func:`min_samples`)."""
    return preset.num_frames(n_samples)


@dataclass(frozen=True)
class AudioConfig:
    """How audio becomes tokens. Frozen; checked at construction. ``AudioConfig()`` is the default preset
    (:data:`DEFAULT_PRESET`, ``usm-128``: the default layout's too)."""

    preset: str = DEFAULT_PRESET  # a name in PRESETS
    stack: int = 4  # frames per token: 100 frames/s / 4 = 25 tokens/s
    max_duration: float = 4 * 3600.0  # seconds; longer audio raises LimitError (never cut)
    chunk_seconds: float = 30.0  # streaming chunk: memory stays bounded for any length
    griffin_lim_iters: int = 32  # decode(): Griffin-Lim iterations

    def __post_init__(self) -> None:
        PRESETS.get(self.preset)  # an unknown name raises UnknownNameError (a ConfigError) listing the presets
        if type(self.stack) is not int or self.stack < 1:
            raise ConfigError(f"AudioConfig.stack must be a positive int, got {self.stack!r}")
        if not (isinstance(self.max_duration, (int, float)) and self.max_duration > 0):
            raise ConfigError(f"AudioConfig.max_duration must be > 0 seconds, got {self.max_duration!r}")
        if not (isinstance(self.chunk_seconds, (int, float)) and 1 <= self.chunk_seconds <= 600):
            raise ConfigError(f"AudioConfig.chunk_seconds must be within 1..600, got {self.chunk_seconds!r}")
        if type(self.griffin_lim_iters) is not int or self.griffin_lim_iters < 1:
            raise ConfigError(f"AudioConfig.griffin_lim_iters must be a positive int, got {self.griffin_lim_iters!r}")

    @property
    def mel(self) -> MelPreset:
        return PRESETS[self.preset]

    @property
    def tokens_per_second(self) -> float:
        return FRAMES_PER_SECOND / self.stack


def num_tokens(duration_seconds: float, config: AudioConfig) -> int:
    """THE audio token count for ``duration_seconds`` of audio: ceil(frames / stack)."""
    if not (isinstance(duration_seconds, (int, float)) and math.isfinite(duration_seconds) and duration_seconds >= 0):
        raise ConfigError(f"duration must be a finite number of seconds >= 0, got {duration_seconds!r}")
    frames = num_frames(round(duration_seconds * SAMPLE_RATE), config.mel)
    return -(-frames // config.stack)
