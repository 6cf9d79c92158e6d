"""What kind of input a file or byte string is, from its content (magic numbers), not its name alone."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .paths import regular_file

__all__ = ["sniff_bytes", "sniff_file", "decode_text", "BOMS"]

# (offset, magic, kind); the first match wins.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image"),  # JPEG
    (0, b"\x89PNG\r\n\x1a\n", "image"),
    (0, b"GIF87a", "image"),  # a GIF may be animated: callers that take video check frame counts
    (0, b"GIF89a", "image"),
    (0, b"BM", "image"),
    (8, b"WEBP", "image"),
    (0, b"II*\x00", "image"),  # TIFF
    (0, b"MM\x00*", "image"),
    (8, b"WAVE", "audio"),
    (0, b"fLaC", "audio"),
    (0, b"ID3", "audio"),
    (0, b"OggS", "audio"),  # Ogg may hold Theora video; callers check streams
    (4, b"ftyp", "video"),  # MP4/MOV/M4A: callers check for a video stream
    (0, b"\x1a\x45\xdf\xa3", "video"),  # Matroska / WebM
    (0, b"\x00\x00\x01\xba", "video"),  # MPEG program stream
    (0, b"\x00\x00\x01\xb3", "video"),  # MPEG video elementary stream
    (8, b"AVI ", "video"),
)


# Byte-order marks -> the codec that reads the text after them (UTF-32 before UTF-16: FF FE 00 00 starts with FF FE).
BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"),
)


def _bom(data: bytes) -> tuple[bytes, str] | None:
    return next(((bom, codec) for bom, codec in BOMS if data.startswith(bom)), None)


def decode_text(data: bytes, name: str) -> str:
    """The text of a file: UTF-8, or UTF-8 / UTF-16 / UTF-32 after a byte-order mark (the mark itself dropped)."""
    bom, codec = _bom(data) or (b"", "utf-8")
    try:
        return data[len(bom):].decode(codec)
    except UnicodeDecodeError as e:
        raise InputError(f"{name} is not valid {codec.upper()} text (byte {e.start + len(bom)}); convert it to "
                         f"UTF-8") from None


def sniff_bytes(data: bytes) -> str:
    """``"image"``, ``"video"``, ``"audio"``, ``"text"`` (valid UTF-8, or any text after a UTF-8/16/32 byte-order
    mark) or ``"unknown"``."""
    if _bom(data) is not None:  # before the magic numbers: FF FE would pass for an MPEG audio frame sync
        return "text"
    for offset, magic, kind in _MAGIC:
        if data[offset:offset + len(magic)] == magic:
            return kind
    if len(data) >= 2 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0:
        return "audio"  # MPEG audio frame sync (MP3 without ID3)
    if len(data) >= 2 and data[0] == 0xFF and (data[1] & 0xF6) == 0xF0:
        return "audio"  # ADTS AAC
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        # A cut at the end of a sniffed prefix may split one multi-byte character: that is still text.
        if e.start < len(data) - 3:
            return "unknown"
    return "text"


def sniff_file(path: str | Path, prefix: int = 4096) -> str:
    """:func:`sniff_bytes` on the first ``prefix`` bytes of ``path``; a missing file is an ``InputError``."""
    p = regular_file(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(prefix)
    except OSError as e:
        raise InputError(f"cannot read {p}: {e.strerror}; check the path") from None
    if not head:
        raise InputError(f"{p} is empty (0 bytes); give a file with content")
    return sniff_bytes(head)
