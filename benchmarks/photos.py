"""The image benchmarks' photos: the wallpaper set and a typical-photo set made from it once, cached.

- :func:`wallpapers`: the bundled JPEGs (assets/images) and the 15 Lomiri 16.04 wallpapers (CC0 / CC-BY / CC-BY-SA
  photos, 0.27 to 15.9 MP, most of them progressive; Debian package ``lomiri-wallpapers-16.04``, fetched with
  ``apt-get download`` into ~/.cache/mmtok/photos; bundled JPEGs only if that fails).
- :func:`typical_photos`: what web and phone photos usually are. Eight of those photos (one bundled, seven Lomiri)
  resized with PIL (Lanczos) to 640, 1024, 1600 and 2048 px wide (two photos per width, picked so that every file is
  0.3-3 MP: 4:3, 3:2, 16:9 and one portrait each), each saved four ways: quality 85, baseline and progressive
  (libjpeg's standard progression, PIL's ``progressive=True``), 4:2:0 and 4:4:4 chroma — 32 JPEGs, written once
  into ~/.cache/mmtok/photos/typical-v1 (a new recipe takes a new directory name).
"""

from __future__ import annotations

import sys
from pathlib import Path

import mmtok
from mmtok.training.debian import default_cache, fetch_packages

__all__ = ["wallpapers", "typical_photos", "TYPICAL"]

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "assets" / "images"
PACKAGE = "lomiri-wallpapers-16.04"
# (width, source photo): two per width, every result within 0.3-3 MP
TYPICAL = [(640, "Dragonfly_by_Bolly.jpg"), (640, "Wine_by_Jakkub_Mede.jpg"),
           (1024, "seeding_by_Clements_Engelhardt.jpg"), (1024, "picosdeeuropa_by_Aitzol_Berasategi.jpg"),
           (1600, "sunset_by_Aitzol_Berasategi.jpg"), (1600, "greentock_by_Peter_Nerlich.jpg"),
           (2048, "Bridge_by_Sander_Klootwijk.jpg"), (2048, "life_by_Aitzol_Berasategi.jpg")]
VARIANTS = [(progressive, subsampling) for progressive in (False, True) for subsampling in (2, 0)]  # 2: 4:2:0, 0: 4:4:4
QUALITY = 85


def _lomiri() -> Path | None:
    try:
        return fetch_packages([PACKAGE], default_cache("photos"))[PACKAGE]["root"] / "usr/share/backgrounds"
    except mmtok.MmtokError as e:
        print(f"(lomiri wallpapers unavailable: {e}; using bundled JPEGs only)", file=sys.stderr)
        return None


def wallpapers() -> list[Path]:
    """The bundled JPEGs, then the Lomiri wallpapers not bundled (sorted by name)."""
    files = sorted(BUNDLED.glob("*.jpg"))
    lomiri = _lomiri()
    if lomiri is not None:
        names = {f.name for f in files}
        files += sorted(f for f in lomiri.glob("*.jpg") if f.name not in names)
    return files


def typical_photos() -> list[Path]:
    """The 32 typical photos (see the module docstring), made on first use; in :data:`TYPICAL` order, then
    baseline 4:2:0, baseline 4:4:4, progressive 4:2:0, progressive 4:4:4. Needs the Lomiri package."""
    from PIL import Image

    out_dir = default_cache("photos") / "typical-v1"
    files = [out_dir / f"{Path(name).stem}_{w}_{'prog' if prog else 'base'}_{'420' if sub else '444'}.jpg"
             for w, name in TYPICAL for prog, sub in VARIANTS]
    if all(f.is_file() for f in files):
        return files
    lomiri = _lomiri()
    if lomiri is None:
        raise mmtok.AssetError(f"the typical-photo set is made from the {PACKAGE} package, which could not be fetched")
    out_dir.mkdir(parents=True, exist_ok=True)
    it = iter(files)
    for w, name in TYPICAL:
        src = BUNDLED / name if (BUNDLED / name).is_file() else lomiri / name
        im = Image.open(src)
        h = round(im.size[1] * w / im.size[0])
        assert 0.3e6 <= w * h <= 3e6, (name, w, h)
        im.draft("RGB", (2 * w, 2 * h))  # a DCT-scaled decode, still >= 2x the target: Lanczos does the filtering
        small = im.convert("RGB").resize((w, h), Image.LANCZOS)
        for prog, sub in VARIANTS:
            f = next(it)
            tmp = f.with_suffix(".tmp")
            small.save(tmp, "JPEG", quality=QUALITY, subsampling=sub, progressive=prog)
            tmp.replace(f)
    return files
