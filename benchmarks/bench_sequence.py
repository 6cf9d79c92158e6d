"""pack + unpack of a 32k-token interleaved sequence with ~100 spans, against plain concatenation doing the same work.

Run: .venv/bin/python benchmarks/bench_sequence.py [--rounds 100] [--busy 2]
Target (issue 2): pack + unpack <= 5 ms on the project's 2-core machine.

Two pairs, each mmtok against what a user would write instead for the same result (issue 20: equal work):
- every feature row concatenated: ``pack``, then reading ``seq.features`` (which concatenates each modality's rows
  on first read), then ``unpack`` — against ``torch.cat`` of the ids and of each modality's features, then slicing
  every segment's ids and feature rows back;
- no feature copy: ``pack`` + ``unpack`` (``pack`` keeps the segments' feature tensors as parts; ``unpack`` hands
  them back) — against ``torch.cat`` of the ids alone, slicing them back, each segment keeping its own features.
mmtok does more on top in both: it validates every id and the placeholder counts against the feature rows and
computes modality, 1D and 3D positions and spans. mmtok runs these ops on one torch thread
(``mmtok.core.threads``); the baselines run as a user's code does, on torch's default threads (2 here), and the
first baseline is timed on one thread too, for context. The warm-up outputs of each pair are checked equal (ids and
feature rows of every segment). Also timed, without a baseline: pack and unpack alone, save and load.

Timing (``benchmarks/harness.py``): the five sides interleaved (a, b, c, d, e, a, ...), at least
``--rounds`` rounds and 2 s; medians (the verdicts), ranges, means, CPU per call; the machine line first, the load
at the end.
"""

from __future__ import annotations

import argparse
import tempfile

import torch

import mmtok
from harness import add_busy_arg, busy, interleaved, load, machine  # benchmarks/ is on the path as a script
from mmtok import Modality, Segment, grid_positions, pack, sequential_positions
from mmtok.core.threads import one_torch_thread

TARGET_MS = 5.0  # issue 2: pack + unpack


def build_segments(vocab: mmtok.Vocab, g: torch.Generator) -> list[Segment]:
    segs = []
    img, aud = vocab.placeholder(Modality.IMAGE), vocab.placeholder(Modality.AUDIO)
    for i in range(100):
        kind = i % 3
        if kind == 0:  # a paragraph of text
            n = 300
            segs.append(Segment(Modality.TEXT, torch.randint(0, vocab.text_size, (n,), generator=g),
                                sequential_positions(n), meta={"source": f"text{i}"}))
        elif kind == 1:  # a 224x224 image: 14x14 patches of 16x16x3 pixels, framed by markers
            ids = torch.tensor([vocab.special("<start_of_image>")] + [img] * 196 + [vocab.special("<end_of_image>")])
            pos = torch.cat([torch.zeros(3, 1, dtype=torch.int64), grid_positions(1, 14, 14) + 1,
                             torch.full((3, 1), 15, dtype=torch.int64)], 1)
            segs.append(Segment(Modality.IMAGE, ids, pos, torch.randn(196, 768, generator=g),
                                {"source": f"img{i}.jpg", "grid": [14, 14]}))
        else:  # ~19 s of audio at 25 tokens/s, 4 stacked 80-mel frames per token
            n = 478
            ids = torch.tensor([vocab.special("<start_of_audio>")] + [aud] * n + [vocab.special("<end_of_audio>")])
            segs.append(Segment(Modality.AUDIO, ids, sequential_positions(n + 2), torch.randn(n, 320, generator=g),
                                {"source": f"clip{i}.flac", "duration": n / 25}))
    return segs


Pieces = list[tuple[torch.Tensor, torch.Tensor | None]]  # per segment: its ids and its feature rows


def baseline_concat(segs: list[Segment]) -> Pieces:
    """The plain way with every feature row concatenated: cat the ids and each modality's features, slice back."""
    ids = torch.cat([s.input_ids for s in segs])
    feats = {m: torch.cat([s.features for s in segs if s.modality == m]) for m in (Modality.IMAGE, Modality.AUDIO)}
    out, start, taken = [], 0, {m: 0 for m in feats}
    for s in segs:
        rows = None
        if s.features is not None:
            rows = feats[s.modality][taken[s.modality]:taken[s.modality] + len(s.features)]
            taken[s.modality] += len(s.features)
        out.append((ids[start:start + len(s)], rows))
        start += len(s)
    return out


def baseline_ids(segs: list[Segment]) -> Pieces:
    """The plain way without copying features: cat the ids, slice them back; each segment keeps its features."""
    ids = torch.cat([s.input_ids for s in segs])
    out, start = [], 0
    for s in segs:
        out.append((ids[start:start + len(s)], s.features))
        start += len(s)
    return out


def mmtok_concat(segs: list[Segment], vocab: mmtok.Vocab) -> Pieces:
    seq = pack(segs, vocab)
    for k in seq.features:  # the first read concatenates the modality's rows
        seq.features[k]
    return [(s.input_ids, s.features) for s in seq.unpack()]


def mmtok_plain(segs: list[Segment], vocab: mmtok.Vocab) -> Pieces:
    return [(s.input_ids, s.features) for s in pack(segs, vocab).unpack()]


def one_thread(fn, *args):
    """``fn(*args)`` with torch on one thread, as mmtok runs pack, unpack and the feature read."""
    with one_torch_thread():
        return fn(*args)


def same(a: Pieces, b: Pieces) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) and ((f is None and g is None) or (
        f is not None and g is not None and torch.equal(f, g))) for (x, f), (y, g) in zip(a, b))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=100, help="interleaved rounds (and at least 2 s of them)")
    add_busy_arg(ap)
    args = ap.parse_args()
    vocab = mmtok.TextTokenizer.default().vocab
    segs = build_segments(vocab, torch.Generator().manual_seed(0))
    seq = pack(segs, vocab)
    assert seq.unpack() == segs
    with busy(args.busy):
        print(machine())
        names = ["mmtok: pack + read seq.features + unpack", "baseline: cat ids and features, slice back",
                 "mmtok: pack + unpack (features not copied)", "baseline: cat ids, slice back, features kept",
                 "(context) the first baseline on one torch thread"]
        outs, t = interleaved([lambda: mmtok_concat(segs, vocab), lambda: baseline_concat(segs),
                               lambda: mmtok_plain(segs, vocab), lambda: baseline_ids(segs),
                               lambda: one_thread(baseline_concat, segs)], args.rounds, 2.0)
        _, parts = interleaved([lambda: pack(segs, vocab), lambda: seq.unpack()], args.rounds, 1.0)
        with tempfile.TemporaryDirectory() as d:
            _, io = interleaved([lambda: seq.save(d), lambda: mmtok.TokenSequence.load(d)], 10, 1.0)
        end = load()
    truth = baseline_concat(segs)
    equal = [same(o, truth) for o in outs]
    rows = sum(seq.features.shape(k)[0] * seq.features.shape(k)[1] for k in seq.features) * 4 / 2**20
    print(f"sequence: {len(seq):,} tokens, {len(seq.spans)} spans, features "
          + ", ".join(f"{k} {seq.features.shape(k)}" for k in seq.features) + f" ({rows:.0f} MB); outputs equal "
          f"to the baseline's: {'yes' if all(equal) else 'NO ' + str(equal)}")
    print("\n| step | median ms | range ms | mean ms | CPU ms | rounds |\n|---|---|---|---|---|---|")
    for name, x in [*zip(names, t), ("pack alone", parts[0]), ("unpack alone", parts[1]),
                    ("save (manifest.json + features.safetensors)", io[0]), ("load (with full validation)", io[1])]:
        print(f"| {name} | {x.median:.2f} | {x.low:.2f}-{x.high:.2f} | {x.mean:.2f} | {x.cpu:.2f} | {x.rounds} |")
    print(f"\nload average (1, 5, 15 min) at end {end}\n")
    concat, plain = t[0].median / t[1].median, t[2].median / t[3].median
    print(f"ratio, every feature row concatenated: mmtok / baseline = {concat:.2f} (no bound set; mmtok validates "
          f"and computes positions on top)")
    print(f"ratio, no feature copy: mmtok / baseline = {plain:.2f} (no bound set)")
    for label, x in (("target (issue 2) pack + unpack", t[2]),
                     ("the same bound with every feature row concatenated (pack + read seq.features + unpack)", t[0])):
        print(f"{label} <= {TARGET_MS:g} ms: {x.median:.2f} ms ({x.low:.2f}-{x.high:.2f}; mean {x.mean:.2f}, CPU "
              f"{x.cpu:.2f}): {'met' if x.median <= TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
