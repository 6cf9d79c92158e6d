"""Fetch Debian packages as data (``apt-get download`` + ``dpkg-deb -x``); nothing is installed.

Used by the scripts that rebuild bundled models and by benchmarks that read openly licensed real media
(documentation for the text model, photos for the VQ model and the image benchmark).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..errors import AssetError

__all__ = ["fetch_packages", "default_cache"]


def default_cache(name: str) -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mmtok" / name


def _run(cmd: list[str], cwd: Path) -> str:
    try:
        return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        raise AssetError(f"{cmd[0]} not found: fetching Debian packages needs apt-get and dpkg-deb") from None
    except subprocess.CalledProcessError as e:
        raise AssetError(f"{' '.join(cmd)} failed: {e.stderr.strip()[:500]} "
                         f"(run 'apt-get update' first if the package is unknown)") from None


def fetch_packages(packages: tuple[str, ...] | list[str], cache: Path) -> dict[str, dict]:
    """Download and unpack ``packages`` into ``cache``; returns {package: {version, root, deb}}."""
    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for pkg in packages:
        debs = sorted(cache.glob(f"{pkg}_*.deb"))
        if not debs:
            _run(["apt-get", "download", pkg], cwd=cache)
            debs = sorted(cache.glob(f"{pkg}_*.deb"))
        deb = debs[-1]
        version = _run(["dpkg-deb", "-f", str(deb), "Version"], cwd=cache).strip()
        root = cache / "x" / pkg
        if not root.exists():
            root.mkdir(parents=True)
            _run(["dpkg-deb", "-x", str(deb), str(root)], cwd=cache)
        out[pkg] = {"version": version, "root": root, "deb": deb.name}
    return out
