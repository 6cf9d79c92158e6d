"""Audio: mmtok (decode + resample + log-mel) vs Hugging Face WhisperFeatureExtractor and a NumPy Whisper formula.

Run: .venv/bin/python benchmarks/bench_audio.py
Input: 10 minutes of 44.1 kHz stereo audio (the bundled CC0 guitar clip, assets/audio/guit_em9.flac, tiled 60 times
with a slowly changing gain), written once as FLAC and as WAV into ~/.cache/mmtok/bench-audio; a 60-minute FLAC of
the same kind for the memory comparison.
Rows: the log-mel stage alone on the same 16 kHz waveform (mmtok.log_mel "whisper-80" vs
transformers.WhisperFeatureExtractor, NumPy path, fed 30 s windows as its users do, vs a vectorised NumPy
implementation of Whisper's formula), FFmpeg's FLAC decoding alone and mmtok's decode + resample (where the time
goes), and the whole mmtok pipeline from the file. Medians of 3 interleaved rounds.
Targets (issue 5): log-mel >= 2x faster than WhisperFeatureExtractor; real-time factor <= 2e-3 including decode
and resample (10 minutes in <= 1.2 s); peak memory for 60 min <= 2x that for 10 min.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import av
import numpy as np
import torch

import mmtok
from mmtok.audio import PRESETS, SAMPLE_RATE
from mmtok.media.audioio import stream_audio
from mmtok.training.debian import default_cache
from peak_memory import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent


def make_file(path: Path, minutes: int, fmt: str) -> Path:
    if path.exists():
        return path
    to_float = av.AudioResampler(format="fltp")  # float32 in [-1, 1], one row per channel
    with av.open(str(ROOT / "assets" / "audio" / "guit_em9.flac")) as c:
        clip = np.concatenate([g.to_ndarray() for f in c.decode(audio=0) for g in to_float.resample(f)], axis=1)
    tmp = path.with_suffix(".part" + path.suffix)
    codec, sample_fmt = ("flac", "s16") if fmt == "flac" else ("pcm_s16le", "s16")
    with av.open(str(tmp), "w", format=fmt) as out:
        s = out.add_stream(codec, rate=44100, layout="stereo")
        total, i = minutes * 60 * 44100, 0
        while i < total:
            gain = 0.5 + 0.4 * np.sin(i / 44100 / 37.0)
            block = clip[:, : min(clip.shape[1], total - i)] * gain
            data = np.clip(np.round(block.T.reshape(1, -1) * 32767), -32768, 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(data, format=sample_fmt, layout="stereo")
            frame.sample_rate, frame.pts = 44100, i
            for p in s.encode(frame):
                out.mux(p)
            i += block.shape[1]
        for p in s.encode(None):
            out.mux(p)
    tmp.rename(path)
    return path


def numpy_whisper(x: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Whisper's formula, vectorised in NumPy: centred reflect-padded 400-point Hann STFT, power, mel, log10, clamp."""
    n_fft, hop = 400, 160
    padded = np.pad(x, n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:-1]
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    mel = np.log10(np.maximum(power @ filters, 1e-10))
    return (np.maximum(mel, mel.max() - 8.0) + 4.0) / 4.0


def decode_only(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(f.samples for f in c.decode(audio=0))


def peak_mb(path: Path) -> tuple[float, float]:
    return peak_rss_mb("import mmtok; tok = mmtok.AudioTokenizer()", "tok.encode(sys.argv[1])", path)


def main() -> None:
    from transformers import WhisperFeatureExtractor

    cache = default_cache("bench-audio")
    cache.mkdir(parents=True, exist_ok=True)
    flac10, wav10 = make_file(cache / "10min.flac", 10, "flac"), make_file(cache / "10min.wav", 10, "wav")
    flac60 = make_file(cache / "60min.flac", 60, "flac")
    wave = torch.from_numpy(np.concatenate(list(stream_audio(flac10, target_rate=SAMPLE_RATE, sample_rate=None,
                                                             max_duration=1e9, chunk_seconds=30))))
    x = wave.numpy()
    seconds = len(x) / SAMPLE_RATE
    fe = WhisperFeatureExtractor(feature_size=80)
    fe_np = WhisperFeatureExtractor(feature_size=80)
    fe_np._torch_extract_fbank_features = fe_np._np_extract_fbank_features  # force the NumPy path
    filters = PRESETS["whisper-80"].filterbank.numpy()
    tok = mmtok.AudioTokenizer()

    def hf(extractor):
        step = 30 * SAMPLE_RATE
        return [extractor(x[i:i + step], sampling_rate=SAMPLE_RATE, return_tensors="np")
                for i in range(0, len(x), step)]

    runs = {"mmtok log_mel (whisper-80)": lambda: mmtok.log_mel(wave, "whisper-80"),
            "HF WhisperFeatureExtractor, NumPy path, 30 s windows": lambda: hf(fe_np),
            "HF WhisperFeatureExtractor, its default torch path, 30 s windows": lambda: hf(fe),
            "NumPy Whisper formula": lambda: numpy_whisper(x, filters),
            "FFmpeg FLAC decode alone (PyAV, no resample)": lambda: decode_only(flac10),
            "mmtok FLAC decode + resample (stream_audio)": lambda: sum(len(c) for c in stream_audio(
                flac10, target_rate=SAMPLE_RATE, sample_rate=None, max_duration=1e9, chunk_seconds=30)),
            "mmtok encode from FLAC (decode + resample + log-mel + tokens)": lambda: tok.encode(flac10),
            "mmtok encode from WAV (decode + resample + log-mel + tokens)": lambda: tok.encode(wav10)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}  # CPU seconds of all threads: the work, whatever else runs
    for _ in range(3):
        for k, fn in runs.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    med = {k: statistics.median(v) for k, v in times.items()}
    a = mmtok.log_mel(wave, "whisper-80").numpy()
    b = numpy_whisper(x, filters)
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"PyAV {av.__version__}")
    print(f"audio: {seconds:.1f} s of 44.1 kHz stereo; mmtok vs NumPy formula max |diff| = {np.abs(a - b).max():.2e}")
    print("| step | median s | range s | real-time factor | median CPU s |\n|---|---|---|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:.3f} | {min(times[k]):.3f}-{max(times[k]):.3f} | {v / seconds:.1e} | "
              f"{statistics.median(cpu[k]):.3f} |")
    mm_t = med["mmtok log_mel (whisper-80)"]
    hf_np = med["HF WhisperFeatureExtractor, NumPy path, 30 s windows"]
    hf_torch = med["HF WhisperFeatureExtractor, its default torch path, 30 s windows"]
    print(f"log-mel: HF NumPy path / mmtok = {hf_np / mm_t:.1f}x; HF torch path / mmtok = {hf_torch / mm_t:.1f}x; "
          f"NumPy formula / mmtok = {med['NumPy Whisper formula'] / mm_t:.1f}x")
    s10, s60 = peak_mb(flac10), peak_mb(flac60)
    print(f"peak RSS while encoding: 10 min {s10[1]:.0f} MB (after imports {s10[0]:.0f}); 60 min {s60[1]:.0f} MB "
          f"(after imports {s60[0]:.0f}); ratio {s60[1] / s10[1]:.2f}")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
