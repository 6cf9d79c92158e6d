"""Approximate inversion of log-mel features to a 16 kHz waveform: undo the log, least-squares inverse mel
(``torchaudio.transforms.InverseMelScale``), Griffin-Lim (``torchaudio.transforms.GriffinLim``), and undo the
pre-emphasis where the preset has one (``torchaudio.functional.deemphasis``)."""

from __future__ import annotations

import torch

from .audio_presets import HOP_LENGTH, SAMPLE_RATE, MelPreset

__all__ = ["invert"]


def invert(features: torch.Tensor, preset: MelPreset, num_samples: int, iters: int = 32) -> torch.Tensor:
    """float32 [T, n_mels] -> float32 [num_samples] waveform at 16 kHz (approximate)."""
    import torchaudio.functional as AF
    import torchaudio.transforms as AT

    mel = features.T.double()  # (n_mels, T)
    if preset.kind == "whisper":
        power, n_fft, win, window = 2.0, preset.n_fft, preset.n_fft, torch.hann_window
        mel = torch.pow(10.0, mel * 4.0 - 4.0)
        fb = AF.melscale_fbanks(n_fft // 2 + 1, 0.0, 8000.0, preset.n_mels, SAMPLE_RATE, norm="slaney",
                                mel_scale="slaney").double()
    elif preset.kind == "usm":
        power, n_fft, win, window = 1.0, preset.n_fft, 512, torch.hann_window
        mel = torch.exp(mel)
        fb = AF.melscale_fbanks(n_fft // 2 + 1, preset.f_min, preset.f_max, preset.n_mels, SAMPLE_RATE, norm=None,
                                mel_scale="htk").double()
    else:
        import torchaudio.compliance.kaldi as kaldi

        power, n_fft, win = 2.0, preset.n_fft, preset.window
        window = lambda n, **kw: torch.hann_window(n, periodic=False, **kw).pow(0.85)  # noqa: E731 (Povey)
        mel = torch.exp(mel) / 32768.0 ** 2
        banks, _ = kaldi.get_mel_banks(preset.n_mels, n_fft, float(SAMPLE_RATE), preset.f_min, 0.0, 100.0, -500.0, 1.0)
        fb = torch.nn.functional.pad(banks, (0, 1)).T.double()  # (n_freqs, n_mels), Nyquist bin gets no weight
    # least squares: spec (n_freqs, T) with fb.T @ spec ~= mel, kept non-negative
    spec = torch.linalg.lstsq(fb.T, mel, driver="gelsd").solution.clamp_(min=0)
    magnitude = spec.pow(1.0 / power) if power != 1.0 else spec
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
