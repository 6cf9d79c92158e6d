"""Where the bundled assets are: the one place that knows.

The repository keeps them at the top level (``assets/``: the text model, the VQ weights with their configs, the
example media and their licences). A wheel carries the same files inside the package, as ``mmtok/assets/...``
(``pyproject.toml`` maps the folder there). :func:`asset_path` looks in the installed package first and in the
source checkout second, so an installed wheel, an editable install and a plain checkout all find them.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["asset_path", "PACKAGED_ASSETS", "CHECKOUT_ASSETS"]

PACKAGED_ASSETS = Path(__file__).resolve().parents[1] / "assets"  # inside an installed wheel
CHECKOUT_ASSETS = Path(__file__).resolve().parents[2] / "assets"  # a source checkout or editable install


def asset_path(*parts: str) -> Path:
    """The path of a bundled asset, e.g. ``asset_path("text", "mmtok-text-32k.model")``.

    The copy inside the installed package wins; else the checkout's ``assets/``. When neither holds the file the
    path in the root that exists is returned all the same (the caller raises its own ``AssetError`` naming it, and
    a trainer writes its output there).
    """
    for root in (PACKAGED_ASSETS, CHECKOUT_ASSETS):
        path = root.joinpath(*parts)
        if path.exists():
            return path
    return (PACKAGED_ASSETS if PACKAGED_ASSETS.is_dir() else CHECKOUT_ASSETS).joinpath(*parts)
