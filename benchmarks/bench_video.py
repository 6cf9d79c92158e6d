"""Sampling 16 frames: mmtok's ``sample_frames`` against torchcodec 0.17, side by side on the same timestamps.

Run: .venv/bin/python benchmarks/bench_video.py [--rounds 7] [--clips SUBSTR] [--busy 2] [--no-memory]
(torchcodec comes with the ``bench`` extra and needs FFmpeg's shared libraries: Debian's ``ffmpeg``; ``make bench``
installs both.) Clips (``benchmarks/clips.py``, made once into ~/.cache/mmtok/bench-video): 1080p H.264 with a
keyframe every 30 frames and B-frames (a photo pan, and testsrc2), 720p H.264 GOP 250, 1080p VP9 WebM, 1080p AV1
(SVT-AV1), 720p H.264 at a variable frame rate, 4K H.264, and the bundled MPEG-2 program stream cityCC0.mpg.

The sides, each given the path and returning 16 RGB frames as uint8 (nothing converted afterwards):
- mmtok: ``sample_frames(path, 16)`` -> torch uint8 [16, H, W, 3] (opens the file, reads its packet index, decodes).
- torchcodec exact / approximate: ``VideoDecoder(path, seek_mode=...).get_frames_played_at(seconds=targets).data``
  -> torch [16, 3, H, W] (a permuted view of [16, H, W, 3] memory, as mmtok's layout), its default path (one
  FFmpeg thread is its default, mmtok lets FFmpeg choose; the CPU column shows what each side used). ``targets``
  are the times mmtok's rule looks at (``mmtok.video.index``: t_i = start + (i + 0.5) x span / 16, where span
  runs from the first frame's pts to the last frame's end), in the stream's seconds.
Every side's frames are checked against a full decode of every frame with PyAV: the frame on screen at each
target (the last frame whose pts <= t_i, computed here from the decoded frames, exactly on integer ticks). A frame
that is not bit-equal is named by the frame it looks like (nearest in 16x16 block means over the whole clip, then
in full pixels among the right frame's two neighbours each side): "right frames, pixels differ" when that is the
right frame (another FFmpeg's decoder), else WRONG with its offset. Timing is ``harness.interleaved``; the
frames table also gives how many frames mmtok had FFmpeg decode (``FrameDecoder.frames_decoded``).
Target (issue 20): mmtok <= 1.0x torchcodec exact on every clip where torchcodec exact returns the right frames;
peak memory (growth over the post-import RSS, in a fresh process) flat in clip length: 10 min within 10% of 1 min.
"""

from __future__ import annotations

import argparse
import sys
from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torchcodec
from torchcodec._core import get_ffmpeg_library_versions as ffmpeg_versions
from torchcodec.decoders import VideoDecoder

from clips import CLIPS, MEMORY_CLIPS, clip  # benchmarks/ is on the path when a benchmark runs as a script
from harness import Timing, add_busy_arg, busy, interleaved, load, machine
from mmtok import VideoConfig
from mmtok.training.debian import default_cache
from mmtok.video.frames import FrameDecoder
from mmtok.video.tokenizer import sample_frames
from peak_memory import peak_rss_mb

N = 16
SIDES = ("mmtok", "torchcodec exact", "torchcodec approximate")


@dataclass
class Reference:
    """What a full decode shows at the N targets."""

    seconds: list[float]  # the targets in the stream's seconds (pts x time base): what torchcodec is asked for
    right: list[int]  # per target: the index of the frame on screen then (presentation order)
    near: list[dict[int, np.ndarray]]  # per target: offset (-2..2) -> uint8 [H, W, 3] that neighbour of the right frame
    thumbs: np.ndarray  # float32 [F, h, w, 3] every frame shrunk (16x16 block means): names a far-off frame


def thumb(rgb: np.ndarray, block: int = 16) -> np.ndarray:
    h, w = (rgb.shape[0] // block) * block, (rgb.shape[1] // block) * block
    return rgb[:h, :w].reshape(h // block, block, w // block, block, 3).mean((1, 3), dtype=np.float32)


def reference(path: Path) -> Reference:
    """Decode every frame with PyAV: their pts give the targets and the right frames (RGB kept only near them)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        pts, durations = zip(*((f.pts, f.duration) for f in c.decode(s)))
        tb = s.time_base
    assert list(pts) == sorted(set(pts)), "decoded frames not in strictly increasing pts order"
    last = durations[-1] or int(np.median(np.diff(pts)))
    start, end = pts[0], pts[-1] + last
    targets = [start + Fraction((2 * i + 1) * (end - start), 2 * N) for i in range(N)]  # exact ticks
    right = [bisect_right(pts, t) - 1 for t in targets]
    keep = {j + d for j in right for d in range(-2, 3) if 0 <= j + d < len(pts)}
    rgb, thumbs = {}, []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for j, f in enumerate(c.decode(s)):
            a = f.to_ndarray(format="rgb24")
            thumbs.append(thumb(a))
            if j in keep:
                rgb[j] = a
    return Reference([float(t * tb) for t in targets], right,
                     [{d: rgb[j + d] for d in range(-2, 3) if j + d in rgb} for j in right], np.stack(thumbs))


def mmtok_side(path: Path, ref: Reference):
    return lambda: sample_frames(path, N)[0].numpy()  # NHWC, shared with the tensor (no copy)


def torchcodec_side(path: Path, ref: Reference, mode: str):
    return lambda: VideoDecoder(str(path), seek_mode=mode).get_frames_played_at(seconds=ref.seconds).data


def as_nhwc(out) -> np.ndarray:
    return out.permute(0, 2, 3, 1).numpy() if hasattr(out, "permute") else np.asarray(out)


def judge(out, ref: Reference) -> str:
    """"right" when every frame equals the full decode's; "right frames" when each is nearest the right frame but
    its pixels differ (another FFmpeg's decoder or colour conversion); else how many are wrong, by which offsets."""
    got = as_nhwc(out)
    if got.shape != (N, *ref.near[0][0].shape):
        return f"WRONG shape {got.shape}"
    wrong, differ = [], 0
    for frame, near, j in zip(got, ref.near, ref.right):
        if np.array_equal(frame, near[0]):
            continue
        d = int(np.argmin(np.abs(ref.thumbs - thumb(frame)).mean((1, 2, 3)))) - j  # the frame it looks like
        if abs(d) <= 2:  # close: decide on full pixels among the neighbours
            d = min(near, key=lambda k: np.abs(frame.astype(np.int16) - near[k]).mean())
        if d == 0:
            differ = max(differ, int(np.abs(frame.astype(np.int16) - near[0]).max()))
        else:
            wrong.append(d)
    if wrong:
        return f"WRONG: {len(wrong)} of {N} (offsets {', '.join(f'{d:+d}' for d in sorted(set(wrong)))})"
    return "right" if not differ else f"right frames, pixels differ (max abs {differ})"


def check(sides: dict, ref: Reference) -> dict[str, str]:
    verdict = {}
    for name, fn in sides.items():
        try:
            verdict[name] = judge(fn(), ref)
        except Exception as e:  # noqa: BLE001 - a side that fails is a row of the table
            verdict[name] = f"FAILS: {type(e).__name__}: {str(e).splitlines()[0][:90]}"
    return verdict


def memory(cache: Path) -> list[tuple[str, str, float, float]]:
    """(side, clip, RSS after imports, peak RSS during the call) for the 1 min and 10 min clips, MB."""
    rows = []
    setups = {
        "mmtok": ("from mmtok.video.tokenizer import sample_frames", "sample_frames(sys.argv[1], 16)"),
        "torchcodec exact": (
            "from torchcodec.decoders import VideoDecoder",
            "d = VideoDecoder(sys.argv[1], seek_mode='exact'); m = d.metadata; "
            "b, e = m.begin_stream_seconds, m.end_stream_seconds; "
            "d.get_frames_played_at(seconds=[b + (i + 0.5) * (e - b) / 16 for i in range(16)])"),
    }
    for label in MEMORY_CLIPS:
        path = clip(cache, label, MEMORY_CLIPS)
        for side, (setup, call) in setups.items():
            rows.append((side, label, *peak_rss_mb(setup, call, path)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7, help="timed interleaved rounds per clip (and at least 0.5 s)")
    ap.add_argument("--slow-rounds", type=int, default=5, help="rounds when mmtok's first call takes over 1 s")
    ap.add_argument("--clips", default="", help="only the clips whose label contains this")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory comparison")
    add_busy_arg(ap)
    args = ap.parse_args()
    cache = default_cache("bench-video")
    labels = [k for k in CLIPS if args.clips.lower() in k.lower()]
    paths = {k: clip(cache, k) for k in labels}
    if not args.no_memory:
        for k in MEMORY_CLIPS:
            clip(cache, k, MEMORY_CLIPS)
    refs = {k: reference(p) for k, p in paths.items()}  # full decodes, before the timed part
    results: dict[str, tuple[dict[str, str], dict[str, Timing]]] = {}
    with busy(args.busy):
        print(machine(torchcodec=torchcodec.__version__, PyAV=av.__version__,
                      FFmpeg=f"{av.ffmpeg_version_info} (PyAV), {ffmpeg_versions()['ffmpeg_version']} (torchcodec)"))
        for label, path in paths.items():
            ref = refs[label]
            sides = {"mmtok": mmtok_side(path, ref), "torchcodec exact": torchcodec_side(path, ref, "exact"),
                     "torchcodec approximate": torchcodec_side(path, ref, "approximate")}
            ok = check(sides, ref)
            counted = FrameDecoder(path, path.name, VideoConfig(num_frames=N))
            list(counted)
            ok["decoded"] = str(counted.frames_decoded)
            timed = [s for s in SIDES if not ok[s].startswith("FAILS")]
            _, timings = interleaved([sides[s] for s in timed], args.rounds, slow_rounds=args.slow_rounds)
            results[label] = ok, dict(zip(timed, timings))
            print(f"  {label}: " + "; ".join(f"{s} {t}" for s, t in zip(timed, timings)), file=sys.stderr,
                  flush=True)
        mem = [] if args.no_memory else memory(cache)
        print(f"load average (1, 5, 15 min) at end {load()}")
    report(results, refs, mem, args.busy)


def report(results, refs, mem, busy_n: int) -> None:
    print("\n### Frames returned (against a full decode with PyAV)\n")
    print("| clip | frames | mmtok decoded | " + " | ".join(SIDES) + " |\n|---|---|---|" + "---|" * len(SIDES))
    for label, (ok, _) in results.items():
        print(f"| {label} | {len(refs[label].thumbs)} | {ok['decoded']} | " + " | ".join(ok[s] for s in SIDES) + " |")
    print("\n### Time for 16 frames (ms: median (range, CPU per call, rounds))\n")
    print("| clip | mmtok | torchcodec exact | mmtok / exact | torchcodec approximate | mmtok / approximate |")
    print("|---|---|---|---|---|---|")
    ratios = {}
    for label, (ok, t) in results.items():
        m = t["mmtok"].median
        cells = []
        for s in SIDES[1:]:
            if s not in t:
                cells += ["fails", "-"]
                continue
            mark = "" if ok[s].startswith("right") else " (wrong frames)"
            cells += [f"{t[s]}{mark}", f"{m / t[s].median:.2f}"]
            if s == "torchcodec exact" and ok[s].startswith("right"):
                ratios[label] = m / t[s].median
        print(f"| {label} | {t['mmtok']} | " + " | ".join(cells) + " |")
    print()
    mm_right = all(ok["mmtok"] == "right" for ok, _ in results.values())
    print(f"mmtok's frames equal a full decode's on every clip: {'yes' if mm_right else 'NO'}")
    if ratios:
        worst = max(ratios, key=ratios.get)
        print(f"Video target (issue 20), {busy_n} busy processes beside it: mmtok / torchcodec exact <= 1.0 on every "
              f"clip where torchcodec exact is right ({len(ratios)} of {len(results)}): worst {ratios[worst]:.2f} "
              f"({worst}); "
              f"{'met' if ratios[worst] <= 1.0 and mm_right else 'NOT met'}")
    if mem:
        print("\n### Peak memory while sampling (fresh process; growth = peak RSS - RSS after imports, MB)\n")
        print("| side | clip | after imports | peak | growth |\n|---|---|---|---|---|")
        growth = {}
        for side, label, a, b in mem:
            growth[side, label] = b - a
            print(f"| {side} | {label} | {a:.0f} | {b:.0f} | {b - a:.0f} |")
        short, long = growth["mmtok", "1 min"], growth["mmtok", "10 min"]
        print(f"\nmemory target: mmtok's growth 10 min / 1 min = {long:.0f} / {short:.0f} MB = {long / short:.2f} "
              f"(<= 1.10: {'met' if long <= 1.1 * short else 'NOT met'})")


if __name__ == "__main__":
    sys.exit(main())
