"""Approximate inversion of log-mel features to a 16 kHz waveform.

Each front end (:mod:`mmtok.audio.frontends`) undoes its own log and pre-emphasis; the two steps they share live
here: the least-squares inverse mel (``torchaudio.transforms.InverseMelScale``'s formula, fed the front end's own
filterbank) and Griffin-Lim (``torchaudio.transforms.GriffinLim``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .frontends import MelPreset

__all__ = ["invert", "mel_to_spectrogram", "griffin_lim"]


def mel_to_spectrogram(mel: torch.Tensor, filterbank: torch.Tensor) -> torch.Tensor:
    """Least-squares inverse mel, as ``InverseMelScale`` computes it (driver gelsd, negatives clipped to 0).

    Args:
        mel: float64 (n_mels, T), linear (the log undone).
        filterbank: (n_freqs, n_mels), the front end's own.

    Returns:
        float64 (n_freqs, T), non-negative.
    """
    fb = filterbank.double()
    return torch.relu(torch.linalg.lstsq(fb.T[None], mel[None], driver="gelsd").solution)[0]


def griffin_lim(magnitude: torch.Tensor, n_fft: int, window: torch.Tensor, hop_length: int,
                iters: int) -> torch.Tensor:
    """Griffin-Lim phase recovery (momentum 0.99, zero initial phase, so the result is deterministic).

    Args:
        magnitude: (n_fft // 2 + 1, T) magnitude spectrogram.
        window: [win_length] the analysis window of the front end.

    Returns:
        float32 [S] waveform.
    """
    import torchaudio.transforms as AT

    gl = AT.GriffinLim(n_fft=n_fft, win_length=len(window), hop_length=hop_length, window_fn=lambda _: window,
                       power=1.0, n_iter=iters, momentum=0.99, rand_init=False)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return gl(magnitude.float())


def invert(features: torch.Tensor, preset: MelPreset, num_samples: int, iters: int = 32) -> torch.Tensor:
    """float32 [T, n_mels] -> float32 [num_samples] waveform at 16 kHz (approximate; cut or zero-filled to
    ``num_samples``)."""
    wave = preset.invert(features, iters)
    out = torch.zeros(num_samples)
    n = min(num_samples, len(wave))
    out[:n] = wave[:n]
    return out
