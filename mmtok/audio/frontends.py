"""Audio front ends: one small class per log-mel formula (Whisper, USM / Gemma 3n, Kaldi fbank).

A front end owns everything that differs between the formulas, so the streaming code
(:class:`mmtok.audio.tokenizer._MelStream`) and the inversion (:mod:`mmtok.audio.invert`) never ask which one
they hold:

- its cached filterbank [n_freqs, n_mels] and analysis window;
- its framing facts: ``min_samples``, ``num_frames(n)``, ``pad`` (reflect padding at each end, for a centred
  STFT) and ``window`` (samples one frame reads); frames start every :data:`HOP_LENGTH` samples;
- ``features(x, k, out, threads)``: k frames of one chunk -> [k, n_mels], written into ``out`` when given, in
  blocks of frames on ``threads`` Python threads (:func:`mmtok.core.threads.map_blocks`) where the formula has
  blocks (Whisper, USM);
- ``finish(features)``: the clip-wide step once the stream ends (Whisper's clamp and (x + 4) / 4);
- ``invert(features, iters)``: features back to an approximate waveform (undo the log, least-squares inverse
  mel, Griffin-Lim, undo the pre-emphasis).

Every front end reads 16 kHz mono audio and makes 100 frames per second.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import torch

from ..core.threads import map_blocks
from ..errors import ConfigError
from .invert import griffin_lim, mel_to_spectrogram

__all__ = ["SAMPLE_RATE", "HOP_LENGTH", "FRAMES_PER_SECOND", "MelPreset", "WhisperMel", "UsmMel", "KaldiFbank"]

SAMPLE_RATE = 16_000  # Hz: every front end reads 16 kHz mono
HOP_LENGTH = 160  # samples between frame starts: 10 ms
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH
assert FRAMES_PER_SECOND * HOP_LENGTH == SAMPLE_RATE

FRAME_BLOCK = 512  # frames per FFT block (Whisper, USM): 0.8 MB of windowed frames, 0.8 MB of spectrum; 600+ frames
# per block took 3.7x as long per frame on this VM (temporaries out of the cache, back as fresh pages; 2026-12-01)
BLOCKS_PER_THREAD = 1  # blocks per Python thread at least (an 8 s clip's two blocks: two threads). Measured on two
# VMs of this machine type: 2026-12-01 09:50, log_mel of 8 s 0.76 ms on two threads against 0.87 on one (idle; 0.97
# against 0.87 beside two busy processes); earlier that day another VM ran two blocks at once each 1.6x slower.
MEL_GROUP = 16  # mels per band of Whisper's filterbank product (8: slower than dense; 16-32: 13-17% less time)
PREEMPHASIS = 0.97  # USM and Kaldi: x[i] - 0.97 x[i - 1] inside each frame
INT16_SCALE = 32768.0  # Kaldi reads samples in the int16 range


@dataclass(frozen=True)
class MelPreset(ABC):
    """One named front end; a subclass holds the formula, the fields hold its numbers (checked at construction)."""

    name: str
    n_mels: int  # mel bins per frame
    window: int  # samples one frame reads
    n_fft: int  # FFT size
    f_min: float  # Hz, lowest mel filter edge
    f_max: float  # Hz, highest mel filter edge
    source: str  # where the numbers come from
    units: ClassVar[str] = ""  # what one feature value is (the unit of roundtrip's mel distances)
    mel_scale: ClassVar[str] = "htk"  # "htk" (2595 log10(1 + f / 700); Kaldi's is the same) or "slaney"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"an audio preset needs a non-empty name, got {self.name!r}")
        for field in ("n_mels", "window", "n_fft"):
            value = getattr(self, field)
            if type(value) is not int or value < 1:
                raise ConfigError(f"audio preset {self.name!r}: {field} must be a positive int, got {value!r}")
        if not 0 <= self.f_min < self.f_max <= SAMPLE_RATE / 2:
            raise ConfigError(f"audio preset {self.name!r}: need 0 <= f_min < f_max <= {SAMPLE_RATE / 2:g} Hz, got "
                              f"f_min={self.f_min!r}, f_max={self.f_max!r}")

    # --- framing -------------------------------------------------------------------------------------------
    @property
    def pad(self) -> int:
        """Samples of reflect padding added at each end of the clip (a centred STFT); 0 for none."""
        return 0

    @property
    def min_samples(self) -> int:
        """Fewest samples that give one frame."""
        return self.window

    def num_frames(self, n_samples: int) -> int:
        """Frames for ``n_samples`` samples (0 below :attr:`min_samples`)."""
        if n_samples < self.min_samples:
            return 0
        return (n_samples - self.window) // HOP_LENGTH + 1

    # --- analysis ------------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def filterbank(self) -> torch.Tensor:
        """The mel filterbank, float32 [n_fft // 2 + 1, n_mels] (a subclass builds it once: ``cached_property``)."""

    @property
    @abstractmethod
    def analysis_window(self) -> torch.Tensor:
        """The window applied to each frame before its FFT, float32 [win_length] (built once, like the filterbank)."""

    @abstractmethod
    def features(self, x: torch.Tensor, k: int, out: torch.Tensor | None = None, threads: int = 1) -> torch.Tensor:
        """k frames read from x (1-D, exactly (k - 1) * HOP_LENGTH + window samples) -> float32 [k, n_mels]: ``out``
        when given (float32 [k, n_mels], contiguous rows), else a new tensor. ``threads``: Python threads for the
        blocks of frames (each on one torch thread); the result does not depend on it."""

    def finish(self, features: torch.Tensor) -> torch.Tensor:
        """The clip-wide step on all the features [T, n_mels] once the stream ends, in place or into a new tensor
        (returned); none by default."""
        return features

    # --- inversion -----------------------------------------------------------------------------------------
    @abstractmethod
    def invert(self, features: torch.Tensor, iters: int) -> torch.Tensor:
        """Features float32 [T, n_mels] -> an approximate waveform float32 [S'] (S' near T * HOP_LENGTH)."""


@dataclass(frozen=True)
class WhisperMel(MelPreset):
    """OpenAI Whisper (``whisper/audio.py log_mel_spectrogram``): periodic Hann STFT centred with reflect padding,
    power, Slaney mel, log10 floored at 1e-10, clamped to (clip max - 8), then (x + 4) / 4. The STFT's last frame
    is dropped, as in Whisper: L samples make L // HOP_LENGTH frames."""

    units: ClassVar[str] = "Whisper's (log10 mel power + 4) / 4"
    mel_scale: ClassVar[str] = "slaney"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window != self.n_fft:
            raise ConfigError(f"audio preset {self.name!r}: Whisper frames read n_fft samples; set window = n_fft "
                              f"(got window={self.window}, n_fft={self.n_fft})")

    @property
    def pad(self) -> int:
        return self.n_fft // 2

    @property
    def min_samples(self) -> int:
        return self.pad + 1  # the reflect padding needs one sample more than it copies

    def num_frames(self, n_samples: int) -> int:
        return n_samples // HOP_LENGTH if n_samples >= self.min_samples else 0

    @cached_property
    def filterbank(self) -> torch.Tensor:
        import torchaudio.functional as AF

        return AF.melscale_fbanks(self.n_fft // 2 + 1, self.f_min, self.f_max, self.n_mels, SAMPLE_RATE,
                                  norm="slaney", mel_scale="slaney")

    @cached_property
    def analysis_window(self) -> torch.Tensor:
        return torch.hann_window(self.n_fft)

    @cached_property
    def mel_bands(self) -> tuple[tuple[slice, slice, torch.Tensor], ...]:
        """The filterbank cut into groups of :data:`MEL_GROUP` mels, each with only the bins its filters touch, as
        weights for the squared spectrum with re and im side by side: ((columns of [re^2, im^2, ...], mels,
        weights float32 [columns, mels]), ...). Slaney filters are triangles of a few bins: 391 of 201 x 80
        weights are non-zero."""
        fb2 = self.filterbank.repeat_interleave(2, dim=0)  # (2 n_freqs, n_mels): re^2 and im^2 weigh the same
        bands = []
        for m0 in range(0, self.n_mels, MEL_GROUP):
            mels = slice(m0, min(self.n_mels, m0 + MEL_GROUP))
            rows = (fb2[:, mels] != 0).any(1).nonzero().flatten()
            cols = slice(int(rows.min()), int(rows.max()) + 1) if len(rows) else slice(0, 0)
            bands.append((cols, mels, fb2[cols, mels].contiguous()))
        return tuple(bands)

    def features(self, x: torch.Tensor, k: int, out: torch.Tensor | None = None, threads: int = 1) -> torch.Tensor:
        # Blocks of FRAME_BLOCK frames keep the windowed frames and their spectrum in the core's cache (a 30 s
        # chunk's 4.8 MB temporaries do not fit), each block on whichever thread is free. The power re^2 + im^2
        # is summed by the mel weights themselves: the spectrum squared in place, re and im side by side, times
        # the filterbank's bands (mel_bands). Against the plain formula (power, then the dense product) that is
        # 1-2 float32 roundings apart and took 13-17% less time (2026-12-01).
        frames = x.unfold(0, self.window, HOP_LENGTH)  # (k, window), a view
        out = torch.empty(k, self.n_mels) if out is None else out
        bands = self.mel_bands

        def block(a: int, b: int) -> None:
            spec = torch.view_as_real(torch.fft.rfft(frames[a:b] * self.analysis_window, n=self.n_fft)).flatten(1)
            spec.mul_(spec)  # (b - a, 2 n_freqs): re^2, im^2, re^2, ...
            dst = out[a:b]
            for cols, mels, weights in bands:
                if weights.numel():
                    torch.matmul(spec[:, cols], weights, out=dst[:, mels])
                else:
                    dst[:, mels] = 0.0  # mels above every bin (none in the shipped presets)
            dst.clamp_(min=1e-10).log10_()  # the clip-wide clamp waits for finish()

        map_blocks(block, k, FRAME_BLOCK, threads, BLOCKS_PER_THREAD)
        return out  # (k, n_mels)

    def finish(self, features: torch.Tensor) -> torch.Tensor:
        if not len(features):
            return features
        return features.clamp_(min=features.max() - 8.0).add_(4.0).div_(4.0)  # in place

    def invert(self, features: torch.Tensor, iters: int) -> torch.Tensor:
        power = torch.pow(10.0, features.T.double() * 4.0 - 4.0)  # (n_mels, T); what the clamp cut stays cut
        magnitude = mel_to_spectrogram(power, self.filterbank).pow(0.5)  # (n_freqs, T)
        return griffin_lim(magnitude, self.n_fft, self.analysis_window, HOP_LENGTH, iters)


@dataclass(frozen=True)
class UsmMel(MelPreset):
    """USM / Gemma 3n (transformers ``Gemma3nAudioFeatureExtractor``): frames of ``window`` samples, HTK
    pre-emphasis inside each frame (-> window - 1 samples), periodic Hann, magnitude spectrum, HTK mel without
    norm, natural log floored at 1e-5."""

    units: ClassVar[str] = "natural log of mel magnitude"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window < 2 or self.n_fft < self.window - 1:
            raise ConfigError(f"audio preset {self.name!r}: USM frames read window >= 2 samples and need "
                              f"n_fft >= window - 1 (got window={self.window}, n_fft={self.n_fft})")

    @cached_property
    def filterbank(self) -> torch.Tensor:
        import torchaudio.functional as AF

        return AF.melscale_fbanks(self.n_fft // 2 + 1, self.f_min, self.f_max, self.n_mels, SAMPLE_RATE, norm=None,
                                  mel_scale="htk")

    @cached_property
    def filterbank64(self) -> torch.Tensor:
        """:attr:`filterbank` in float64, for the float64 spectrum."""
        return self.filterbank.double()

    @cached_property
    def analysis_window(self) -> torch.Tensor:
        return torch.hann_window(self.window - 1)  # pre-emphasis leaves window - 1 samples per frame

    def features(self, x: torch.Tensor, k: int, out: torch.Tensor | None = None, threads: int = 1) -> torch.Tensor:
        # The spectrum is taken in float64: quiet bins sit near the 1e-5 floor of a natural log, where float32 FFT
        # round-off (relative to the frame's loudest bins) moved features by up to 1.3e-3 on some CPUs.
        frames = x.unfold(0, self.window, HOP_LENGTH)  # (k, window), a view
        out = torch.empty(k, self.n_mels) if out is None else out

        def block(a: int, b: int) -> None:
            f = frames[a:b]
            pre = torch.cat([f[:, :1] * (1 - PREEMPHASIS), f[:, 1:-1] - PREEMPHASIS * f[:, :-2]], dim=1)
            spec = torch.fft.rfft((pre * self.analysis_window).double(), n=self.n_fft).abs()  # (b - a, n_freqs)
            out[a:b] = torch.clamp(spec @ self.filterbank64, min=1e-5).log_()

        map_blocks(block, k, FRAME_BLOCK, threads, BLOCKS_PER_THREAD)
        return out  # (k, n_mels)

    def invert(self, features: torch.Tensor, iters: int) -> torch.Tensor:
        magnitude = mel_to_spectrogram(torch.exp(features.T.double()), self.filterbank)  # (n_freqs, T)
        wave = griffin_lim(magnitude, self.n_fft, self.analysis_window, HOP_LENGTH, iters)
        return _deemphasis(wave)


@dataclass(frozen=True)
class KaldiFbank(MelPreset):
    """``torchaudio.compliance.kaldi.fbank`` with its defaults (Povey window, pre-emphasis 0.97, DC removal,
    snip_edges, no dither here), ``window`` samples per frame, input scaled to the int16 range, natural log."""

    units: ClassVar[str] = "natural log of mel power (int16 scale)"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_fft != 1 << (self.window - 1).bit_length():
            raise ConfigError(f"audio preset {self.name!r}: Kaldi rounds the FFT up to a power of two; set n_fft = "
                              f"{1 << (self.window - 1).bit_length()} for window={self.window}")

    @cached_property
    def filterbank(self) -> torch.Tensor:
        """Kaldi's own triangular banks (they leave the Nyquist bin unweighted)."""
        import torchaudio.compliance.kaldi as kaldi

        banks, _ = kaldi.get_mel_banks(self.n_mels, self.n_fft, float(SAMPLE_RATE), self.f_min, self.f_max,
                                       100.0, -500.0, 1.0)  # no VTLN warping
        return torch.nn.functional.pad(banks, (0, 1)).T  # (n_fft/2 + 1, n_mels)

    @cached_property
    def analysis_window(self) -> torch.Tensor:
        return torch.hann_window(self.window, periodic=False).pow(0.85)  # Povey

    def features(self, x: torch.Tensor, k: int, out: torch.Tensor | None = None, threads: int = 1) -> torch.Tensor:
        import torchaudio.compliance.kaldi as kaldi

        ms = 1000.0 / SAMPLE_RATE
        f = kaldi.fbank(x[None] * INT16_SCALE, num_mel_bins=self.n_mels, sample_frequency=SAMPLE_RATE,
                        frame_length=self.window * ms, frame_shift=HOP_LENGTH * ms, dither=0.0, snip_edges=True,
                        low_freq=self.f_min, high_freq=self.f_max)  # one call: torchaudio's own framing
        if out is None:
            return f
        out.copy_(f)
        return out

    def invert(self, features: torch.Tensor, iters: int) -> torch.Tensor:
        power = torch.exp(features.T.double()) / INT16_SCALE ** 2  # (n_mels, T)
        magnitude = mel_to_spectrogram(power, self.filterbank).pow(0.5)  # (n_freqs, T)
        wave = griffin_lim(magnitude, self.n_fft, self.analysis_window, HOP_LENGTH, iters)
        return _deemphasis(wave)


def _deemphasis(wave: torch.Tensor) -> torch.Tensor:
    """Undo the pre-emphasis: float32 [S] -> [S]."""
    import torchaudio.functional as AF

    return AF.deemphasis(wave[None], PREEMPHASIS)[0]
