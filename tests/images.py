"""Pictures made in the tests (no committed binaries besides the bundled real photos)."""

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "images"
PHOTOS = sorted(ASSETS.glob("*.png")) + sorted(ASSETS.glob("*.jpg"))


def encoded(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def gradient(w: int, h: int) -> np.ndarray:
    """An RGB picture whose pixels differ across the frame (uint8 [h, w, 3])."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 255 // max(1, w - 1)), (y * 255 // max(1, h - 1)), ((x + y) % 256)], -1).astype(np.uint8)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming width x height, with no pixel data (a decompression-bomb header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def exif_rotated_jpeg(w: int, h: int, orientation: int) -> bytes:
    im = Image.fromarray(gradient(w, h))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(im, "JPEG", exif=exif, quality=95)
