"""The wheel carries its assets: ``python -m build`` (sdist, then the wheel from the sdist), installed alone into a
fresh venv, tokenizes a bundled example with ``mmtok tokenize`` from a folder outside the checkout.

torch and the other dependencies are not installed a second time: a ``.pth`` file in the fresh venv puts this
venv's site-packages on its path. A folder added that way is not a site dir, so the editable install's own
``.pth`` (the finder that maps ``mmtok`` to this checkout) is not run there and only the wheel's mmtok is
importable. The test fails if the wheel lacks an asset the defaults need.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEEDED = ("mmtok/assets/text/mmtok-text-32k.model", "mmtok/assets/vq/vq-f8-4096.safetensors",
          "mmtok/assets/vq/vq-f8-4096.json", "mmtok/assets/examples/multilingual.txt",
          "mmtok/assets/images/chelsea.png", "mmtok/assets/README.md")


def _run(cmd: list, cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build from a copy of the project files, so the build's scratch folders never land in the checkout."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("mmtok", "assets"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", dist, src], cwd=src, timeout=600)
    (whl,) = dist.glob("mmtok-*.whl")
    return whl


def test_wheel_lists_the_assets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [n for n in NEEDED if n not in names]
    assert not missing, f"the wheel lacks {missing}"


def test_fresh_venv_tokenizes_a_bundled_example(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    py = venv / "bin" / "python"
    fresh_site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           cwd=tmp_path).stdout.strip())
    (fresh_site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", "-q", wheel], cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([py, "-c", "import mmtok, mmtok.text, mmtok.vq, mmtok.core.bundled as b; "
                  "print(mmtok.__file__); print(mmtok.text.DEFAULT_TEXT_MODEL); print(mmtok.vq.DEFAULT_VQ); "
                  "print(b.asset_path('images', 'chelsea.png'))"], cwd=work, env=env).stdout.split()
    assert len(where) == 4
    for path in map(Path, where):
        assert path.is_relative_to(fresh_site / "mmtok"), f"{path} resolves outside the fresh venv's mmtok"
        assert path.is_file()
    photo = where[3]
    r = _run([venv / "bin" / "mmtok", "tokenize", photo, "text:What is this?"], cwd=work, env=env)
    lines = r.stdout.splitlines()
    assert lines[2].split()[:4] == ["1", "image", "198", "14x14"], r.stdout
    assert lines[-1].startswith("total:")
    codes = _run([venv / "bin" / "mmtok", "tokenize", "--codes", photo], cwd=work, env=env)  # the VQ weights
    assert codes.stdout.splitlines()[2].split()[:3] == ["1", "image_codes", "1026"], codes.stdout
