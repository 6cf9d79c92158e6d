"""One file -> one prompt piece, with the modality sniffed from the content (used by the CLI)."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..media.sniff import sniff_file

__all__ = ["file_kind", "file_content"]


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
    from ..media.contents import Audio, Image, Video

    path = Path(path)
    kind = file_kind(path)
    if kind == "text":
        try:
            return TextFile(path.read_text(encoding="utf-8"), str(path))
        except UnicodeDecodeError as e:
            raise InputError(f"{path} is not UTF-8 text (byte {e.start}); convert it to UTF-8") from None
    if kind == "image":
        return Image(path, as_="codes" if as_codes else "patches")
    return Video(path) if kind == "video" else Audio(path)
