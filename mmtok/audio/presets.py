"""Audio feature presets (one small registry) and THE audio token-count formula.

Every preset reads 16 kHz mono audio and makes 100 feature frames per second (10 ms hop); a token stacks
``AudioConfig.stack`` consecutive frames (4 by default -> 25 tokens/s), the last token padded (recorded).

| preset | front end | frames for L samples |
|---|---|---|
| ``whisper-80`` / ``whisper-128`` | OpenAI Whisper: 400-point periodic Hann STFT, centred with reflect padding, power, Slaney mel (0-8 kHz, Slaney norm), log10 floored at 1e-10, clamped to (clip max - 8), then (x + 4) / 4 | L // 160 |
| ``usm-128`` | Gemma 3n / USM: 32 ms (512-sample) periodic Hann window, 1024-point FFT, HTK pre-emphasis 0.97 inside each frame, magnitude, HTK mel 125-7600 Hz (no norm), natural log floored at 1e-5 | (L - 513) // 160 + 1 |
| ``kaldi-fbank-80`` | ``torchaudio.compliance.kaldi.fbank``: 25 ms Povey window, 10 ms shift, pre-emphasis 0.97, DC removal, 80 bins from 20 Hz, log, input scaled to the int16 range | (L - 400) // 160 + 1 |

Token rates used by budget presets elsewhere: Gemini API 32 tokens/s, Gemma 3n 6.25 tokens/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["SAMPLE_RATE", "HOP_LENGTH", "MelPreset", "AudioConfig", "PRESETS", "register_preset", "num_frames",
           "num_tokens", "min_samples"]

SAMPLE_RATE = 16_000
HOP_LENGTH = 160  # 10 ms
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH
assert FRAMES_PER_SECOND * HOP_LENGTH == SAMPLE_RATE


@dataclass(frozen=True)
class MelPreset:
    """One front end. ``kind`` picks the formula; ``window`` is the samples one frame reads."""

    name: str
    kind: str  # "whisper" | "usm" | "kaldi"
    n_mels: int
    window: int  # samples read per frame
    n_fft: int
    f_min: float
    f_max: float
    source: str  # where the numbers come from

    @property
    def left_pad(self) -> int:
        """Samples of reflect padding before the first frame (Whisper's centred STFT), else 0."""
        return self.n_fft // 2 if self.kind == "whisper" else 0


PRESETS: dict[str, MelPreset] = {}


def register_preset(preset: MelPreset) -> MelPreset:
    if preset.name in PRESETS:
        raise ConfigError(f"audio preset {preset.name!r} is already registered")
    if preset.kind not in ("whisper", "usm", "kaldi"):
        raise ConfigError(f"audio preset kind {preset.kind!r} is not one of whisper, usm, kaldi")
    PRESETS[preset.name] = preset
    return preset


for _n in (80, 128):
    register_preset(MelPreset(f"whisper-{_n}", "whisper", _n, 400, 400, 0.0, 8000.0,
                              "openai/whisper whisper/audio.py log_mel_spectrogram"))
register_preset(MelPreset("usm-128", "usm", 128, 513, 1024, 125.0, 7600.0,
                          "transformers Gemma3nAudioFeatureExtractor defaults"))
register_preset(MelPreset("kaldi-fbank-80", "kaldi", 80, 400, 512, 20.0, 8000.0,
                          "torchaudio.compliance.kaldi.fbank defaults, num_mel_bins=80"))


def min_samples(preset: MelPreset) -> int:
    """Fewest 16 kHz samples that give one frame (Whisper's reflect padding needs n_fft/2 + 1)."""
    return preset.n_fft // 2 + 1 if preset.kind == "whisper" else preset.window


def num_frames(n_samples: int, preset: MelPreset) -> int:
    """Feature frames for ``n_samples`` at 16 kHz (0 below :func:`min_samples`)."""
    if n_samples < min_samples(preset):
        return 0
    if preset.kind == "whisper":
        return n_samples // HOP_LENGTH
    return (n_samples - preset.window) // HOP_LENGTH + 1


@dataclass(frozen=True)
class AudioConfig:
    """How audio becomes tokens. Frozen; checked at construction. ``AudioConfig()`` is the default preset."""

    preset: str = "whisper-80"  # a name in PRESETS
    stack: int = 4  # frames per token: 100 frames/s / 4 = 25 tokens/s
    max_duration: float = 4 * 3600.0  # seconds; longer audio raises LimitError (never cut)
    chunk_seconds: float = 30.0  # streaming chunk: memory stays bounded for any length
    griffin_lim_iters: int = 32  # decode(): Griffin-Lim iterations

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown audio preset {self.preset!r}; use one of {sorted(PRESETS)}")
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
