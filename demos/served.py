"""How the demo serves: its limits (:class:`DemoLimits`), and pictures handed to Gradio as files written once.

Gradio caches a returned PIL image under the hash of its bytes and writes that file again each time the same picture
is returned (``processing_utils.save_pil_to_cache``: ``write_bytes``, which truncates first). Two requests that
return the same picture (two users, one example) then race: one client downloads the file while the other request
truncates and rewrites it, and the download ends early ("Too little data for declared Content-Length"). A file path
goes through Gradio's other cache function instead, which copies under a temporary name and renames
(``save_file_to_cache``), so the demo returns paths: PNGs named by their content, written under a temporary name and
renamed into place, pruned ``max_age`` seconds after they were written (one returned again after half that
is written afresh, so each one handed out lives at least ``max_age / 2``).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

import mmtok


@dataclass(frozen=True)
class DemoLimits:
    """What one request may ask for. Exceeding a limit gives a message in the page, never a silent cut."""

    max_upload_mb: int = 50  # per file, enforced by Gradio before the handler runs
    max_media_seconds: float = 600.0  # longest video or audio accepted (VideoConfig / AudioConfig max_duration)
    max_request_seconds: float = 240.0  # a handler still running after this answers with a time-out message
    concurrency: int = 2  # requests worked on at once (one per core)
    queue_size: int = 16  # requests waiting beyond that; more get a "busy" message

    def __post_init__(self) -> None:
        if min(self.max_upload_mb, self.max_media_seconds, self.max_request_seconds, self.concurrency,
               self.queue_size) <= 0:
            raise mmtok.ConfigError(f"every demo limit must be positive: {self}")


class PictureFiles:
    """A folder of PNGs named by content; :meth:`path` turns a picture into one, :meth:`outputs` every picture of a
    handler's result."""

    def __init__(self, folder: str | Path | None = None, max_age: float = 3600.0) -> None:
        self.folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="mmtok-demo-pictures-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_age = max_age

    def path(self, picture: Image.Image | None) -> str | None:
        """The PNG file of ``picture`` (None stays None). The same picture gives the same file, never rewritten."""
        if picture is None:
            return None
        buf = io.BytesIO()
        picture.save(buf, format="png")
        data = buf.getvalue()
        path = self.folder / f"{hashlib.sha256(data).hexdigest()[:32]}.png"
        try:
            if time.time() - path.stat().st_mtime < self.max_age / 2:
                return str(path)  # not touched: a client may be reading it
        except FileNotFoundError:
            pass
        # new, or old enough to be pruned soon: a fresh file renamed over it (a reader keeps the old one)
        fd, staging = tempfile.mkstemp(dir=self.folder, prefix=".staging-", suffix=".png")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(staging, path)
        except BaseException:
            Path(staging).unlink(missing_ok=True)
            raise
        self.prune()
        return str(path)

    def outputs(self, result):
        """``result`` (one output or a tuple of outputs) with each PIL picture replaced by its file."""
        if isinstance(result, Image.Image):
            return self.path(result)
        if isinstance(result, tuple):
            return tuple(self.path(r) if isinstance(r, Image.Image) else r for r in result)
        return result

    def prune(self) -> None:
        """Remove the pictures not used for ``max_age`` seconds (Gradio has long copied them into its cache)."""
        cutoff = time.time() - self.max_age
        for entry in os.scandir(self.folder):
            try:
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except FileNotFoundError:  # another request pruned it first
                pass
