"""Writing decoded contents back to files (``mmtok decode DIR``): text, PNG pictures, PNG frames, WAV audio."""

from __future__ import annotations

from pathlib import Path

from ..media.contents import DecodedAudio, DecodedImage, DecodedVideo
from ..media.writers import write_png, write_wav

__all__ = ["write_contents", "write_png", "write_wav"]


def write_contents(items: list, out: Path) -> list[Path]:
    """One file (or folder, for a clip) per item, numbered in order; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, item in enumerate(items):
        stem = out / f"{i:02d}"
        if isinstance(item, str):
            p = stem.with_suffix(".txt")
            p.write_text(item, encoding="utf-8")
        elif isinstance(item, DecodedImage):
            p = item.save(stem.with_name(f"{i:02d}_{item.as_}.png"))
        elif isinstance(item, DecodedVideo):
            p = item.save(stem.with_name(f"{i:02d}_video"))
        elif isinstance(item, DecodedAudio):
            p = item.save(stem.with_name(f"{i:02d}_audio.wav"))
        else:
            raise TypeError(f"cannot write a {type(item).__name__}")
        paths.append(p)
    return paths
