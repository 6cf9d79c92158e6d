"""mmtok.models against the transformers processors, side by side in one run: time and equality per input.

Run: .venv/bin/python benchmarks/bench_models.py [--models qwen2-vl,...] [--repeat 7] [--photos N] (about 25 min)

Inputs: photos for qwen2-vl, qwen2.5-vl, qwen3-vl, gemma-4 (max_soft_tokens 280) and chameleon: the bundled JPEGs
and the 15 Lomiri 16.04 wallpapers (0.27 to 15.9 MP, most of them progressive JPEGs; see bench_image.py); the
bundled clip assets/video/cityCC0.mpg (190 frames, 720x405, 25 fps) for the Qwen models and gemma-4; the bundled
sounds (speech_en.wav, speech_ja.wav, guit_em9.flac) for whisper, whisper-large-v3 and gemma-4.

Each reference is the model's transformers processor class built with its published preprocessing values and a
tiny local tokenizer with its special tokens (benchmarks/model_refs.py, which also says exactly how a transformers
user loads each input here: transformers' ``load_image``; PyAV frames for the clip; PyAV + torchaudio's resample
for a sound). The reference is timed with that load included; mmtok's side, ``ModelProcessor(name, tokenizer=the
same tokenizer, fast=...).hf_inputs([text, Image(path) / Video(path) / Audio(path)])``, decodes the file itself.

Timing (``benchmarks/harness.py``, the protocol of every benchmark): the three sides run interleaved (a, b, c, a, b,
c, ...) so drift in the machine's speed hits all alike; the first call of each is a warm-up whose outputs are
compared; then the median of ``--repeat`` rounds (default 7, and at least 0.5 s), or of ``--slow-repeat`` rounds
(default 5) for an input whose reference takes over a second (3 rounds were too few: allocation spikes made the
same path take 122 or 213 ms in adjacent slots); each input's median, range and CPU time per call go to stderr.
Targets (issue 19): ``fast=False`` never slower than transformers (ratio mmtok / transformers <= 1.0) with equal
tensors, judged over every input and, apart, over the inputs issue 19 names (photos, the clip, the speech: the
music clip guit_em9.flac is an extra whose FFmpeg FLAC decode, the same on both sides, is most of the time);
``fast=True`` >= 2x faster than transformers on photos of 1 MP or more, counts exact. ``max abs`` is the largest
difference over every float tensor (inf when keys, shapes, dtypes or any integer tensor differ); for sounds it is
measured with the reference fed mmtok's own 16 kHz waveform (the column ``own decode`` gives it with the user's).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers

import mmtok
from bench_image import photos  # benchmarks/ is on the path when a benchmark runs as a script
from harness import Timing, add_busy_arg, busy, interleaved, load, machine
from model_refs import KINDS, REFERENCES, user_audio, user_image, user_video

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "assets" / "video" / "cityCC0.mpg"
SOUNDS = [ROOT / "assets" / "audio" / n for n in ("speech_en.wav", "speech_ja.wav", "guit_em9.flac")]
TEXT = {"image": ("Describe this ", " ."), "video": ("Describe this ", " ."), "audio": ("listen ", " .")}
CONTENT = {"image": mmtok.Image, "video": mmtok.Video, "audio": mmtok.Audio}
GROUPS = {"image": "photos", "video": "clip"}  # sounds: "speech" (speech_*.wav) or "music" (guit_em9.flac)


@dataclass
class Row:
    kind: str  # image, video, audio
    label: str
    mp: float  # megapixels of a photo (nan for clips and sounds)
    times: list[float]  # ms: transformers, mmtok, mmtok fast
    diff: float  # max abs, mmtok vs transformers (same input for sounds)
    diff_fast: float
    mean_fast: float  # mean abs difference of the largest float tensor (pixel_values), fast=True
    own: float = float("nan")  # sounds: max abs with each side decoding the file itself
    timings: list[Timing] | None = None  # the same three sides: median, range, CPU


def max_abs(a: dict, b: dict) -> float:
    """The largest absolute difference over the float tensors both dicts hold; inf if keys, shapes, dtypes or an
    integer tensor differ."""
    if a.keys() != b.keys():
        return float("inf")
    worst = 0.0
    for k in a:
        x, y = torch.as_tensor(a[k]), torch.as_tensor(b[k])
        if x.shape != y.shape or x.dtype != y.dtype:
            return float("inf")
        if not x.is_floating_point():
            if not torch.equal(x, y):
                return float("inf")
        elif x.numel():
            worst = max(worst, (x.double() - y.double()).abs().max().item())
    return worst


def mean_abs(a: dict, b: dict) -> float:
    """Mean absolute difference over the largest float tensor (the pixel values); nan when shapes differ."""
    k = max((k for k in a if torch.as_tensor(a[k]).is_floating_point()), key=lambda k: a[k].numel(), default=None)
    if k is None or k not in b or a[k].shape != b[k].shape:
        return float("nan")
    return (a[k].double() - b[k].double()).abs().mean().item()


def inputs(kind: str, n_photos: int) -> list[tuple[Path, float]]:
    if kind == "image":
        return [(f, _mp(f)) for f in photos()[: n_photos or None]]
    return [(CLIP, float("nan"))] if kind == "video" else [(s, float("nan")) for s in SOUNDS]


def _mp(f: Path) -> float:
    w, h = mmtok.media.imageio.image_size(f)
    return w * h / 1e6


def bench_model(name: str, kinds: tuple[str, ...], n_photos: int, repeat: int, slow_repeat: int) -> list[Row]:
    hf, tok, marks, calls = REFERENCES[name](name)
    exact = mmtok.ModelProcessor(name, tokenizer=tok)
    fast = mmtok.ModelProcessor(name, tokenizer=tok, fast=True)
    rows = []
    for kind in kinds:
        before, after = TEXT[kind]
        prompt = f"{before}{marks[kind]}{after}"
        for path, mp in inputs(kind, n_photos):
            def ref(path=path, kind=kind, prompt=prompt, media=None):
                if kind == "image":
                    return hf(text=[prompt], images=[user_image(path)], return_tensors="pt")
                if kind == "video":
                    frames, meta = user_video(path)
                    return hf(text=[prompt], videos=[frames], video_metadata=[meta], return_tensors="pt",
                              **calls.get("video", {}))
                return hf(text=[prompt], audio=[user_audio(path) if media is None else media], return_tensors="pt")

            # whisper: the encoder input alone (text would become the decoder's labels)
            pieces = [CONTENT[kind](path)] if name.startswith("whisper") else [before, CONTENT[kind](path), after]
            (want, got, got_fast), timings = interleaved([ref, lambda p=pieces: exact.hf_inputs(p),
                                                          lambda p=pieces: fast.hf_inputs(p)], repeat,
                                                         slow_rounds=slow_repeat)
            times = [t.median for t in timings]
            row = Row(kind, path.name, mp, times, max_abs(want, got), max_abs(want, got_fast), mean_abs(want, got_fast),
                      timings=timings)
            if kind == "audio":  # equality given the same waveform; the user's decode as a separate figure
                row.own = row.diff
                same = dict(ref(media=_mmtok_wave(path)))
                row.diff, row.diff_fast, row.mean_fast = max_abs(same, got), max_abs(same, got_fast), mean_abs(same,
                                                                                                          got_fast)
            rows.append(row)
            print(f"  {name} {path.name}: transformers {timings[0]}; mmtok {timings[1]}; fast {timings[2]}",
                  file=sys.stderr, flush=True)
    return rows


def _mmtok_wave(path: Path) -> np.ndarray:
    from mmtok.media.audioio import stream_audio

    return np.concatenate(list(stream_audio(path, target_rate=16000, sample_rate=None, max_duration=3600.0,
                                            chunk_seconds=30.0)))


def report(name: str, rows: list[Row]) -> str:
    print(f"\n### {name}\n")
    print("| input | MP | transformers ms | mmtok ms | mmtok / transformers | max abs | fast=True ms "
          "| transformers / fast | fast max abs (mean) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        a, b, c = r.times
        mp = f"{r.mp:.2f}" if r.kind == "image" else r.kind
        own = f" (own decode {r.own:.2g})" if r.kind == "audio" else ""
        print(f"| {r.label} | {mp} | {a:.1f} | {b:.1f} | {b / a:.2f} | {r.diff:.2g}{own} | {c:.1f} | {a / c:.2f} "
              f"| {r.diff_fast:.3g} ({r.mean_fast:.2g}) |")
    worst = max(r.times[1] / r.times[0] for r in rows)
    big = [r for r in rows if r.kind == "image" and r.mp >= 1.0]
    least = min((r.times[0] / r.times[2] for r in big), default=float("nan"))
    equal = max(r.diff for r in rows)
    fast_part = (f"; fast=True least speed-up on photos >= 1 MP {least:.2f}x ({'met' if least >= 2 else 'NOT met'}), "
                 f"worst max abs {max(r.diff_fast for r in big):.3g} (mean {max(r.mean_fast for r in big):.2g})") if big else ""
    per = {}  # the worst ratio per kind of input: issue 19's inputs (photos, clip, speech) and the music clip
    for r in rows:
        group = GROUPS.get(r.kind, "") or ("speech" if r.label.startswith("speech") else "music")
        per[group] = max(per.get(group, 0.0), r.times[1] / r.times[0])
    issue = [per[g] for g in ("photos", "clip", "speech") if g in per]
    issue_part = (f"; over photos, clip and speech (issue 19's inputs) {max(issue):.2f} "
                  f"({'met' if max(issue) <= 1.0 else 'NOT met'})"
                  + (f", the music clip {per['music']:.2f}" if "music" in per else "")) if issue else ""
    return (f"{name}: fast=False worst ratio {worst:.2f} over every input ({'met' if worst <= 1.0 else 'NOT met'})"
            f"{issue_part}; max abs {equal:.2g} ({'equal' if equal == 0 else 'NOT equal'}){fast_part}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(REFERENCES), help="comma-separated; default: every model with a "
                    "reference here: " + ", ".join(REFERENCES))
    ap.add_argument("--kinds", default="image,video,audio", help="which inputs: image, video, audio")
    ap.add_argument("--repeat", type=int, default=7, help="timed rounds per input (and at least 0.5 s)")
    ap.add_argument("--slow-repeat", type=int, default=5, help="timed rounds when the reference takes over 1 s")
    ap.add_argument("--photos", type=int, default=0, help="only the first N photos (0: all)")
    add_busy_arg(ap)
    args = ap.parse_args()
    want = set(args.kinds.split(","))
    verdicts = []
    with busy(args.busy):
        print(machine(transformers=transformers.__version__))
        for name in [m.strip() for m in args.models.split(",")]:
            rows = bench_model(name, tuple(k for k in KINDS[name] if k in want), args.photos, args.repeat,
                               args.slow_repeat)
            if rows:
                verdicts.append(report(name, rows))
        print(f"\nload average (1, 5, 15 min) at end {load()}\n")
    print("\n".join(verdicts))


if __name__ == "__main__":
    sys.exit(main())
