"""Sampling 16 frames: mmtok vs decode-everything vs seek-to-each-target; frames decoded; peak memory.

Run: .venv/bin/python benchmarks/bench_video.py
Clips (made once with PyAV into ~/.cache/mmtok/bench-video, from FFmpeg's testsrc2 pattern): 60 s 1280x720 H.264
at 25 fps with a keyframe every 250 frames and every 60 frames, a 10 min clip of the same kind (keyframes every
250) for the memory comparison, plus the bundled real clip (assets/video/cityCC0.mpg, MPEG-2).
All three strategies return the same 16 RGB frames (checked); each gets the packet index for free, so they
differ only in how they decode. Timings interleave the strategies and take the median of 3 rounds.
Targets (issue 4): mmtok <= 1.1x the better naive strategy on every clip; >= 2.5x faster than decode-everything
on the 60-frame-GOP clip; peak memory independent of the clip's length.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

import av
import numpy as np

from mmtok import VideoConfig
from mmtok.training.debian import default_cache
from mmtok.video.frames import FrameDecoder
from mmtok.video.index import open_video, read_index, sample_rule
from peak_memory import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent


def make_clip(path: Path, seconds: int, gop: int) -> Path:
    if path.exists():
        return path
    tmp = path.with_suffix(".part.mp4")
    src = av.open(f"testsrc2=size=1280x720:rate=25:duration={seconds}", format="lavfi")
    with av.open(str(tmp), "w") as out:
        s = out.add_stream("libx264", rate=25, options={"preset": "veryfast", "g": str(gop), "keyint_min": str(gop),
                                                        "sc_threshold": "0", "crf": "23"})
        s.width, s.height, s.pix_fmt = 1280, 720, "yuv420p"
        for frame in src.decode(video=0):
            frame = frame.reformat(format="yuv420p")
            frame.pts = None
            frame.pict_type = av.video.frame.PictureType.NONE  # lavfi marks frames as I: x264 would obey
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    src.close()
    tmp.rename(path)
    return path


def _chosen(path):
    c, s = open_video(str(path), str(path))
    idx = read_index(c, s, str(path), 1e9)
    c.close()
    return idx, sample_rule(idx, 16)


def mmtok_strategy(path):
    decoded = FrameDecoder(str(path), str(path), VideoConfig())
    frames = list(decoded)
    return frames, decoded.frames_decoded


def decode_everything(path):
    idx, samples = _chosen(path)
    wanted, got, n = set(samples.pts.tolist()), {}, 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for f in c.decode(s):
            n += 1
            if f.pts in wanted:
                got[f.pts] = f.to_ndarray(format="rgb24")
    return [got[p] for p in samples.pts.tolist()], n


def seek_each(path):
    idx, samples = _chosen(path)
    got, n = {}, 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for p in sorted(set(samples.pts.tolist())):
            c.seek(p, stream=s, backward=True, any_frame=False)
            for f in c.decode(s):
                n += 1
                if f.pts == p:
                    got[p] = f.to_ndarray(format="rgb24")
                    break
    return [got[p] for p in samples.pts.tolist()], n


STRATEGIES = {"mmtok": mmtok_strategy, "decode everything": decode_everything, "seek to each target": seek_each}


def peak_mb(path: Path) -> tuple[float, float]:
    return peak_rss_mb("from mmtok.video.tokenizer import sample_frames", "sample_frames(sys.argv[1], 16)", path)


def main() -> None:
    cache = default_cache("bench-video")
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    clips = {
        "60 s 720p H.264, GOP 250": make_clip(cache / "60s_gop250.mp4", 60, 250),
        "60 s 720p H.264, GOP 60": make_clip(cache / "60s_gop60.mp4", 60, 60),
        "cityCC0.mpg (real, MPEG-2)": ROOT / "assets" / "video" / "cityCC0.mpg",
    }
    long_clip = make_clip(cache / "600s_gop250.mp4", 600, 250)
    print(f"(clips ready in {time.time() - t0:.0f} s)", file=sys.stderr)
    print(f"machine: {platform.machine()}, PyAV {av.__version__}, python {platform.python_version()}")
    print("| clip | strategy | median s | frames decoded |\n|---|---|---|---|")
    summary = {}
    for name, path in clips.items():
        times = {k: [] for k in STRATEGIES}
        counts, outputs, failed = {}, {}, {}
        for _ in range(3):
            for k, fn in STRATEGIES.items():
                t = time.perf_counter()
                try:
                    frames, n = fn(path)
                except KeyError:  # the strategy never saw a frame with the wanted pts
                    frames, n = None, None
                times[k].append(time.perf_counter() - t)
                counts[k], outputs[k] = n, frames
        ref = outputs["decode everything"]
        for k in STRATEGIES:
            ok = outputs[k] is not None and all(np.array_equal(a, b) for a, b in zip(outputs[k], ref))
            failed[k] = not ok
        assert not failed["mmtok"], "mmtok returned other frames than a full decode"
        med = {k: statistics.median(v) for k, v in times.items()}
        for k in STRATEGIES:
            note = " (WRONG or missing frames)" if failed[k] else ""
            print(f"| {name} | {k}{note} | {med[k]:.3f} | {counts[k] if counts[k] is not None else '-'} |")
        summary[name] = {k: v for k, v in med.items() if not failed[k]}
    print()
    for name, med in summary.items():
        best_naive = min(v for k, v in med.items() if k != "mmtok")
        print(f"{name}: mmtok / better correct naive = {med['mmtok'] / best_naive:.2f}; decode everything / mmtok = "
              f"{med['decode everything'] / med['mmtok']:.2f}")
    short = peak_mb(clips["60 s 720p H.264, GOP 250"])
    long = peak_mb(long_clip)
    print(f"peak RSS while sampling, 60 s clip: {short[1]:.0f} MB (after imports {short[0]:.0f} MB, growth "
          f"{short[1] - short[0]:.0f} MB); 10 min clip: {long[1]:.0f} MB (after imports {long[0]:.0f} MB, growth "
          f"{long[1] - long[0]:.0f} MB); peak ratio 10 min / 60 s = {long[1] / short[1]:.2f}")
    print(json.dumps({k: {s: round(v, 4) for s, v in m.items()} for k, m in summary.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
