"""Audio tokens: 16 kHz log-mel features (Whisper, USM / Gemma 3n, Kaldi presets), any length, streamed.

- ``mmtok.log_mel(waveform, preset)``: float [S] at 16 kHz -> float32 [T, n_mels] (a plain function). The default
  preset everywhere (``log_mel``, ``AudioConfig()``, the default layout) is ``usm-128`` (``DEFAULT_PRESET``).
- ``AudioTokenizer(AudioConfig(...)).encode(src, sample_rate=None)`` -> :class:`AudioTokens` (features, stacked
  tokens, duration, per-token time spans); ``decode(tokens)`` -> an approximate 16 kHz waveform (inverse mel +
  Griffin-Lim); ``num_tokens(duration_seconds)`` is THE count (``mmtok.audio.presets.num_tokens``).

Features are computed chunk by chunk as the audio decodes (``AudioConfig.chunk_seconds``), so an hour of audio
never exists as one waveform in memory; every frame reads exactly the samples it would read in one pass, so
chunked equals unchunked (within float32 rounding: blocks of frames fall differently). The blocks of frames run on
``torch.get_num_threads()`` Python threads (:func:`mmtok.core.threads.map_threads`), torch itself on one. Whisper's clip-wide clamp (max - 8) needs the maximum of the whole clip: log10
features are kept as they stream and the clamp and (x + 4) / 4 are applied in place at the end (the features
themselves are the only thing that grows with the length: 32 KB per second at 80 mels).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from einops import rearrange

from ..core.meta import AudioMeta
from ..core.positions import framed_run
from ..core.protocol import ProvenanceFromTable, empty_provenance, register_segment_tokenizer
from ..core.reprs import short_repr
from ..core.segment import Segment
from ..core.threads import one_torch_thread
from ..core.vocab import Modality, Vocab, default_vocab
from ..errors import ConfigError, InputError, SequenceError
from ..media.audioio import AudioInfo, AudioSource, check_finite, stream_audio
from .frontends import FRAMES_PER_SECOND
from .presets import DEFAULT_PRESET, HOP_LENGTH, PRESETS, SAMPLE_RATE, AudioConfig, MelPreset, num_tokens

__all__ = ["AudioConfig", "AudioTokenizer", "AudioTokens", "log_mel"]

SPARE_FRAMES = FRAMES_PER_SECOND  # rows a reserved feature buffer holds beyond its estimate (32 KB at 80 mels)


class _MelStream:
    """Exact streaming framing for one front end: feed 16 kHz chunks, then finish() -> float32 [T, n_mels].

    The front end says how to frame (``window``, ``pad``, ``num_frames``) and what a frame becomes
    (``features``, ``finish``); the stream only keeps the samples a frame still needs. Features go into one
    buffer, sized up front by :meth:`reserve` when the length is known (a waveform) or promised (a file's header)
    and doubled when it runs out; the clip-wide step works in that buffer, so features are not copied at the end
    unless the buffer was far too large."""

    def __init__(self, preset: MelPreset, threads: int = 1) -> None:
        self.fe = preset
        self.threads = threads  # Python threads for the blocks of frames of one chunk (the front end's features)
        self.buf = np.zeros(0, np.float32)  # samples not yet consumed (padded coordinates when fe.pad)
        self.head = np.zeros(0, np.float32)  # the first samples, until the left reflect pad can be made
        self.tail = np.zeros(0, np.float32)  # the last fe.pad + 1 real samples (for the right reflect pad)
        self.n_real = 0
        self.frames = 0
        self.closed = False  # the last samples came (feed(..., last=True)): every frame is done
        self.feats = torch.empty(0, preset.n_mels)  # rows [0, frames) are done; grows by doubling

    def reserve(self, n_samples: int) -> None:
        """Make room for the frames of ``n_samples`` samples and a second more (an estimate may fall short by a few
        samples), before the first frame; later, or for 0, it does nothing."""
        if not self.frames and n_samples > 0:
            self.feats = torch.empty(self.fe.num_frames(n_samples) + SPARE_FRAMES, self.fe.n_mels)

    def feed(self, x: np.ndarray, last: bool = False) -> None:
        """Take the next samples, float32 [n] at 16 kHz, and compute every frame they complete; ``last``: no more
        samples follow, so the frames that read the right padding are computed now too, in the same blocks (a
        separate call for Whisper's last frame took 0.13-0.2 ms, a tenth of an 8 s clip's features)."""
        if not len(x):
            return
        fe = self.fe
        self.n_real += len(x)
        parts = [self.buf, x] if len(self.buf) else [x]
        if fe.pad:  # a centred front end (Whisper): reflect padding at both ends
            keep = fe.pad + 1
            self.tail = np.concatenate([self.tail, x[-keep:]])[-keep:]
            if self.head is not None:  # the left reflect pad needs the first pad + 1 samples
                head = np.concatenate([self.head, x]) if len(self.head) else x
                if len(head) < keep:
                    self.head = head.copy()  # a few samples; not a view of the caller's array
                    return
                parts, self.head = [head[1:keep][::-1], head], None  # buf is empty until then
        if last:
            parts += self._right_pad()
        self.buf = np.concatenate(parts) if len(parts) > 1 else parts[0]  # one copy of a chunk, if any
        self._run(limit=fe.num_frames(self.n_real) if last else None)
        self.closed = last

    def _right_pad(self) -> list[np.ndarray]:
        """Whisper's right reflect padding, once the clip has enough samples (else no frame reads it): [] or [pad]."""
        if not self.fe.pad or self.n_real < self.fe.min_samples:
            return []
        if self.head is not None:  # never reached the pad size while streaming (cannot happen past min)
            raise AssertionError("unreachable: min_samples guarantees the head was padded")
        return [self.tail[:-1][::-1][:self.fe.pad]]

    def finish(self, pad_to: int = 1) -> torch.Tensor:
        """The remaining frames and the front end's clip-wide step -> float32 [T + p, n_mels], T = num_frames: the
        features, then p = (-T) % pad_to rows holding their minimum (silence: the stacking pad of the last token)."""
        fe = self.fe
        total = fe.num_frames(self.n_real)
        if not self.closed:
            self.buf = np.concatenate([self.buf, *self._right_pad()])
            self._run(limit=total)
        assert self.frames == total, (self.frames, total)
        rows = total + (-total) % pad_to
        self._room(rows)
        feats = self.feats[:total]
        done = fe.finish(feats)  # in place, or a new tensor
        if done is not feats:
            self.feats[:total] = done
        if rows > total:
            self.feats[total:rows] = feats.min()
        if len(self.feats) - rows > SPARE_FRAMES:
            return self.feats[:rows].clone()  # hand out the exact size, not a view of a doubled buffer
        return self.feats[:rows]  # a view of a buffer at most a second larger: no copy of an hour of features

    def _run(self, limit: int | None) -> None:
        window, n = self.fe.window, len(self.buf)
        if n < window:
            return
        k = (n - window) // HOP_LENGTH + 1
        if limit is not None:  # frames the right pad would add past num_frames are dropped (Whisper's last)
            k = min(k, limit - self.frames)
        if k <= 0:
            return
        x = torch.from_numpy(np.ascontiguousarray(self.buf[: (k - 1) * HOP_LENGTH + window]))
        # the features go straight into one buffer that doubles when full. (A list of small kept tensors, each
        # allocated among the chunk's large temporaries, fragmented the heap: an hour peaked at 1.2 GB.)
        end = self.frames + k
        self._room(end)
        self.fe.features(x, k, out=self.feats[self.frames:end], threads=self.threads)
        self.frames = end
        self.buf = self.buf[k * HOP_LENGTH:]

    def _room(self, rows: int) -> None:
        """Grow the buffer (doubling) to hold at least ``rows`` rows."""
        if rows > len(self.feats):
            grown = torch.empty(max(rows, 2 * len(self.feats)), self.fe.n_mels)
            grown[:self.frames] = self.feats[:self.frames]
            self.feats = grown


def log_mel(waveform: torch.Tensor | np.ndarray, preset: str = DEFAULT_PRESET) -> torch.Tensor:
    """Log-mel features of a 16 kHz mono waveform float [S] -> float32 [T, n_mels] (T from the preset's formula).

    The same code path as the streaming tokenizer, fed in one piece, and like it with torch on one thread
    (:mod:`mmtok.core.threads`: two spinning OpenMP workers lost up to 10x when other work held the cores); the
    blocks of frames run on ``torch.get_num_threads()`` Python threads instead (1 after ``torch.set_num_threads(1)``).
    """
    p = PRESETS.get(preset)  # an unknown name raises UnknownNameError (a ConfigError) listing the presets
    x = torch.as_tensor(waveform)
    if x.dim() != 1 or not x.is_floating_point():
        raise InputError(f"log_mel takes a float waveform [samples] at {SAMPLE_RATE / 1000:g} kHz, got {x.dtype} "
                         f"{tuple(x.shape)}")
    if len(x) < p.min_samples:
        raise InputError(f"{len(x)} samples are too short for {preset}: it needs at least {p.min_samples} "
                         f"({p.min_samples / SAMPLE_RATE * 1000:.1f} ms at {SAMPLE_RATE / 1000:g} kHz)")
    s = _MelStream(p, threads=torch.get_num_threads())
    with one_torch_thread():  # every op: a two-thread one leaves an OpenMP worker spinning on a core for a while
        check_finite(x, "the waveform", SAMPLE_RATE)
        x = x.float().numpy()
        s.reserve(len(x))
        s.feed(x, last=True)  # in one piece (blocks of frames keep the temporaries small)
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

    @property
    def rows(self) -> torch.Tensor:
        """The feature rows these tokens put in a sequence, one per placeholder token: float32 [N, d]; the same
        name on every token type (``ImageTokens``, ``VideoTokens``, ``AudioTokens``), what ``seq.features`` holds.
        Here: ``tokens`` (``stack`` feature frames each; ``features`` are the frames themselves)."""
        return self.tokens


class AudioTokenizer(ProvenanceFromTable):
    """Log-mel tokens for audio; see the module docstring."""

    def __init__(self, config: AudioConfig | None = None) -> None:
        self.config = config or AudioConfig()
        if not isinstance(self.config, AudioConfig):
            raise ConfigError(f"config must be an AudioConfig, got {type(self.config).__name__}")

    @classmethod
    def default(cls) -> AudioTokenizer:
        """``AudioTokenizer()``: the default ``AudioConfig()``."""
        return cls()

    def __repr__(self) -> str:
        return f"AudioTokenizer({short_repr(self.config)})"

    def num_tokens(self, duration_seconds: float) -> int:
        """THE audio token count (see :func:`mmtok.audio.presets.num_tokens`)."""
        return num_tokens(duration_seconds, self.config)

    def segment_length(self, duration_seconds: float) -> int:
        """Tokens of the audio segment (:meth:`segment`): <start_of_audio>, the tokens, <end_of_audio>."""
        return self.num_tokens(duration_seconds) + 2

    def encode(self, src: AudioSource, sample_rate: int | None = None) -> AudioTokens:
        cfg = self.config
        info = AudioInfo("")
        stream = _MelStream(cfg.mel, threads=torch.get_num_threads())  # blocks of frames on Python threads
        with one_torch_thread():  # the clip-wide finish and the stacking too: each op on 2 threads took 20 ms
            held = None  # each chunk is fed once the next one exists, so the last is fed as the last
            for chunk in stream_audio(src, target_rate=SAMPLE_RATE, sample_rate=sample_rate,  # on a loaded machine
                                      max_duration=cfg.max_duration, chunk_seconds=cfg.chunk_seconds, info=info):
                if held is None:
                    stream.reserve(info.expected)  # the length a waveform has or a file's header promises
                else:
                    stream.feed(held)
                held = chunk
            if held is not None:
                stream.feed(held, last=True)
            if info.samples < cfg.mel.min_samples:
                raise InputError(f"{info.source} is too short: {info.samples} samples at {SAMPLE_RATE / 1000:g} kHz "
                                 f"({info.samples / SAMPLE_RATE * 1000:.1f} ms); {cfg.preset} needs at least "
                                 f"{cfg.mel.min_samples / SAMPLE_RATE * 1000:.1f} ms")
            return _stack(stream.finish(pad_to=cfg.stack), stream.frames, info, cfg)

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
        """decode(), then the features of the result against the original, in the preset's own units (``units``,
        e.g. "natural log of mel magnitude"): mean and max absolute difference over all frames and over the louder
        half (frames above the clip's mean level; digital silence, floored by the log, dominates the rest)."""
        wave = self.decode(tokens)
        again = log_mel(wave, tokens.preset)
        n = min(len(again), len(tokens.features))
        f = tokens.features[:n]
        diff = (again[:n] - f).abs()
        loud = f.mean(1) >= f.mean()
        return {"waveform": wave, "mel_mean_abs": float(diff.mean()), "mel_max_abs": float(diff.max()),
                "mel_mean_abs_loud": float(diff[loud].mean()), "preset": tokens.preset,
                "units": PRESETS[tokens.preset].units}

    def segment(self, tokens: AudioTokens, vocab: Vocab | None = None, source: str | None = None) -> Segment:
        """<start_of_audio>, one placeholder per token, <end_of_audio>; t (= h = w) counts tokens, i.e. time."""
        vocab = vocab or default_vocab()
        ids, pos = framed_run(vocab.special("<start_of_audio>"), vocab.special("<end_of_audio>"),
                              vocab.placeholder(Modality.AUDIO), len(tokens.tokens))
        return Segment(Modality.AUDIO, ids, pos, tokens.tokens, sound_meta(tokens, source))

    def from_segment(self, segment: Segment, vocab: Vocab | None = None) -> AudioTokens:
        """The tokens of an audio segment made with this tokenizer's preset (inverse of :meth:`segment`)."""
        if segment.modality != Modality.AUDIO or not isinstance(segment.meta, AudioMeta):
            raise SequenceError(f"expected an audio segment, got {segment.modality.label} "
                                f"({type(segment.meta).__name__})")
        return self.tokens_from_rows(segment.features, segment.meta)

    def tokens_from_rows(self, rows: torch.Tensor | None, meta: AudioMeta) -> AudioTokens:
        """:class:`AudioTokens` from token rows float [n, stack * n_mels] and the metadata of their sound (for a
        clip with its sound: its sound rows and ``meta.sound``)."""
        if meta.preset != self.config.preset or meta.stack != self.config.stack:
            raise SequenceError(f"the audio span was made with preset {meta.preset} x{meta.stack}, this tokenizer "
                                f"uses {self.config.preset} x{self.config.stack}")
        tokens = rows if rows is not None else torch.zeros(0, meta.stack * self.config.mel.n_mels)
        frames = rearrange(tokens, "n (k m) -> (n k) m", k=meta.stack)
        return AudioTokens(frames[:len(frames) - meta.padded_frames], tokens,
                           token_spans(len(tokens), meta.stack, meta.duration), meta.duration,
                           round(meta.duration * SAMPLE_RATE), meta.padded_frames, meta.preset, meta.stack,
                           meta.source or "", meta.source_rate, meta.channels, meta.sample_rate)

    def provenance_table(self, segment: Segment, vocab: Vocab | None = None) -> dict[str, torch.Tensor]:
        """``time``: each token's [start, end) in seconds (the last token ends where the sound ends)."""
        table = empty_provenance(len(segment))
        m = segment.meta
        if segment.modality != Modality.AUDIO or not isinstance(m, AudioMeta):
            raise SequenceError(f"expected an audio segment, got {segment.modality.label} ({type(m).__name__})")
        where = (segment.input_ids == (vocab or default_vocab()).placeholder(Modality.AUDIO)).nonzero().flatten()
        table["time"][where] = token_spans(len(where), m.stack, m.duration)
        return table


def sound_meta(tokens: AudioTokens, source: str | None = None) -> AudioMeta:
    """An audio span's metadata (also a clip's ``sound``)."""
    return AudioMeta(source=source if source is not None else tokens.source, preset=tokens.preset, stack=tokens.stack,
                     duration=tokens.duration, sample_rate=tokens.sample_rate,
                     tokens_per_second=SAMPLE_RATE / HOP_LENGTH / tokens.stack, padded_frames=tokens.padded_frames,
                     source_rate=tokens.source_rate, channels=tokens.channels)


def token_spans(n: int, stack: int, duration: float) -> torch.Tensor:
    """float64 [n, 2]: [start, end) seconds of ``n`` tokens of ``stack`` frames each (10 ms hop); ends are capped at
    ``duration`` and the last token ends there."""
    edges = np.arange(n + 1, dtype=np.float64) * (stack * HOP_LENGTH) / SAMPLE_RATE  # numpy: a few small ops, each
    spans = np.stack([edges[:-1], np.minimum(edges[1:], duration)], 1)  # a tenth of a torch op's overhead
    if n:
        spans[-1, 1] = duration
    return torch.from_numpy(spans)


@functools.lru_cache(maxsize=16)
def _tokenizer_for(preset: str, stack: int) -> AudioTokenizer:
    return AudioTokenizer(AudioConfig(preset=preset, stack=stack))


register_segment_tokenizer(Modality.AUDIO, lambda seg, vocab: _tokenizer_for(seg.meta.preset, seg.meta.stack))


def _stack(padded: torch.Tensor, t: int, info: AudioInfo, cfg: AudioConfig) -> AudioTokens:
    """Tokens from the t frames and their stacking pad, padded [t + pad, n_mels] (features and tokens share it)."""
    k, feats = cfg.stack, padded[:t]
    pad = len(padded) - t
    tokens = rearrange(padded, "(n k) m -> n (k m)", k=k)
    duration = info.samples / SAMPLE_RATE
    assert len(tokens) == num_tokens(duration, cfg), "THE count formula and the features disagree"
    return AudioTokens(feats, tokens, token_spans(len(tokens), k, duration), duration, info.samples, pad, cfg.preset,
                       k, info.source, info.source_rate, info.channels)
