"""Command-line ITEMs into prompt pieces: a file by its content, text as given, and the rule between them.

An ITEM that names a regular file is that file (:func:`mmtok.multimodal.files.file_content` sniffs its modality);
``text:WORDS`` is always the text WORDS. Anything else is text, except what surely meant a file that is not there
(:func:`looks_like_a_file`: ``photo.jpg``, ``notes.txt``, ``./a``), which is an error, so a typo never becomes a
prompt. A word with a slash or a dot that is not such a name (``and/or``, ``N/A``, ``TCP/IP``, ``v1.2``) is text,
with a note on stderr.
"""

from __future__ import annotations

import re
import stat
import sys
from dataclasses import replace
from pathlib import Path

from ..errors import InputError
from ..media.contents import Video

__all__ = ["FILE_EXTENSIONS", "looks_like_a_file", "has_sound", "file_piece", "items_to_contents", "folder_files",
           "note"]

# Extensions of pictures, clips, sounds and text files: a name with one that names no file is a typo, not a prompt
FILE_EXTENSIONS = frozenset("""
    jpg jpeg jpe jfif png gif bmp webp tif tiff heic heif avif ico ppm pgm pbm jxl
    mp4 m4v mov mkv webm avi mpg mpeg ogv 3gp flv wmv ts mts m2ts
    wav flac mp3 ogg oga opus m4a aac wma aif aiff
    txt md rst json jsonl csv tsv xml html htm yaml yml log
""".split())
_PATH_START = ("/", "./", "../", "~/")
_ONE_WORD_WITH_SLASH_OR_DOT = re.compile(r"^\S*[/.]\S*$")


def note(message: str) -> None:
    """One line ``mmtok: note: ...`` on stderr (the command goes on)."""
    print(f"mmtok: note: {message}", file=sys.stderr)


def looks_like_a_file(item: str) -> bool:
    """True for one word that surely meant a file: a name with a known extension (:data:`FILE_EXTENSIONS`), or
    a path starting with ``/``, ``./``, ``../`` or ``~/`` or ending with ``/``."""
    if not item or re.search(r"\s", item):
        return False
    if item.startswith(_PATH_START) or item.endswith("/"):
        return True
    name = item.rsplit("/", 1)[-1]
    return "." in name and name.rsplit(".", 1)[1].lower() in FILE_EXTENSIONS


def has_sound(path) -> bool:
    """Whether the file holds a sound track (from its stream list); True when it cannot be opened, so that the
    tokenizer reports what is wrong with it."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return bool(container.streams.audio)
    except av.FFmpegError:
        return True


def _with_sound(video: Video) -> Video:
    """``Video(src, audio=True)`` when the clip has a sound track; a silent clip stays frames only (with a note)."""
    if not has_sound(video.src):
        note(f"{video.src} has no sound track: --with-sound reads its frames only")
        return video
    return replace(video, audio=True)


def file_piece(path: Path, codes: bool = False, sound: bool = False):
    """The prompt piece of one regular file: its text, or mmtok.Image (``codes``: as VQ codes) / Video (``sound``:
    with its sound track) / Audio, by its content."""
    from ..multimodal.files import file_content

    piece = file_content(path, as_codes=codes)
    return _with_sound(piece) if sound and isinstance(piece, Video) else piece


def items_to_contents(items: list[str], codes: bool = False, sound: bool = False) -> list:
    """Command-line items -> prompt pieces (text, or mmtok.Image / Video / Audio for files); see the module
    docstring. A folder is refused here (``mmtok tokenize FOLDER`` takes it alone)."""
    out: list = []
    for i, item in enumerate(items, 1):
        if item.startswith("text:"):
            out.append(item[5:])
            continue
        if item == "":
            raise InputError(f"ITEM {i} is empty (''); give a file, or text (text: and the words for literal text)")
        path = Path(item)
        if path.is_dir():
            raise InputError(f"{item} is a folder; give it as the only ITEM to tokenize every file under it (one "
                             f"sequence per file), or give files and text")
        if path.exists() and not path.is_file():  # stat only: a FIFO would block a reader
            kind = "FIFO" if stat.S_ISFIFO(path.stat().st_mode) else "device, socket or other special file"
            raise InputError(f"{item} is not a regular file (a {kind}); give a regular file")
        if path.is_file():
            out.append(file_piece(path, codes, sound))
        elif looks_like_a_file(item):
            raise InputError(f"no such file: {item}; to tokenize it as literal text, write text:{item}")
        else:
            if _ONE_WORD_WITH_SLASH_OR_DOT.match(item):
                note(f"no file is named {item!r}: tokenized as text (write text:{item} to say so)")
            out.append(item)
    return out


def folder_files(root: Path) -> list[Path]:
    """Every regular file under ``root``, recursively, sorted by its path relative to ``root`` (the order of
    ``mmtok dataset``'s folder rows, :func:`mmtok.data.corpus.read_corpus`)."""
    return sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())
