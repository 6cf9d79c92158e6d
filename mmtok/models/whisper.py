"""Whisper: the audio path, the same log-mel windows as transformers' ``WhisperFeatureExtractor``.

transformers 5.23 (``WhisperFeatureExtractor.__call__`` with its defaults, the torch path) pads or cuts a 16 kHz
mono clip to ``chunk_length = 30`` s (480000 samples), takes a centred STFT (``torch.stft``, n_fft 400, hop 160,
periodic Hann, reflect padding), drops the last frame, takes the power through a Slaney mel filterbank built in
float64 and cast to float32, ``log10`` floored at 1e-10, floors each window at (its max - 8) and maps x to
(x + 4) / 4: ``input_features`` float32 [batch, n_mels, 3000]. The encoder reads exactly 3000 frames (it raises on
any other length) and its two convolutions (the second with stride 2) make **1500 encoder positions per window**
(``max_source_positions``).

**Longer audio: one window per 30 s, none dropped.** Called on a whole clip, the extractor keeps the first 30 s
and silently cuts the rest; mmtok does not. A clip of n samples at 16 kHz is cut into ``ceil(n / 480000)``
consecutive 30 s windows (at least one), the last padded with zeros to 30 s, and each window is exactly what the
extractor returns for that slice (``extractor(wave[i * 480000:(i + 1) * 480000])``): the model reads one window
per forward pass. That is THE count rule:

    num_tokens(audio) = ceil(n_samples / 480000) * 1500     (n_samples after decoding to 16 kHz mono)

The count decodes the clip (streamed, memory bounded): the sample count at 16 kHz decides the windows, and a
header's duration can be off by a few samples at a window boundary. ``segment_length`` is the same number: Whisper's encoder input has no marker tokens (the decoder prompt's
``<|startoftranscript|>`` ... tokens belong to the text side). A 0.1 s clip is 1500 positions, 30 s is 1500,
30.0001 s is 3000, 10 min is 30000.

Not the same as ``extractor(wave, truncation=False)`` on a clip over 30 s: that returns one [1, n_mels, n // 160]
array normalized over the whole clip (the "max - 8" floor taken clip-wide) and computed across the window
boundaries, which the encoder cannot read in one pass (transformers' long-form ``generate`` slices it itself, at
seek points that depend on the decoded text). Up to 30 s both calls give the same array, which mmtok equals;
on a 72 s clip made of the bundled sounds the two differ by up to 0.62 on the frames next to each window boundary
and by up to 0.005 elsewhere (the floor taken per window, not clip-wide).

Text pieces are the decoder prompt: ``num_tokens`` counts them with :class:`~mmtok.models.base.TextIds` (no
special tokens); ``hf_inputs`` returns them as ``labels``, as ``WhisperProcessor(audio=..., text=...)`` does: the
tokenizer's own ids (its prefix ``<|startoftranscript|>`` ..., and ``<|endoftext|>``) with a Hugging Face
tokenizer, or mmtok's SentencePiece ids between ``<|startoftranscript|><|notimestamps|>`` and ``<|endoftext|>``
(the prefix of a WhisperTokenizer with no language or task set) without one. Images and video are refused
(:class:`~mmtok.errors.InputError` naming the model).

Preprocessing values: each model's published ``preprocessor_config.json`` (nothing is downloaded here; read from
huggingface.co/openai/whisper-large-v3 (refs/pr/9) for 128 mels, and for 80 mels from copies of openai/whisper-tiny
and -small's, e.g. Mehtap/whisper-tiny and Xenova/whisper-tiny.en): ``feature_size`` 80 (openai/whisper-tiny,
-base, -small, -medium, -large, -large-v2: registered as ``whisper``) or 128 (openai/whisper-large-v3, and
-large-v3-turbo: ``whisper-large-v3``); the rest as the class defaults: ``sampling_rate`` 16000, ``hop_length`` 160,
``n_fft`` 400, ``chunk_length`` 30 (``n_samples`` 480000, ``nb_max_frames`` 3000), ``padding_value`` 0.0,
``padding_side`` right, ``return_attention_mask`` false (so no ``attention_mask`` is returned), no dither, no
normalization. ``max_source_positions`` 1500: the ``WhisperConfig`` default, kept by every Whisper checkpoint.

The filterbank is built as transformers builds it (float64, cast to float32): mmtok's own
:class:`~mmtok.audio.frontends.WhisperMel` uses torchaudio's, which differs from it by up to 6e-8 (80 mels) and
1.6e-7 (128 mels), so it is not reused here.

Exactness (``tests/test_models_whisper.py``, against ``WhisperFeatureExtractor`` built with the values above):
``input_features`` equal (max abs difference measured 0.0) on speech_en.wav, speech_ja.wav, guit_em9.flac and
synthetic clips from 0.1 s to 10 min, window by window, given the same waveform decoded by
:func:`mmtok.media.audioio.stream_audio`; counts over 72 durations (1 sample to 20 windows + 1 sample, both sides of each boundary tested).
``fast=True`` changes nothing here: the audio path has no cheaper decode, so both give the exact tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..core.threads import map_blocks, one_torch_thread
from ..errors import ConfigError, InputError
from ..media.audioio import stream_audio
from .base import ModelSpec, Piece, TextIds, refusal, register_model

__all__ = ["WhisperConfig", "WhisperProcessor", "WHISPER", "WHISPER_LARGE_V3", "SAMPLE_RATE", "WINDOW_SAMPLES",
           "WINDOW_FRAMES", "TOKENS_PER_WINDOW", "num_windows", "num_audio_tokens", "mel_filters", "log_mel_windows",
           "decode_audio"]

SAMPLE_RATE = 16_000  # Hz, the extractor's sampling_rate
HOP_LENGTH = 160  # samples between STFT frames
N_FFT = 400  # STFT size and Hann window length
CHUNK_SECONDS = 30  # the extractor's chunk_length: one encoder pass reads 30 s
WINDOW_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE  # 480000 (n_samples)
WINDOW_FRAMES = WINDOW_SAMPLES // HOP_LENGTH  # 3000 (nb_max_frames): the encoder's input length
ENCODER_STRIDE = 2  # conv2's stride: two mel frames per encoder position
TOKENS_PER_WINDOW = WINDOW_FRAMES // ENCODER_STRIDE  # 1500 (max_source_positions)
assert WINDOW_FRAMES * HOP_LENGTH == WINDOW_SAMPLES and TOKENS_PER_WINDOW * ENCODER_STRIDE == WINDOW_FRAMES
MAX_DURATION = 24 * 3600.0  # seconds; mmtok's decoding limit (LimitError above), the extractor has none
START, NO_TIMESTAMPS, END = "<|startoftranscript|>", "<|notimestamps|>", "<|endoftext|>"
SPECIALS = (START, NO_TIMESTAMPS, END)


@dataclass(frozen=True)
class WhisperConfig:
    """One Whisper model's audio preprocessing (the module docstring gives each value's source)."""

    name: str  # mmtok's name for the model, in messages
    checkpoint: str  # the Hugging Face checkpoint(s) whose preprocessor_config.json the values come from
    n_mels: int  # feature_size: mel bins per frame (80; 128 from large-v3 on)

    def __post_init__(self) -> None:
        if not isinstance(self.n_mels, int) or isinstance(self.n_mels, bool) or self.n_mels < 1:
            raise ConfigError(f"{self.name}: n_mels must be a positive int, got {self.n_mels!r}")


WHISPER = WhisperConfig("whisper", "openai/whisper-small (tiny, base, medium, large, large-v2 alike)", 80)
WHISPER_LARGE_V3 = WhisperConfig("whisper-large-v3", "openai/whisper-large-v3 (large-v3-turbo alike)", 128)


def num_windows(n_samples: int) -> int:
    """30 s windows the model reads for a clip of ``n_samples`` samples at 16 kHz (at least one)."""
    return max(1, -(-n_samples // WINDOW_SAMPLES))


def num_audio_tokens(n_samples: int) -> int:
    """THE count: encoder positions of a clip, ``num_windows(n_samples) * 1500``."""
    return num_windows(n_samples) * TOKENS_PER_WINDOW


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (float64, as transformers' ``hertz_to_mel``)."""
    mels = 3.0 * f / 200.0
    log = f >= 1000.0
    mels[log] = 15.0 + np.log(f[log] / 1000.0) * (27.0 / np.log(6.4))
    return mels


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    f = 200.0 * m / 3.0
    log = m >= 15.0
    f[log] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m[log] - 15.0))
    return f


@lru_cache(maxsize=4)
def mel_filters(n_mels: int) -> torch.Tensor:
    """Slaney-normalized triangular mel filters from 0 to 8 kHz, float32 [n_fft // 2 + 1, n_mels]: computed in
    float64 step for step as transformers' ``mel_filter_bank(norm="slaney", mel_scale="slaney")``, then cast."""
    mel_pts = np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([8000.0]))[0], n_mels + 2)
    hz = _mel_to_hz(mel_pts)
    fft_hz = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    slopes = hz[None, :] - fft_hz[:, None]  # (n_freqs, n_mels + 2)
    diff = np.diff(hz)
    down, up = -slopes[:, :-2] / diff[:-1], slopes[:, 2:] / diff[1:]
    bank = np.maximum(np.zeros(1), np.minimum(down, up))
    bank *= (2.0 / (hz[2:n_mels + 2] - hz[:n_mels]))[None, :]
    return torch.from_numpy(bank).to(torch.float32)


@lru_cache(maxsize=1)
def _hann() -> torch.Tensor:
    return torch.hann_window(N_FFT)


def log_mel_windows(wave: torch.Tensor, n_mels: int) -> torch.Tensor:
    """The model's input for a whole clip: float32 [S] at 16 kHz -> float32 [num_windows(S), n_mels, 3000].

    Window i is samples [i * 480000, (i + 1) * 480000), the last zero-padded, each computed on its own with the
    extractor's operations in the same order (so the float32 results are the same bits). Frames lying wholly in the
    zero padding (most of a short clip's window) are not transformed: their STFT is exactly 0, so their log-mel is
    ``log10(1e-10)`` before the window's floor, which is what they are given.

    A window's frames go in equal blocks of at most :data:`BLOCK_FRAMES` (the STFT of the reflect-padded window,
    as ``torch.stft(center=True)`` pads it, taken block by block: the same bits, tested) on Python threads of one
    torch thread each (:func:`mmtok.core.threads.map_blocks`). With torch's own two threads over the whole window
    (before 2026-12-01 10:30) beside two busy processes every op waited for a core at an OpenMP barrier (an 8 s clip
    took 180 ms against 29 ms in the same run); idle, that took 1.2 ms for 8 s against 2.0 now, and 3.7-7.7 ms for
    a 30 s window against 6.3-6.8 now (two interleaved runs; the whole window on one thread: 6.4-13.1 ms). The
    blocks on the calling thread alone were tried too (bench_models 10:50-11:09): idle no faster (speech 0.57-0.68
    of transformers' time against 0.54-0.83 here), loaded slower (speech_en.wav 1.39-1.48 against 0.24-0.31 here:
    one thread beside two busy processes gets less of the machine than two).
    """
    assert wave.dim() == 1 and wave.dtype == torch.float32, (wave.shape, wave.dtype)
    n = num_windows(len(wave))
    filters = mel_filters(n_mels)
    out = torch.empty(n, n_mels, WINDOW_FRAMES, dtype=torch.float32)
    for i in range(n):
        signal = wave[i * WINDOW_SAMPLES:(i + 1) * WINDOW_SAMPLES]
        frames = _signal_frames(len(signal))  # frames 0 .. frames - 1 see a sample of the signal
        length = min(WINDOW_SAMPLES, frames * HOP_LENGTH + N_FFT)  # zeros after it: reflected, they stay zeros
        window = torch.zeros(1, 1, length, dtype=torch.float32)  # a batch of one, as the extractor
        window[0, 0, :len(signal)] = signal
        padded = F.pad(window, [N_FFT // 2, N_FFT // 2], mode="reflect")[0]  # (1, length + N_FFT)
        kept = min(frames, WINDOW_FRAMES) if length < WINDOW_SAMPLES else WINDOW_FRAMES
        log_spec = torch.full((1, n_mels, WINDOW_FRAMES), _SILENT_LOG, dtype=torch.float32)

        def block(a: int, b: int, padded=padded, log_spec=log_spec) -> None:
            piece = padded[:, a * HOP_LENGTH:(b - 1) * HOP_LENGTH + N_FFT]
            stft = torch.stft(piece, N_FFT, HOP_LENGTH, window=_hann(), center=False, return_complex=True)
            power = (stft.abs() ** 2).contiguous()  # (1, 201, b - a)
            log_spec[..., a:b] = torch.clamp(filters.T @ power, min=1e-10).log10()  # (1, n_mels, b - a)

        map_blocks(block, kept, BLOCK_FRAMES)  # equal blocks: a much smaller one rounds its mel sums differently
        with one_torch_thread():  # the extractor's max(dim=2)[0].max(dim=1)[0] is the same value (a max is
            top = log_spec.amax(dim=(1, 2), keepdim=True)  # exact): one pass without indices, 1.3 -> 0.1 ms
            out[i] = ((torch.maximum(log_spec, top - 8.0) + 4.0) / 4.0)[0]
    return out


def _signal_frames(m: int) -> int:
    """Centred STFT frames to transform in a window whose first ``m`` samples are the signal: the frames touching
    it (frame j spans samples [160 j - 200, 160 j + 200)), and at least ``MIN_FRAMES``."""
    return max(MIN_FRAMES, -(-(m + N_FFT // 2) // HOP_LENGTH))


BLOCK_FRAMES = 512  # frames per block of a window: its STFT and power (0.8 MB each) stay in the core's cache
MIN_FRAMES = 32  # below about 16 frames the mel matmul's float32 sums differ by 1 ulp from the 3000-frame product
_SILENT_LOG = float(torch.clamp(torch.zeros(1), min=1e-10).log10())  # an all-zero frame's log10 mel power


def _chunks(src: Any, sample_rate: int | None) -> Iterator[np.ndarray]:
    return stream_audio(src, target_rate=SAMPLE_RATE, sample_rate=sample_rate, max_duration=MAX_DURATION,
                        chunk_seconds=CHUNK_SECONDS)


def decode_audio(src: Any, sample_rate: int | None = None) -> torch.Tensor:
    """The clip as float32 [S] mono at 16 kHz, decoded by :func:`mmtok.media.audioio.stream_audio` (a file, or a
    waveform with its ``sample_rate``)."""
    return torch.cat([torch.from_numpy(np.asarray(c, dtype=np.float32)) for c in _chunks(src, sample_rate)])


class WhisperProcessor:
    """The audio path of one Whisper model behind :class:`~mmtok.models.ModelProcessor`."""

    def __init__(self, cfg: WhisperConfig, tokenizer: Any = None, fast: bool = False) -> None:
        self.cfg, self.fast = cfg, fast  # fast changes nothing: the audio path is the same either way
        self.text = TextIds(tokenizer, SPECIALS)

    def _refuse(self, piece: Piece) -> InputError:
        what = {"image": "pictures", "size": "pictures", "codes": "VQ codes"}.get(piece.kind, piece.kind)
        return refusal(self.cfg.name, what, "Whisper reads audio and text", "give mmtok.Audio(src) (a video's sound: "
                       "mmtok.Audio(path of the video file)) or text")

    def num_tokens(self, piece: Piece) -> int:
        """Audio: encoder positions, ``ceil(n_samples / 480000) * 1500`` (the module's count rule); text: its
        tokens (no special tokens)."""
        if piece.kind == "text":
            return self.text.count(piece.value)
        if piece.kind != "audio":
            raise self._refuse(piece)
        audio = piece.value
        return num_audio_tokens(sum(len(c) for c in _chunks(audio.src, audio.sample_rate)))

    def segment_length(self, piece: Piece) -> int:
        """The same as :meth:`num_tokens`: the encoder input has no markers around the audio."""
        return self.num_tokens(piece)

    def hf_inputs(self, pieces: list[Piece]) -> dict[str, torch.Tensor]:
        """What ``WhisperProcessor(audio=[each 30 s window of each clip], text=prompt, sampling_rate=16000,
        return_tensors="pt")`` returns, the windows of all audio pieces in order: ``input_features`` float32
        [n_windows, n_mels, 3000]; and, when the prompt has text (its pieces joined), ``labels`` int64 [1, L]. Text
        alone gives what the tokenizer returns: ``input_ids`` and ``attention_mask`` int64 [1, L]."""
        windows, texts = [], []
        for piece in pieces:
            if piece.kind == "text":
                texts.append(piece.value)
            elif piece.kind == "audio":
                wave = decode_audio(piece.value.src, piece.value.sample_rate)
                feats = log_mel_windows(wave, self.cfg.n_mels)
                assert len(feats) * TOKENS_PER_WINDOW == num_audio_tokens(len(wave))
                windows.append(feats)
            else:
                raise self._refuse(piece)
        out: dict[str, torch.Tensor] = {}
        if windows:
            out["input_features"] = windows[0] if len(windows) == 1 else torch.cat(windows)
        if texts:
            text = "".join(texts)
            if self.text.hf is not None:  # the tokenizer adds its own prefix and <|endoftext|>
                parts = [("text", text)]
            else:
                parts = [("special", START), ("special", NO_TIMESTAMPS), ("text", text), ("special", END)]
            input_ids, attention_mask = self.text.encode(parts)
            if not windows:  # text alone: WhisperProcessor returns the tokenizer's output
                return {"input_ids": input_ids, "attention_mask": attention_mask}
            out["labels"] = input_ids
        return out


def _build(cfg: WhisperConfig, tokenizer: Any, fast: bool) -> WhisperProcessor:
    return WhisperProcessor(cfg, tokenizer, fast)


for _cfg in (WHISPER, WHISPER_LARGE_V3):
    register_model(ModelSpec(_cfg.name, "whisper", _cfg, _build))
