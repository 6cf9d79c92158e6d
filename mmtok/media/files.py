"""One file -> one prompt piece, with the modality sniffed from the content: :class:`File` (``mmtok.File``), a
``pathlib.Path`` in a prompt, the CLI's items and the demo's uploads all go through :func:`file_content`.

A ``str`` in a prompt is always text; :func:`text_naming_a_file` is the check that warns when such a string is
exactly the path of an existing file (``tok(["photo.jpg"])`` would otherwise quietly make a few text tokens).
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, MmtokWarning
from .paths import regular_file
from .sniff import decode_text, sniff_file

__all__ = ["File", "FileAsTextWarning", "file_kind", "file_content", "resolve_file", "text_naming_a_file",
           "TextFile"]


@dataclass(frozen=True)
class File:
    """A file of any modality in a prompt, read by its content (magic numbers, streams), not its name: text
    (UTF-8, or UTF-16/32 with a byte-order mark), a picture, a clip (an animated GIF counts as one) or a sound.
    ``mmtok.File("photo.jpg")`` is ``mmtok.Image("photo.jpg")``; a ``pathlib.Path`` in a prompt means the same."""

    path: str | os.PathLike

    def content(self) -> Any:
        """The piece this file is: its text (a ``str`` that names the file), or mmtok.Image / Video / Audio."""
        return file_content(self.path)


class FileAsTextWarning(MmtokWarning):
    """A ``str`` in a prompt is the path of an existing file: it is tokenized as text, as every ``str`` is."""


def resolve_file(piece: Any) -> Any:
    """``File`` and ``pathlib.Path`` pieces -> the piece their content is; anything else unchanged."""
    if isinstance(piece, File):
        return piece.content()
    if isinstance(piece, Path):
        return file_content(piece)
    return piece


def _first_frame_outside_mmtok() -> int:
    """The ``stacklevel`` of the nearest caller outside the mmtok package, for its caller's ``warnings.warn``."""
    package = str(Path(__file__).resolve().parent.parent)
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def text_naming_a_file(text: str) -> None:
    """Warn (:class:`FileAsTextWarning`, pointing at the user's line) when a text piece is exactly the path of an
    existing file."""
    if isinstance(text, TextFile) or not text or len(text) > 4096 or "\n" in text or "\x00" in text:
        return
    try:
        is_file = os.path.isfile(text)
    except (OSError, ValueError):
        return
    if is_file:
        warnings.warn(f"{text!r} is tokenized as text (a str is always text) although it names a file; give "
                      f"mmtok.File({text!r}) or a pathlib.Path to tokenize the file", FileAsTextWarning,
                      stacklevel=_first_frame_outside_mmtok())


def file_kind(path: str | Path) -> str:
    """``"text"``, ``"image"``, ``"video"`` or ``"audio"`` from the content; animated GIFs count as video and
    MP4/Matroska/Ogg files without a video stream as audio. A container with neither a video nor an audio stream
    (only subtitles or data) is an :class:`InputError`."""
    kind = sniff_file(path)
    if kind == "image":
        from PIL import Image

        try:
            with Image.open(path) as im:
                if getattr(im, "n_frames", 1) > 1:
                    return "video"
        except Exception:  # unreadable: let the image tokenizer report it with its typed error
            pass
    if kind in ("video", "audio"):
        import av

        try:
            with av.open(str(path), metadata_errors="ignore") as c:
                has_video = any(s.type == "video" and s.codec_context.name not in ("mjpeg", "png") for s in c.streams)
                has_audio = bool(c.streams.audio)
                found = [s.type for s in c.streams]
        except av.FFmpegError:
            return kind  # the tokenizer reports the decode error
        if "video" not in found and not has_audio:  # e.g. only subtitles or data: nothing to tokenize
            held = ", ".join(f"{found.count(t)} {t} stream{'s' * (found.count(t) > 1)}" for t in sorted(set(found)))
            raise InputError(f"{path} is a media container without a video or audio stream (it holds "
                             f"{held or 'no streams'}); give a file with a video or audio track, or re-export it "
                             f"with its video or sound")
        if kind == "video" and not has_video and has_audio:
            return "audio"
        if kind == "audio" and has_video:
            return "video"
    if kind == "unknown":
        raise InputError(f"{path} is neither UTF-8 text nor an image, video or audio file mmtok recognises (by its "
                         f"content, not its name); re-download it if it is corrupt, otherwise convert it to UTF-8 "
                         f"text, PNG/JPEG, MP4/WebM or WAV/FLAC/MP3")
    return kind


class TextFile(str):
    """The text of a file: a ``str`` that remembers where it came from (``source``), so that its span's metadata
    and any error about it (for example the context limit) name the file."""

    source: str

    def __new__(cls, text: str, source: str) -> TextFile:
        obj = super().__new__(cls, text)
        obj.source = source
        return obj


def file_content(path: str | Path, as_codes: bool = False):
    """The prompt piece for one file: its text, or mmtok.Image / Video / Audio by its sniffed modality."""
    from .contents import Audio, Image, Video

    path = regular_file(path)
    kind = file_kind(path)
    if kind == "text":
        return TextFile(decode_text(path.read_bytes(), str(path)), str(path))
    if kind == "image":
        return Image(path, as_="codes" if as_codes else "patches")
    return Video(path) if kind == "video" else Audio(path)
