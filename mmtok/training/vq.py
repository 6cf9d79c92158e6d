"""Train the VQ image tokenizer on openly licensed photos: ``mmtok train-vq``.

Data: the Lomiri 16.04 wallpapers (Debian ``lomiri-wallpapers-16.04``, CC0 / CC-BY-4.0 / CC-BY-SA-4.0 per file,
fetched with ``apt-get download``) and the bundled scikit-image photos. Five wallpapers are held out for
evaluation (:data:`HELD_OUT`). Training and evaluation both run at the target resolution (256x256): random
256x256 crops (and flips) of each training photo resized to a short side of 256, 384, 512, 768 or 1024; the
evaluation set is 50 fixed crops of the held-out photos (5 photos x 5 scales x centre + one seeded position).

Every photo's origin, author and licence is written beside the weights as ``NAME.sources.json``
(:mod:`mmtok.training.vq_sources`; ``--sources-only`` writes just that file). Everything is resumable and deterministic
with a seed: checkpoints (safetensors + JSON, never pickle) hold the model, the optimizer, the step and every
random state. Code usage is logged from the first evaluation on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from ..core.bundled import asset_path
from ..core.manifest import save_safetensors
from ..core.progress import progress_bar
from ..errors import AssetError, InputError
from ..media.imageio import load_image
from ..vq.model import VQ_PRESETS, VQModel
from ..vq.quality import psnr_ssim
from .debian import default_cache, fetch_packages
from .vq_sources import WALLPAPER_PACKAGE, photo_sources, sources_path, write_sources

__all__ = ["HELD_OUT", "photo_files", "training_sources", "training_photos", "eval_crops", "evaluate", "main"]

HELD_OUT = ("Wine_by_Jakkub_Mede.jpg", "friends_by_Aitzol_Berasategi.jpg", "umang_by_Abhishek_Mudgal.jpg",
            "sunset_by_Aitzol_Berasategi.jpg", "greentock_by_Peter_Nerlich.jpg")
BUNDLED = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
BUNDLED_DIR = asset_path("images")
SCALES = (256, 384, 512, 768, 1024)


def _wallpapers(cache: Path | None = None) -> dict:
    """The unpacked Debian wallpaper package: {version, root, deb} (fetched once, then read from the cache)."""
    return fetch_packages([WALLPAPER_PACKAGE], cache or default_cache("photos"))[WALLPAPER_PACKAGE]


def photo_files(cache: Path | None = None, folder: Path | None = None,
                held_out: tuple[str, ...] = HELD_OUT) -> tuple[list[Path], list[Path]]:
    """(training photos, held-out photos): the Lomiri wallpapers + bundled photos, or every picture in ``folder``.

    A folder without pictures, or held-out names it lacks, raise :class:`InputError`; a photo missing from the
    Debian package or from ``assets/images`` raises :class:`AssetError`. Each names the file and the fix.
    """
    if not held_out:
        raise InputError("--held-out is empty: name at least one photo to evaluate on (never trained on)")
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"--photos {folder}: no such folder; give a folder of .jpg/.png photos, or leave "
                             f"--photos out to train on the Lomiri wallpapers")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not files:
            raise InputError(f"--photos {folder}: no .jpg/.jpeg/.png picture in this folder; put the training "
                             f"photos there, or leave --photos out to train on the Lomiri wallpapers")
        missing = [n for n in held_out if n not in {p.name for p in files}]
        if missing:
            raise InputError(f"--photos {folder}: the held-out photo(s) {', '.join(missing)} are not in this "
                             f"folder; name pictures of the folder with --held-out a.jpg,b.jpg")
        train = [p for p in files if p.name not in held_out]
        if not train:
            raise InputError(f"--photos {folder}: every picture is held out ({', '.join(held_out)}); add training "
                             f"photos or hold fewer out with --held-out")
        return train, [p for p in files if p.name in held_out]
    pkg = _wallpapers(cache)
    backgrounds = pkg["root"] / "usr/share/backgrounds"
    walls = sorted(backgrounds.glob("*.jpg"))
    for name in held_out:
        if not (backgrounds / name).is_file():
            if name not in HELD_OUT:
                raise InputError(f"--held-out {name}: no such wallpaper in {backgrounds}; name one of "
                                 f"{', '.join(p.name for p in walls)}")
            raise AssetError(f"{backgrounds / name} is missing: the Debian package {WALLPAPER_PACKAGE} "
                             f"{pkg['version']} should hold this held-out photo; delete {pkg['root']} (and "
                             f"{pkg['deb']} beside it) to fetch and unpack the package again")
    held = [p for p in walls if p.name in held_out]
    bundled = [BUNDLED_DIR / n for n in BUNDLED]
    for p in bundled:
        if not p.is_file():
            raise AssetError(f"{p} is missing: it is one of the bundled training photos (assets/README.md); "
                             f"restore it from the mmtok repository or reinstall mmtok")
    train = [p for p in walls if p.name not in held_out] + bundled
    if len(train) == len(bundled):
        raise AssetError(f"no wallpaper in {backgrounds}; delete {pkg['root']} to unpack {WALLPAPER_PACKAGE} again")
    return train, held


def training_sources(train: list[Path], held: list[Path], folder: Path | None = None,
                     cache: Path | None = None) -> list[dict]:
    """File, origin, author, licence and role of every photo (see :mod:`mmtok.training.vq_sources`)."""
    return photo_sources(train, held, None if folder is not None else _wallpapers(cache), BUNDLED_DIR)


def _pyramid(path: Path) -> list[torch.Tensor]:
    """uint8 [3, H, W] copies of a photo with short side 256, 384, ... (never below 256; at most its own size)."""
    x = load_image(path, draft=lambda w, h: (w // 4, h // 4) if min(w, h) >= 4 * 1024 else None).pixels
    short = min(x.shape[1:])
    out = []
    for s in SCALES:
        if s > max(short, 256) and s != SCALES[0]:
            break
        f = s / short
        size = (max(256, round(x.shape[1] * f)), max(256, round(x.shape[2] * f)))
        out.append(F.interpolate(x[None], size=size, mode="bicubic", antialias=True)[0].contiguous())
    return out


def training_photos(files: list[Path]) -> list[list[torch.Tensor]]:
    return [_pyramid(p) for p in files]


def eval_crops(files: list[Path], seed: int = 0) -> torch.Tensor:
    """The fixed evaluation set: uint8 [50, 3, 256, 256] (centre + one seeded crop per photo and scale)."""
    rng = np.random.default_rng(seed)
    crops = []
    for p in files:
        for level in _pyramid(p):
            h, w = level.shape[1:]
            for y, x in (((h - 256) // 2, (w - 256) // 2), (int(rng.integers(0, h - 255)), int(rng.integers(0, w - 255)))):
                crops.append(level[:, y:y + 256, x:x + 256])
    return torch.stack(crops)


def _batch(photos: list[list[torch.Tensor]], n: int, rng: np.random.Generator) -> torch.Tensor:
    out = []
    for _ in range(n):
        levels = photos[int(rng.integers(len(photos)))]
        img = levels[int(rng.integers(len(levels)))]
        h, w = img.shape[1:]
        y, x = int(rng.integers(0, h - 255)), int(rng.integers(0, w - 255))
        crop = img[:, y:y + 256, x:x + 256]
        out.append(crop.flip(-1) if rng.random() < 0.5 else crop)
    return torch.stack(out).float().div_(127.5).sub_(1.0)  # (B, 3, 256, 256) in [-1, 1]


@torch.no_grad()
def evaluate(model: VQModel, crops: torch.Tensor, batch: int = 10) -> dict:
    """PSNR and SSIM (:func:`mmtok.vq.quality.psnr_ssim`, torchmetrics) of the reconstructions of the uint8
    [N, 3, 256, 256] ``crops``, averaged over the crops; codebook usage and perplexity over all their codes."""
    was_training = model.training
    model.eval()
    psnr, ssim, codes = [], [], []
    for i in range(0, len(crops), batch):
        x = crops[i:i + batch].float().div(127.5).sub(1.0)
        c = model.encode(x)
        r = model.decode(c).clamp(-1, 1)
        pixels = ((r + 1) * 127.5).round().to(torch.uint8)  # what a user sees: the reconstruction as 8-bit pixels
        p, q = psnr_ssim(pixels, crops[i:i + batch])
        psnr += p.tolist()
        ssim += q.tolist()
        codes.append(c.reshape(-1))
    model.train(was_training)
    codes = torch.cat(codes)
    counts = torch.bincount(codes, minlength=model.cfg.codebook_size).double()
    p = counts / counts.sum()
    perplexity = float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))
    return {"psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim)), "images": len(crops),
            "codes_used": int((counts > 0).sum()), "usage": float((counts > 0).double().mean()),
            "perplexity": perplexity}


# --- checkpoints (safetensors + JSON only) -------------------------------------------------------------------
def save_checkpoint(path: Path, model: VQModel, opt: torch.optim.Optimizer, step: int, rng: np.random.Generator,
                    record: dict) -> None:
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    state = opt.state_dict()
    for pid, st in state["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = v.reshape(-1) if v.dim() == 0 else v.contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"step": step, "param_groups": state["param_groups"], "numpy_rng": rng.bit_generator.state,
            "record": record, "config": model.cfg.to_dict()}
    save_safetensors(tensors, path)  # through a temporary file: a checkpoint is never half written
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))


def load_checkpoint(path: Path, model: VQModel, opt: torch.optim.Optimizer, rng: np.random.Generator) -> tuple[int, dict]:
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    meta = json.loads(path.with_suffix(".json").read_text())
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict = {"state": {}, "param_groups": meta["param_groups"]}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            state["state"].setdefault(int(pid), {})[name] = v.reshape(()) if name == "step" else v
    opt.load_state_dict(state)
    torch.set_rng_state(tensors["rng.torch"])
    rng.bit_generator.state = meta["numpy_rng"]
    return meta["step"], meta["record"]


def export(model: VQModel, out: Path, record: dict) -> None:
    """Write the shippable weights (safetensors) and config + training record (JSON)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors(model.state_dict(), out)
    out.with_suffix(".json").write_text(json.dumps({"config": model.cfg.to_dict(), "training": record}, indent=1))


def code_spread_loss(model: VQModel, z: torch.Tensor, temperature: float = 100.0) -> torch.Tensor:
    """1 - H(mean soft assignment) / log K over a batch of latents [B, D, h, w]: 0 when every code is equally likely.

    A codebook-usage regulariser (as the diversity loss of vector-quantize-pytorch, but averaged over every
    position of the batch rather than per position): the soft assignments ``softmax(cos_sim * temperature)`` of
    all latents are averaged and their entropy pushed up, which spreads the encoder over the whole codebook.
    """
    q = model.quantizer
    x = F.normalize(q.project_in(rearrange(z, "b d h w -> (b h w) d")), dim=-1)
    codebook = F.normalize(q._codebook.embed[0], dim=-1)  # (K, codebook_dim), the EMA codebook (no gradient)
    p = (x @ codebook.T * temperature).softmax(dim=-1).mean(dim=0)
    return 1.0 - -(p * p.clamp_min(1e-12).log()).sum() / math.log(p.numel())


def _lr(step: int, total: int, base: float, warmup: int = 200) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="mmtok train-vq", description="Train the VQ image tokenizer.")
    ap.add_argument("--preset", default="vq-f8-4096", choices=sorted(VQ_PRESETS))
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=default_cache("vq-train"), help="checkpoints and logs")
    ap.add_argument("--export", type=Path, default=None, help="where to write the weights (default assets/vq/)")
    ap.add_argument("--time-limit", type=float, default=2 * 3600, help="stop (and export) after this many seconds")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--checkpoint-every", type=int, default=100)
    ap.add_argument("--photos", type=Path, default=None, help="train on the pictures in this folder instead")
    ap.add_argument("--held-out", default=",".join(HELD_OUT), help="comma-separated names held out for evaluation")
    ap.add_argument("--spread", type=float, default=0.0,
                    help="weight of the code-spread loss (raises codebook usage; recorded per step range)")
    ap.add_argument("--sources-only", action="store_true",
                    help="only write NAME.sources.json (every photo's origin, author, licence) beside the export")
    return ap


@dataclass
class _Run:
    """One ``train-vq`` run: its settings, model, optimizer, data, random state, training record and step."""

    args: argparse.Namespace
    model: VQModel
    opt: torch.optim.Optimizer
    photos: list[list[torch.Tensor]]  # per training photo: uint8 [3, H, W] at each scale
    crops: torch.Tensor  # uint8 [50, 3, 256, 256]: the evaluation set
    rng: np.random.Generator  # draws the training crops
    work: Path  # checkpoint and log.jsonl
    record: dict
    step: int = 0

    @property
    def checkpoint(self) -> Path:
        return self.work / "checkpoint.safetensors"

    def save(self) -> None:
        save_checkpoint(self.checkpoint, self.model, self.opt, self.step, self.rng, self.record)


def _open_phase(record: dict, step: int, args: argparse.Namespace) -> None:
    """Continue the last phase or open one. One phase per setting: steps from_step..to_step ran with that spread
    and lr under a cosine schedule set for schedule_steps (a run stopped by --time-limit ends before its schedule)."""
    phases = record.setdefault("phases", [])
    for ph in phases:  # checkpoints of earlier versions called the schedule length "steps"
        ph.setdefault("schedule_steps", ph.pop("steps", None))
    if not phases or step < args.steps and (phases[-1]["spread"], phases[-1]["lr"], phases[-1]["schedule_steps"]) != (
            args.spread, args.lr, args.steps):
        phases.append({"from_step": step, "to_step": step, "schedule_steps": args.steps, "spread": args.spread,
                       "lr": args.lr})


def _start(args: argparse.Namespace, work: Path, rng: np.random.Generator, train_files: list[Path],
           held: list[Path]) -> _Run:
    """Load the photos and the evaluation crops, build the model and optimizer, resume from ``work``'s checkpoint."""
    photos, crops = training_photos(train_files), eval_crops(held, args.seed)
    model = VQModel(VQ_PRESETS[args.preset])
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    record: dict = {"preset": args.preset, "seed": args.seed, "batch": args.batch, "lr": args.lr,
                    "train_photos": [p.name for p in train_files], "held_out": [p.name for p in held],
                    "eval_images": len(crops), "seconds": 0.0, "evals": []}
    run = _Run(args, model, opt, photos, crops, rng, work, record)
    if run.checkpoint.exists():
        run.step, run.record = load_checkpoint(run.checkpoint, model, opt, rng)
        print(f"resumed at step {run.step} from {run.checkpoint}", file=sys.stderr)
    _open_phase(run.record, run.step, args)
    return run


def _train_step(model: VQModel, opt: torch.optim.Optimizer, x: torch.Tensor, lr: float,
                spread: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One AdamW step at ``lr`` on x [B, 3, 256, 256] in [-1, 1]: (loss, mse, codes [B, h, w]), detached."""
    for g in opt.param_groups:
        g["lr"] = lr
    z = model.encoder(x)
    q, codes, qloss = model.quantize(z)
    rec = model.decoder(q)
    mse = F.mse_loss(rec, x)
    loss = mse + F.l1_loss(rec, x) + qloss
    if spread:
        loss = loss + spread * code_spread_loss(model, z)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.detach(), mse.detach(), codes


def _train(run: _Run) -> None:
    """Train until ``--steps`` or ``--time-limit``: log every step, evaluate and checkpoint on schedule."""
    args = run.args
    start, spent = time.time(), run.record["seconds"]
    bar = progress_bar(total=args.steps, initial=run.step, desc=f"train-vq {args.preset}")
    run.model.train()
    with open(run.work / "log.jsonl", "a") as log:
        while run.step < args.steps and spent + time.time() - start < args.time_limit:
            x = _batch(run.photos, args.batch, run.rng)
            loss, mse, codes = _train_step(run.model, run.opt, x, _lr(run.step, args.steps, args.lr), args.spread)
            run.step += 1
            run.record["phases"][-1]["to_step"] = run.step
            psnr = float(10 * torch.log10(4.0 / mse))  # range [-1, 1] -> peak-to-peak 2
            used = int(codes.unique().numel())
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", psnr=f"{psnr:.2f}", codes=used)
            entry = {"step": run.step, "loss": round(loss.item(), 5), "batch_psnr": round(psnr, 3),
                     "batch_codes": used, "seconds": round(spent + time.time() - start, 1)}
            if run.step % args.eval_every == 0 or run.step == args.steps:
                entry["eval"] = evaluate(run.model, run.crops)
                run.record["evals"].append(entry)
                print(json.dumps(entry), file=sys.stderr)
            log.write(json.dumps(entry) + "\n")
            log.flush()
            if run.step % args.checkpoint_every == 0:
                run.record["seconds"] = round(spent + time.time() - start, 1)
                run.save()
    bar.close()
    run.record["seconds"] = round(spent + time.time() - start, 1)


def _finish(run: _Run, export_path: Path, sources: list[dict]) -> None:
    """Evaluate once more, checkpoint, export the weights with the record and the photos' sources; print a summary."""
    run.record["steps"] = run.step
    run.record["final"] = evaluate(run.model, run.crops)
    run.record["machine"] = f"{os.cpu_count()} CPU cores, torch {torch.__version__}"
    run.save()
    export(run.model, export_path, run.record)
    write_sources(sources_path(export_path), sources)
    print(json.dumps({"exported": str(export_path), **run.record["final"], "steps": run.step}))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    work = args.work / args.preset
    work.mkdir(parents=True, exist_ok=True)
    export_path = args.export or asset_path("vq", f"{args.preset}.safetensors")
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_files, held = photo_files(folder=args.photos, held_out=tuple(n for n in args.held_out.split(",") if n))
    sources = training_sources(train_files, held, args.photos)
    if args.sources_only:
        write_sources(sources_path(export_path), sources)
        print(f"wrote {sources_path(export_path)} ({len(sources)} photos)")
        return 0
    run = _start(args, work, rng, train_files, held)
    _train(run)
    _finish(run, export_path, sources)
    return 0

if __name__ == "__main__":
    sys.exit(main())
