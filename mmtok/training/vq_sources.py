"""Where the VQ training photos come from and under which licence: ``NAME.sources.json`` beside the weights.

``mmtok train-vq`` writes one entry per photo it trained on or held out (``role``: ``train`` / ``held-out``):
the file, its origin, author and licence. Nothing is guessed:

- Lomiri wallpapers: author and licence come from the Debian package's machine-readable copyright file
  (``usr/share/doc/lomiri-wallpapers-16.04/copyright``, DEP-5), read from the unpacked package;
- the bundled scikit-image photos (``assets/images``): :data:`BUNDLED_SOURCES`, copied from scikit-image's own
  notes on each picture (the docstrings of ``skimage.data.astronaut`` ... in Debian ``python3-skimage`` 0.19.3);
- any other picture (``--photos DIR``): ``licence`` is ``null`` — the person training knows it, mmtok does not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import AssetError

__all__ = ["BUNDLED_SOURCES", "WALLPAPER_PACKAGE", "debian_copyright", "photo_sources", "sources_path", "write_sources"]

WALLPAPER_PACKAGE = "lomiri-wallpapers-16.04"
_SKIMAGE = "skimage.data.{} in Debian python3-skimage 0.19.3-8 (skimage/data/_fetchers.py)"
BUNDLED_SOURCES: dict[str, dict[str, str]] = {  # what scikit-image says of each picture, quoted in "note"
    "astronaut.png": {"author": "NASA (photograph of Eileen Collins)", "licence": "public domain",
                      "note": "No known copyright restrictions, released into the public domain."},
    "chelsea.png": {"author": "Stefan van der Walt", "licence": "CC0",
                    "note": "No copyright restrictions.  CC0 by the photographer (Stefan van der Walt)."},
    "coffee.png": {"author": "Rachel Michetti (courtesy of Pikolo Espresso Bar)", "licence": "CC0",
                   "note": "No copyright restrictions.  CC0 by the photographer (Rachel Michetti)."},
    "rocket.jpg": {"author": "SpaceX", "licence": "public domain",
                   "note": "The image was captured by SpaceX and released in the public domain"},
}


def sources_path(weights: Path) -> Path:
    """``assets/vq/vq-f8-4096.safetensors`` -> ``assets/vq/vq-f8-4096.sources.json``."""
    return weights.with_name(weights.stem + ".sources.json")


def debian_copyright(path: Path) -> dict[str, dict[str, str]]:
    """{file name: {"copyright", "licence"}} from the ``Files:`` stanzas of a DEP-5 copyright file."""
    if not path.is_file():
        raise AssetError(f"{path} is missing: the Debian package's copyright file is where the photo licences "
                         f"come from; delete the unpacked package folder to fetch it again")
    out: dict[str, dict[str, str]] = {}
    for stanza in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m:
                key = m.group(1).lower()
                fields[key] = m.group(2).strip()
            elif key and line.startswith((" ", "\t")):
                fields[key] += " " + line.strip()
        if "files" in fields and "license" in fields:
            for pattern in fields["files"].split():
                out[Path(pattern).name] = {"copyright": fields.get("copyright", ""), "licence": fields["license"]}
    return out


def photo_sources(train: list[Path], held: list[Path], package: dict | None = None,
                  bundled: Path | None = None) -> list[dict]:
    """One entry per photo, training photos first (in training order), then the held-out ones.

    ``package`` is the :func:`mmtok.debian.fetch_packages` entry of the wallpaper package (``version``, ``root``)
    when the wallpapers were used: its copyright file gives their authors and licences. ``bundled`` is the folder
    of the bundled photos (``assets/images``), whose licences are :data:`BUNDLED_SOURCES`.
    """
    walls = package["root"] / "usr/share/backgrounds" if package else None
    licences = debian_copyright(package["root"] / f"usr/share/doc/{WALLPAPER_PACKAGE}/copyright") if package else {}
    out = []
    for role, files in (("train", train), ("held-out", held)):
        for p in files:
            entry: dict = {"file": p.name, "role": role}
            if walls is not None and p.parent == walls:
                if p.name not in licences:
                    raise AssetError(f"{p} has no 'Files:' stanza in the {WALLPAPER_PACKAGE} copyright file, so "
                                     f"its licence is unknown; leave it out of training")
                entry |= {"origin": f"Debian {WALLPAPER_PACKAGE} {package['version']}: /usr/share/backgrounds/{p.name}",
                          "author": licences[p.name]["copyright"], "licence": licences[p.name]["licence"],
                          "note": f"from /usr/share/doc/{WALLPAPER_PACKAGE}/copyright"}
            elif bundled is not None and p.name in BUNDLED_SOURCES and p.parent.resolve() == bundled.resolve():
                entry |= {"origin": f"mmtok assets/images/{p.name} = " + _SKIMAGE.format(p.name.split(".")[0]),
                          **BUNDLED_SOURCES[p.name]}
            else:  # a user's own photo (--photos DIR): only the person training knows its licence
                entry |= {"origin": str(p), "author": None, "licence": None, "note": "not recorded by mmtok"}
            out.append(entry)
    return out


def write_sources(path: Path, sources: list[dict]) -> None:
    """Write ``sources`` (from :func:`photo_sources`) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sources, indent=1, ensure_ascii=False) + "\n")
