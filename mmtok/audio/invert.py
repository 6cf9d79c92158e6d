"""Approximate inversion of log-mel features to a 16 kHz waveform: undo the log, least-squares inverse mel
(``torchaudio.transforms.InverseMelScale``, with Kaldi's own filterbank for the Kaldi preset), Griffin-Lim
(``torchaudio.transforms.GriffinLim``), and undo the pre-emphasis where the preset has one
(``torchaudio.functional.deemphasis``)."""

from __future__ import annotations

import torch

from .presets import HOP_LENGTH, SAMPLE_RATE, MelPreset

__all__ = ["invert"]


def invert(features: torch.Tensor, preset: MelPreset, num_samples: int, iters: int = 32) -> torch.Tensor:
    """float32 [T, n_mels] -> float32 [num_samples] waveform at 16 kHz (approximate)."""
    import torchaudio.functional as AF
    import torchaudio.transforms as AT

    mel = features.T.double()  # (n_mels, T)
    n_stft = preset.n_fft // 2 + 1
    if preset.kind == "whisper":
        power, win, window = 2.0, preset.n_fft, torch.hann_window
        mel = torch.pow(10.0, mel * 4.0 - 4.0)
        inverse = AT.InverseMelScale(n_stft, preset.n_mels, SAMPLE_RATE, 0.0, 8000.0, norm="slaney",
                                     mel_scale="slaney", driver="gelsd")
    elif preset.kind == "usm":
        power, win, window = 1.0, 512, torch.hann_window
        mel = torch.exp(mel)
        inverse = AT.InverseMelScale(n_stft, preset.n_mels, SAMPLE_RATE, preset.f_min, preset.f_max, norm=None,
                                     mel_scale="htk", driver="gelsd")
    else:
        import torchaudio.compliance.kaldi as kaldi

        power, win = 2.0, preset.window
        window = lambda n, **kw: torch.hann_window(n, periodic=False, **kw).pow(0.85)  # noqa: E731 (Povey)
        mel = torch.exp(mel) / 32768.0 ** 2
        inverse = AT.InverseMelScale(n_stft, preset.n_mels, SAMPLE_RATE, driver="gelsd")
        banks, _ = kaldi.get_mel_banks(preset.n_mels, preset.n_fft, float(SAMPLE_RATE), preset.f_min, 0.0, 100.0,
                                       -500.0, 1.0)
        inverse.fb = torch.nn.functional.pad(banks, (0, 1)).T  # Kaldi's own banks; the Nyquist bin gets no weight
    inverse = inverse.double()
    spec = inverse(mel)  # (n_freqs, T), non-negative
    magnitude = spec.pow(1.0 / power) if power != 1.0 else spec
    n_fft = preset.n_fft
    gl = AT.GriffinLim(n_fft=n_fft, win_length=win, hop_length=HOP_LENGTH, window_fn=window, power=1.0, n_iter=iters,
                       momentum=0.99, rand_init=False)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        wave = gl(magnitude.float())
    if preset.kind != "whisper":
        wave = AF.deemphasis(wave[None], 0.97)[0]
    out = torch.zeros(num_samples)
    n = min(num_samples, len(wave))
    out[:n] = wave[:n]
    return out
