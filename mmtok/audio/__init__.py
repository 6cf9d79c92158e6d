"""Audio tokens: 16 kHz log-mel features (Whisper, USM / Gemma 3n, Kaldi front ends), streamed."""

from .frontends import KaldiFbank, UsmMel, WhisperMel
from .presets import DEFAULT_PRESET, PRESETS, SAMPLE_RATE, AudioConfig, MelPreset
from .tokenizer import AudioTokenizer, AudioTokens, log_mel

__all__ = ["DEFAULT_PRESET", "AudioConfig", "AudioTokenizer", "AudioTokens", "log_mel", "PRESETS", "MelPreset", "SAMPLE_RATE",
           "WhisperMel", "UsmMel", "KaldiFbank"]
