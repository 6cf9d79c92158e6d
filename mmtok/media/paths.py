"""What a path given as a file must be before anything opens it: an existing regular file.

Every reader (pictures, clips, sounds, text files, the sniffing of :class:`mmtok.File`) asks :func:`regular_file`
first, so that a typo, a folder, a FIFO or a device (``/dev/zero`` behind a link) each get their own message —
from ``stat`` alone, so a FIFO is never opened (opening one blocks until a writer comes).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import InputError

__all__ = ["regular_file"]

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def regular_file(path: str | os.PathLike, kind: str = "") -> Path:
    """``path`` as a :class:`~pathlib.Path` when it names a regular file (links followed), else an
    :class:`~mmtok.errors.InputError` that says what it is: missing, a folder, a FIFO, a device or a socket.
    ``kind`` ("image", "video", ...) words the missing-file message: "no such image file"."""
    p, a_file = Path(path), _a(f"{kind} file" if kind else "file")
    if str(path) == "":
        raise InputError(f"an empty path was given as {a_file}; give the path of a file")
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        target = f" (a link to {os.readlink(p)}, which does not exist)" if p.is_symlink() else ""
        raise InputError(f"no such {kind + ' ' if kind else ''}file: {p}{target}; check the path") from None
    except OSError as e:
        raise InputError(f"cannot read {p}: {e.strerror}; check the path and its permissions") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{p} is a folder, not {a_file}; give a file inside it")
    if not stat.S_ISREG(mode):
        what = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise InputError(f"{p} is {what}, not a regular file; mmtok reads regular files only (copy the data into "
                         f"a file)")
    return p
