"""Progress bars that suit where stderr goes: tqdm's live bar on a terminal, sparse lines in a log.

On a terminal a bar redraws itself in place. When stderr is a file or a pipe (CI, ``nohup``, a notebook's
captured log) every redraw would be a new line — the decoder round trip alone wrote ~250 — so the bar then writes
at most one line every :data:`LOG_INTERVAL` seconds (and its last state), fixed-width and ASCII.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["progress_bar", "LOG_INTERVAL"]

LOG_INTERVAL = 30.0  # seconds between two lines of a bar whose stderr is not a terminal


def progress_bar(**kwargs: Any) -> Any:
    """``tqdm(**kwargs)`` on a terminal; when the bar's stream (``file``, default stderr) is not one, one ASCII
    line per :data:`LOG_INTERVAL` s."""
    from tqdm import tqdm

    isatty = getattr(kwargs.get("file") or sys.stderr, "isatty", None)
    if not (isatty and isatty()):
        kwargs = {**kwargs, "mininterval": LOG_INTERVAL, "maxinterval": LOG_INTERVAL, "ascii": True,
                  "dynamic_ncols": False, "ncols": 100}
    else:
        kwargs.setdefault("dynamic_ncols", True)
    return tqdm(**kwargs)
