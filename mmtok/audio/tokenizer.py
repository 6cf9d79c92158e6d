"""Audio tokens: 16 kHz log-mel features (Whisper, USM / Gemma 3n, Kaldi presets), any length, streamed.

- ``mmtok.log_mel(waveform, preset)``: float [S] at 16 kHz -> float32 [T, n_mels] (a plain function).
- ``AudioTokenizer(AudioConfig(...)).encode(src, sample_rate=None)`` -> :class:`AudioTokens` (features, stacked
  tokens, duration, per-token time spans); ``decode(tokens)`` -> an approximate 16 kHz waveform (inverse mel +
  Griffin-Lim); ``num_tokens(duration_seconds)`` is THE count (``mmtok.audio_presets.num_tokens``).

Features are computed chunk by chunk as the audio decodes (``AudioConfig.chunk_seconds``), so an hour of audio
never exists as one waveform in memory; every frame reads exactly the samples it would read in one pass, so
chunked equals unchunked. Whisper's clip-wide clamp (max - 8) needs the maximum of the whole clip: log10
features are kept as they stream and the clamp and (x + 4) / 4 are applied in place at the end (the features
themselves are the only thing that grows with the length: 32 KB per second at 80 mels).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from einops import rearrange

from .presets import (HOP_LENGTH, PRESETS, SAMPLE_RATE, AudioConfig, MelPreset, min_samples, num_frames,
                            num_tokens)
from ..media.audioio import AudioInfo, AudioSource, stream_audio
from ..errors import ConfigError, InputError
from ..core.sequence import Segment, sequential_positions
from ..core.threads import one_torch_thread
from ..core.vocab import Modality, Vocab

__all__ = ["AudioConfig", "AudioTokenizer", "AudioTokens", "log_mel"]


@functools.lru_cache(maxsize=8)
def _filters(name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(mel filterbank [n_freqs, n_mels], analysis window) for a preset, built once."""
    import torchaudio.functional as AF

    p = PRESETS[name]
    if p.kind == "whisper":
        fb = AF.melscale_fbanks(p.n_fft // 2 + 1, 0.0, 8000.0, p.n_mels, SAMPLE_RATE, norm="slaney", mel_scale="slaney")
        return fb, torch.hann_window(p.n_fft)
    if p.kind == "usm":
        fb = AF.melscale_fbanks(p.n_fft // 2 + 1, p.f_min, p.f_max, p.n_mels, SAMPLE_RATE, norm=None, mel_scale="htk")
        return fb, torch.hann_window(512)
    return torch.empty(0), None  # kaldi: torchaudio.compliance.kaldi builds its own


class _MelStream:
    """Exact streaming framing for one preset: feed 16 kHz chunks, then finish() -> float32 [T, n_mels]."""

    def __init__(self, preset: MelPreset) -> None:
        self.p = preset
        self.fb, self.window = _filters(preset.name)
        self.buf = np.zeros(0, np.float32)  # samples not yet consumed (padded coordinates for Whisper)
        self.head = np.zeros(0, np.float32)  # Whisper: the first samples until the left pad can be made
        self.tail = np.zeros(0, np.float32)  # the last n_fft/2 + 1 real samples (for Whisper's right pad)
        self.n_real = 0
        self.frames = 0
        self.feats = torch.empty(0, preset.n_mels)  # rows [0, frames) are done; grows by doubling

    def feed(self, x: np.ndarray) -> None:
        if not len(x):
            return
        self.n_real += len(x)
        if self.p.kind == "whisper":
            keep = self.p.n_fft // 2 + 1
            self.tail = np.concatenate([self.tail, x[-keep:]])[-keep:]
            if self.head is not None:  # left reflect pad needs the first n_fft/2 + 1 samples
                self.head = np.concatenate([self.head, x])
                if len(self.head) < keep:
                    return
                x, self.head = np.concatenate([self.head[1:keep][::-1], self.head]), None
        self.buf = np.concatenate([self.buf, x]) if len(self.buf) else x
        self._run(limit=None)

    def finish(self) -> torch.Tensor:
        p = self.p
        total = num_frames(self.n_real, p)
        if p.kind == "whisper" and self.n_real >= min_samples(p):
            if self.head is not None:  # never reached the pad size while streaming (cannot happen past min)
                raise AssertionError("unreachable: min_samples guarantees the head was padded")
            self.buf = np.concatenate([self.buf, self.tail[:-1][::-1][:p.n_fft // 2]])
        self._run(limit=total)
        assert self.frames == total, (self.frames, total)
        feats = self.feats[:self.frames]
        if p.kind == "whisper" and len(feats):
            return torch.maximum(feats, feats.max() - 8.0).add_(4.0).div_(4.0)  # a new tensor of the exact size
        return feats.clone() if len(feats) < len(self.feats) else feats

    def _run(self, limit: int | None) -> None:
        p, n = self.p, len(self.buf)
        if n < p.window:
            return
        k = (n - p.window) // HOP_LENGTH + 1
        if limit is not None:  # Whisper: the frame the right pad would add last is dropped, as in whisper
            k = min(k, limit - self.frames)
        if k <= 0:
            return
        x = torch.from_numpy(np.ascontiguousarray(self.buf[: (k - 1) * HOP_LENGTH + p.window]))
        self._keep(_frames_to_features(x, k, p, self.fb, self.window))
        self.buf = self.buf[k * HOP_LENGTH:]

    def _keep(self, f: torch.Tensor) -> None:
        """Append features [k, n_mels] to one buffer that doubles when full. (A list of small kept tensors, each
        allocated among the chunk's large temporaries, fragmented the heap: an hour peaked at 1.2 GB, now 0.78.)"""
        end = self.frames + len(f)
        if end > len(self.feats):
            grown = torch.empty(max(end, 2 * len(self.feats)), self.p.n_mels)
            grown[:self.frames] = self.feats[:self.frames]
            self.feats = grown
        self.feats[self.frames:end] = f
        self.frames = end


def _frames_to_features(x: torch.Tensor, k: int, p: MelPreset, fb: torch.Tensor, window) -> torch.Tensor:
    """k frames read from x (1-D, exactly (k-1)*hop + window samples) -> float32 [k, n_mels]."""
    if p.kind == "kaldi":
        import torchaudio.compliance.kaldi as kaldi

        return kaldi.fbank(x[None] * 32768.0, num_mel_bins=p.n_mels, sample_frequency=SAMPLE_RATE, dither=0.0,
                           snip_edges=True, low_freq=p.f_min)
    frames = x.unfold(0, p.window, HOP_LENGTH)  # (k, window)
    if p.kind == "whisper":
        spec = torch.view_as_real(torch.fft.rfft(frames * window, n=p.n_fft)).pow_(2).sum(-1)  # (k, n_fft/2+1) power
        return (spec @ fb).clamp_(min=1e-10).log10_()
    # usm: HTK-flavoured pre-emphasis inside each 513-sample frame -> 512 samples, magnitude spectrum, natural log.
    # The spectrum is taken in float64: quiet bins sit near the 1e-5 floor of a natural log, where float32 FFT
    # round-off (relative to the frame's loudest bins) moved features by up to 1.3e-3 on some CPUs.
    pre = torch.cat([frames[:, :1] * (1 - 0.97), frames[:, 1:-1] - 0.97 * frames[:, :-2]], dim=1)
    spec = torch.fft.rfft((pre * window).double(), n=p.n_fft).abs()
    return torch.clamp(spec @ fb.double(), min=1e-5).log_().float()


def log_mel(waveform: torch.Tensor | np.ndarray, preset: str = "whisper-80") -> torch.Tensor:
    """Log-mel features of a 16 kHz mono waveform float [S] -> float32 [T, n_mels] (T from the preset's formula).

    The same code path as the streaming tokenizer, fed in one piece, and like it on one torch thread
    (:mod:`mmtok.threads`: two spinning OpenMP workers lost up to 10x when other work held the cores).
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown audio preset {preset!r}; use one of {sorted(PRESETS)}")
    x = torch.as_tensor(waveform)
    if x.dim() != 1 or not x.is_floating_point():
        raise InputError(f"log_mel takes a float waveform [samples] at 16 kHz, got {x.dtype} {tuple(x.shape)}")
    p = PRESETS[preset]
    if len(x) < min_samples(p):
        raise InputError(f"{len(x)} samples are too short for {preset}: it needs at least {min_samples(p)} "
                         f"({min_samples(p) / SAMPLE_RATE * 1000:.1f} ms at 16 kHz)")
    s, x = _MelStream(p), x.float().numpy()
    step = 30 * SAMPLE_RATE  # 30 s pieces keep the FFT buffers in cache; the framing is exact either way
    with one_torch_thread():
        for i in range(0, len(x), step):
            s.feed(x[i:i + step])
        return s.finish()


@dataclass(frozen=True, eq=False)
class AudioTokens:
    """Features and tokens of one audio input."""

    features: torch.Tensor  # float32 [T, n_mels], 100 frames per second
    tokens: torch.Tensor  # float32 [N, stack * n_mels]: frames stacked, the last token padded
    spans: torch.Tensor  # float64 [N, 2] start and end second of each token (the last ends at `duration`)
    duration: float  # seconds of 16 kHz audio (samples / 16000)
    num_samples: int
    padded_frames: int  # frames added to fill the last token (value: the clip's minimum feature, i.e. silence)
    preset: str
    stack: int
    source: str = ""
    source_rate: int = 0
    channels: int = 0
    sample_rate: int = SAMPLE_RATE


class AudioTokenizer:
    """Log-mel tokens for audio; see the module docstring."""

    def __init__(self, config: AudioConfig | None = None) -> None:
        self.config = config or AudioConfig()
        if not isinstance(self.config, AudioConfig):
            raise ConfigError(f"config must be an AudioConfig, got {type(self.config).__name__}")

    def num_tokens(self, duration_seconds: float) -> int:
        """THE audio token count (see :func:`mmtok.audio_presets.num_tokens`)."""
        return num_tokens(duration_seconds, self.config)

    def segment_length(self, duration_seconds: float) -> int:
        """Tokens of the audio segment (:meth:`segment`): <start_of_audio>, the tokens, <end_of_audio>."""
        return self.num_tokens(duration_seconds) + 2

    def encode(self, src: AudioSource, sample_rate: int | None = None) -> AudioTokens:
        cfg = self.config
        info = AudioInfo("")
        stream = _MelStream(cfg.mel)
        with one_torch_thread():
            for chunk in stream_audio(src, sample_rate=sample_rate, max_duration=cfg.max_duration,
                                      chunk_seconds=cfg.chunk_seconds, info=info):
                stream.feed(chunk)
        if info.samples < min_samples(cfg.mel):
            raise InputError(f"{info.source} is too short: {info.samples} samples at 16 kHz "
                             f"({info.samples / SAMPLE_RATE * 1000:.1f} ms); {cfg.preset} needs at least "
                             f"{min_samples(cfg.mel) / SAMPLE_RATE * 1000:.1f} ms")
        feats = stream.finish()
        return _stack(feats, info, cfg)

    def encode_batch(self, srcs, sample_rate: int | None = None) -> list[AudioTokens]:
        return [self.encode(s, sample_rate) for s in srcs]

    def decode(self, tokens: AudioTokens) -> torch.Tensor:
        """An approximate 16 kHz waveform float32 [S]: inverse mel (least squares) + Griffin-Lim.

        Phase is lost and Whisper's clamp drops everything 80 dB below the clip's peak; ``roundtrip`` reports
        the mel distance of the re-analysis.
        """
        from .invert import invert

        return invert(tokens.features, PRESETS[tokens.preset], tokens.num_samples, self.config.griffin_lim_iters)

    def roundtrip(self, tokens: AudioTokens) -> dict:
        """decode(), then the features of the result against the original, in the preset's own units: mean and
        max absolute difference over all frames and over the louder half (frames above the clip's mean level;
        digital silence, floored by the log, dominates the rest)."""
        wave = self.decode(tokens)
        again = log_mel(wave, tokens.preset)
        n = min(len(again), len(tokens.features))
        f = tokens.features[:n]
        diff = (again[:n] - f).abs()
        loud = f.mean(1) >= f.mean()
        return {"waveform": wave, "mel_mean_abs": float(diff.mean()), "mel_max_abs": float(diff.max()),
                "mel_mean_abs_loud": float(diff[loud].mean()), "preset": tokens.preset}

    def segment(self, tokens: AudioTokens, vocab: Vocab, source: str | None = None) -> Segment:
        """<start_of_audio>, one placeholder per token, <end_of_audio>; t (= h = w) counts tokens, i.e. time."""
        ph = vocab.placeholder(Modality.AUDIO)
        n = len(tokens.tokens)
        ids = torch.cat([torch.tensor([vocab.special("<start_of_audio>")]), torch.full((n,), ph),
                         torch.tensor([vocab.special("<end_of_audio>")])])
        meta = {"source": source if source is not None else tokens.source, "preset": tokens.preset,
                "stack": tokens.stack, "duration": tokens.duration, "sample_rate": tokens.sample_rate,
                "tokens_per_second": SAMPLE_RATE / HOP_LENGTH / tokens.stack, "padded_frames": tokens.padded_frames,
                "source_rate": tokens.source_rate, "channels": tokens.channels}
        return Segment(Modality.AUDIO, ids, sequential_positions(n + 2), tokens.tokens, meta)


def _stack(feats: torch.Tensor, info: AudioInfo, cfg: AudioConfig) -> AudioTokens:
    k, t = cfg.stack, len(feats)
    pad = (-t) % k
    padded = torch.cat([feats, feats.min().expand(pad, feats.shape[1])]) if pad else feats
    tokens = rearrange(padded, "(n k) m -> n (k m)", k=k)
    duration = info.samples / SAMPLE_RATE
    edges = torch.arange(len(tokens) + 1, dtype=torch.float64) * (k * HOP_LENGTH) / SAMPLE_RATE
    starts, ends = edges[:-1], torch.minimum(edges[1:], torch.tensor(duration, dtype=torch.float64))
    if len(ends):
        ends[-1] = duration
    assert len(tokens) == num_tokens(duration, cfg), "THE count formula and the features disagree"
    return AudioTokens(feats, tokens, torch.stack([starts, ends], 1), duration, info.samples, pad, cfg.preset, k,
                       info.source, info.source_rate, info.channels)
