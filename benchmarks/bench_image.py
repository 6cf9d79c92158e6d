"""Fixed-224 image encoding against a PIL decode of the same file, on typical photos and on wallpapers.

Run: .venv/bin/python benchmarks/bench_image.py [--rounds 5] [--min-seconds 1] [--busy 2] [--tolerance]
Photos (benchmarks/photos.py): the typical-photo set, 32 JPEGs of 0.3-2.8 MP (640, 1024, 1600 and 2048 px wide,
quality 85, baseline and progressive, 4:2:0 and 4:4:4, made with PIL from the bundled and Lomiri photos once, cached
in ~/.cache/mmtok/photos), and the wallpaper set: the bundled JPEGs and the 15 Lomiri 16.04 wallpapers (0.27-15.9
MP, 12 of them progressive).

Sides, run interleaved per photo (benchmarks/harness.py: a warm-up call each, then rounds a, b, c, a, b, c, ... for
at least ``--rounds`` rounds and ``--min-seconds``; median, range, mean and CPU time per call):
- PIL decode: ``Image.open(p).convert("RGB")`` (+ ``load()``), what a user does to get the pixels;
- mmtok: ``ImageTokenizer().encode(p)``, the default fixed-224 config (squash, 196 normalized patches);
- timm: ``create_transform`` of ``vit_base_patch16_224`` (resize 248 bicubic, center crop 224, normalize) on
  ``Image.open(p).convert("RGB")`` + a reshape into 196 patches — the pipeline a timm user would write;
  the whole script runs torch on one thread, as a DataLoader worker does (mmtok's encode does anyway): with
  torch's default two, the timm side's OpenMP threads kept spinning after each call and took the CPU from the
  sides timed after it (PIL 2.8 -> 7.8 ms, mmtok 3.2 -> 8.4 ms on a 640x480 photo in one loaded run);
- wallpapers only, "all scans": ``ImageConfig(first_pass=False)``, what skipping a progressive JPEG's luma AC
  refinements buys.
Batch row: the typical set as one ``ImageTokenizer().encode_batch(paths)`` (every core, one torch thread per
worker) against PIL decoding the set one file after the other on one thread, interleaved; photos/s each.

Targets (issue 20): on the typical set, mmtok <= 1.3x PIL on every photo and <= 1.0x over the set (sum of the
medians); encode_batch on both cores >= 1.6x PIL's single-thread photos/s. Issue 3 (kept): <= 1.3x PIL on every
wallpaper; >= 2x faster than timm on every wallpaper (shown for the typical photos too, without a target).
--tolerance prints, per resize policy and set, how far the default (DCT scale + first pass + fast chroma) and the
DCT scale alone are from a full decode (``ImageConfig(draft=False)``), and what the first pass and fast chroma each
change.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import simplejpeg
import torch
from PIL import Image

import mmtok
from harness import Timing, add_busy_arg, busy, interleaved, load, machine
from mmtok.core.threads import available_cores
from photos import typical_photos, wallpapers

photos = wallpapers  # bench_models reads the wallpaper set under this name

__all__ = ["photos", "main"]


def pil_decode(f: Path) -> Image.Image:
    im = Image.open(f).convert("RGB")
    im.load()
    return im


class Timm:
    """timm's eval transform for vit_base_patch16_224 and a reshape into 196 patch vectors."""

    def __init__(self) -> None:
        import timm
        from timm.data import create_transform, resolve_data_config

        model = timm.create_model("vit_base_patch16_224", pretrained=False)
        self.transform = create_transform(**resolve_data_config({}, model=model))

    def __call__(self, f: Path) -> torch.Tensor:
        x = self.transform(Image.open(f).convert("RGB"))  # (3, 224, 224) float
        return x.reshape(3, 14, 16, 14, 16).permute(1, 3, 2, 4, 0).reshape(196, 768)


@dataclass
class Row:
    path: Path
    size: tuple[int, int]
    kind: str  # baseline / progressive, chroma subsampling
    decoded: str  # how mmtok decoded it: DCT scale, first pass, fast chroma
    t: list[Timing]  # PIL, mmtok, timm[, all scans]

    @property
    def ratio(self) -> float:
        return self.t[1].median / self.t[0].median


def describe(f: Path, tok: mmtok.ImageTokenizer) -> tuple[tuple[int, int], str, str]:
    im = Image.open(f)
    sub = {(2, 2): "4:2:0", (2, 1): "4:2:2", (1, 1): "4:4:4"}.get(im.layer[0][1:3], "?") if im.layer else "grey"
    kind = f"{'progressive' if im.info.get('progressive') else 'baseline'} {sub}"
    loaded, _ = tok.load(f)
    decoded = (f"1/{round(1 / loaded.scale)}" + (", first pass" if loaded.first_pass else "")
               + (", fast chroma" if loaded.fast_chroma else ""))
    return im.size, kind, decoded


def bench_set(files: list[Path], args, tok, all_scans=None) -> list[Row]:
    timm_side = Timm()
    rows = []
    for f in files:
        fns = [lambda f=f: pil_decode(f), lambda f=f: tok.encode(f), lambda f=f: timm_side(f)]
        if all_scans is not None:
            fns.append(lambda f=f: all_scans.encode(f))
        _, t = interleaved(fns, args.rounds, args.min_seconds, slow_rounds=args.rounds)
        rows.append(Row(f, *describe(f, tok), t))
        print(f"  {f.name}: PIL {t[0]}; mmtok {t[1]}; timm {t[2]}" + (f"; all scans {t[3]}" if all_scans else ""),
              file=sys.stderr, flush=True)
    return rows


def table(title: str, rows: list[Row]) -> None:
    extra = len(rows[0].t) > 3
    print(f"\n### {title}\n")
    print("| photo | size | MP | KB | JPEG | mmtok decodes at | PIL decode ms (range) | mmtok encode ms (range) "
          "| mmtok / PIL | CPU ms PIL / mmtok | timm ms | timm / mmtok |" + (" mmtok, all scans ms |" if extra else ""))
    print("|---" * (12 + extra) + "|")
    for r in rows:
        a, b, c = r.t[:3]
        w, h = r.size
        print(f"| {r.path.name} | {w}x{h} | {w * h / 1e6:.2f} | {r.path.stat().st_size // 1024} | {r.kind} "
              f"| {r.decoded} | {a.median:.2f} ({a.low:.2f}-{a.high:.2f}) | {b.median:.2f} ({b.low:.2f}-{b.high:.2f}) "
              f"| {r.ratio:.2f} | {a.cpu:.2f} / {b.cpu:.2f} | {c.median:.1f} | {c.median / b.median:.2f} |"
              + (f" {r.t[3].median:.1f} |" if extra else ""))


def verdicts(name: str, rows: list[Row], set_bound: float | None, timm_target: bool) -> list[str]:
    worst = max(rows, key=lambda r: r.ratio)
    total = [sum(r.t[i].median for r in rows) for i in range(3)]
    slowest = min(rows, key=lambda r: r.t[2].median / r.t[1].median)
    ts = slowest.t[2].median / slowest.t[1].median
    out = [f"{name}: mmtok <= 1.3x PIL decode on every photo: worst {worst.ratio:.2f} ({worst.path.name}) — "
           f"{'met' if worst.ratio <= 1.3 else 'NOT met'}"]
    s = total[1] / total[0]
    out.append(f"{name}: over the set (sum of {len(rows)} medians) PIL {total[0]:.0f} ms, mmtok {total[1]:.0f} ms: "
               f"{s:.2f}x" + (f", target <= {set_bound}x — {'met' if s <= set_bound else 'NOT met'}"
                              if set_bound is not None else ""))
    busiest = max(rows, key=lambda r: r.t[1].cpu / r.t[0].cpu)
    out.append(f"{name}: CPU time per call, mmtok / PIL decode, on every photo: worst "
               f"{busiest.t[1].cpu / busiest.t[0].cpu:.2f} ({busiest.path.name}) (no bound set: the work itself, to "
               f"which the wall time beside busy processes adds waits for a core)")
    meanest = max(rows, key=lambda r: r.t[1].mean / r.t[0].mean)
    out.append(f"{name}: mean wall time per call, mmtok / PIL decode, on every photo: worst "
               f"{meanest.t[1].mean / meanest.t[0].mean:.2f} ({meanest.path.name}) (no bound set: the expected cost, "
               f"waits included, which beside busy processes moves less than the median)")
    verdict = ("met" if ts >= 2 else "NOT met") if timm_target else "no target here (issue 3 set it on the wallpapers)"
    out.append(f"{name}: >= 2x faster than timm on every photo: least {ts:.2f}x ({slowest.path.name}), "
               f"{total[2] / total[1]:.2f}x over the set — {verdict}")
    return out


def bench_batch(files: list[Path], args, tok) -> list[str]:
    """The set through encode_batch (every core) against PIL one file after the other, and mmtok one at a time."""
    n = len(files)
    outs, (p, b, s) = interleaved([lambda: [pil_decode(f) for f in files], lambda: tok.encode_batch(files),
                                   lambda: [tok.encode(f) for f in files]], args.rounds, args.min_seconds)
    same = all(torch.equal(x.patches, y.patches) for x, y in zip(outs[1], outs[2]))
    threads = available_cores()
    print(f"\n### Batch: the {n} typical photos\n")
    print("| side | ms for the set (range) | CPU ms | photos/s | vs PIL |")
    print("|---|---|---|---|---|")
    for label, t in (("PIL decode, one thread", p), (f"mmtok encode_batch, {threads} threads", b),
                     ("mmtok encode, one at a time", s)):
        print(f"| {label} | {t.median:.0f} ({t.low:.0f}-{t.high:.0f}) | {t.cpu:.0f} | {n / t.median * 1e3:.0f} "
              f"| {p.median / t.median:.2f}x |")
    x = p.median / b.median
    return [f"batch: encode_batch on {threads} threads {n / b.median * 1e3:.0f} photos/s vs PIL one thread "
            f"{n / p.median * 1e3:.0f} photos/s: {x:.2f}x, target >= 1.6x — {'met' if x >= 1.6 else 'NOT met'} "
            f"(patches {'equal to' if same else 'NOT equal to'} encode one at a time)"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per photo (at least; see --min-seconds)")
    ap.add_argument("--min-seconds", type=float, default=1.0, help="at least this long per photo")
    ap.add_argument("--sets", default="typical,wallpapers", help="typical, wallpapers, batch (comma-separated)")
    ap.add_argument("--tolerance", action="store_true", help="also measure the draft / first-pass tolerance")
    add_busy_arg(ap)
    args = ap.parse_args()
    sets = set(args.sets.split(","))
    if "typical" in sets:
        sets.add("batch")
    tok = mmtok.ImageTokenizer()
    typical = typical_photos()
    lines = []
    import timm

    torch.set_num_threads(1)  # see the module docstring (timm side); encode_batch's workers run one each too
    with busy(args.busy):
        print(machine(Pillow=Image.__version__, simplejpeg=simplejpeg.__version__, timm=timm.__version__))
        print(f"mmtok encode on one torch thread; encode_batch on {available_cores()} threads")
        if "typical" in sets:
            rows = bench_set(typical, args, tok)
            table(f"Typical photos ({len(rows)} JPEGs, quality 85)", rows)
            lines += verdicts("typical", rows, 1.0, timm_target=False)
        if "batch" in sets:
            lines += bench_batch(typical, args, tok)
        if "wallpapers" in sets:
            rows = bench_set(wallpapers(), args, tok, mmtok.ImageTokenizer(mmtok.ImageConfig(first_pass=False)))
            table(f"Wallpapers ({len(rows)} photos)", rows)
            lines += verdicts("wallpapers", rows, None, timm_target=True)
        print(f"\nload average (1, 5, 15 min) at end {load()}\n")
    print("\n".join(lines))
    if args.tolerance:
        for name, files in (("typical", typical), ("wallpapers", wallpapers())):
            print(f"\n### Tolerance against a full decode: {name} ({len(files)} photos)\n")
            tolerance([f for f in files if Image.open(f).format == "JPEG"])


def tolerance(files: list[Path]) -> None:
    """Per policy: the worst per-photo mean and the worst pixel of |a - b| over every view (tiles: thumbnail and
    mosaic), for the default (DCT scale + first pass + fast chroma) and for the DCT scale alone against a full
    decode, for the first pass alone (the DCT scale with it against without) and for fast chroma alone (the
    default against ``fast_chroma=False``)."""
    policies = {"fixed squash": mmtok.ImageConfig(), "fixed crop": mmtok.ImageConfig(aspect="crop"),
                "fixed pad": mmtok.ImageConfig(aspect="pad"), "dynamic": mmtok.ImageConfig(resize="dynamic"),
                "tiles": mmtok.ImageConfig(resize="tiles")}
    print("| policy | photos with first pass / fast chroma | default vs full: worst mean (photo) / worst pixel "
          "(photo) | DCT scale alone vs full | first pass alone | fast chroma alone |")
    print("|---|---|---|---|---|---|")
    for name, cfg in policies.items():
        no_chroma = dataclasses.replace(cfg, fast_chroma=False)
        toks = [mmtok.ImageTokenizer(c) for c in (cfg, no_chroma, dataclasses.replace(no_chroma, first_pass=False),
                                                  dataclasses.replace(cfg, draft=False))]
        stats: list[list[tuple[float, float, str]]] = [[], [], [], []]
        n_first = n_chroma = 0
        for f in files:
            default, scans, scale, full = (torch.cat([v.flatten() for v in t.preprocess_views(f)]).float()
                                           for t in toks)
            loaded = toks[0].load(f)[0]
            n_first, n_chroma = n_first + loaded.first_pass, n_chroma + loaded.fast_chroma
            for k, (a, b) in enumerate(((default, full), (scale, full), (scans, scale), (default, scans))):
                e = (a - b).abs()
                stats[k].append((e.mean().item(), e.max().item(), f.name))
        cells = []
        for st in stats:
            m, p = max(st), max(st, key=lambda r: r[1])
            cells.append(f"{m[0]:.2f} ({m[2]}) / {p[1]:.0f} ({p[2]})")
        print(f"| {name} | {n_first} / {n_chroma} of {len(files)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
