"""Loading any real image as 8-bit RGB: paths, bytes, PIL images, numpy HWC and torch CHW arrays.

Rules (documented in the README and tested):
- EXIF orientation is applied, so "original pixels" mean the picture as a viewer shows it.
- Modes: 1/L/P/RGB/CMYK/YCbCr/LAB/HSV convert to RGB through PIL; images with alpha (RGBA, LA, PA, P with a
  transparency key, RGBa) are composited on ``background`` (white by default); 16-bit grey (``I;16*``, 16-bit
  PNG opened as ``I``) maps to 8 bits by rounding ``v / 257`` (so 65535 -> 255 exactly). Float images (``F``) and
  ``I`` images outside 0..65535 are refused.
- A header that claims more than ``max_pixels`` raises :class:`~mmtok.errors.LimitError` before any pixel is
  decoded (decompression-bomb guard). Corrupt or truncated files raise :class:`~mmtok.errors.DecodeError`
  naming the file.
- JPEGs may be decoded at a reduced DCT scale (PIL ``draft``) when the caller asks for a smaller size: the
  decoded image is never smaller than asked, and ``LoadedImage.scale`` records the scale.
- On request (``first_pass``, as ``ImageConfig(first_pass=True)``, the default, asks), a progressive RGB/grey
  JPEG shrunk by the draft margin or more decodes without its luma AC refinement scans (:mod:`mmtok.media.jpeg_scans`):
  within a stated tolerance, and ``LoadedImage.first_pass`` records it; ``first_pass="all"`` (the models' fast
  path) drops every refinement scan.
- On request (``fast_chroma``), a JPEG whose chroma is subsampled (4:2:0, 4:2:2) and decoded at full scale
  upsamples its chroma by replication (libjpeg-turbo's fast, merged upsampling) instead of its triangle filter
  when the caller shrinks it enough that the chroma planes' own resolution covers the result; within a stated
  tolerance, and ``LoadedImage.fast_chroma`` records it. (A decode at a reduced DCT scale scales the chroma up
  in its IDCT and upsamples nothing: the same pixels either way.)
- 8-bit RGB and greyscale JPEGs decode through simplejpeg (the same libjpeg-turbo as PIL, same settings, same
  DCT scale, so the same pixels bit for bit — tested) straight into a numpy array, which saves PIL's copy of the
  decoded picture. A plain one (:func:`mmtok.media.jpeg_scans.header` reads its size and EXIF orientation) is read
  once and never opened by PIL, whose header parse cost more than the rest of the Python around a small photo's
  decode. Anything libjpeg-turbo merely warns about (a corrupt or truncated stream) goes back to PIL, whose verdict
  stands.
"""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from ..errors import ConfigError, DecodeError, InputError, LimitError
from . import jpeg_scans
from .container import source_name
from .paths import regular_file

__all__ = ["ImageSource", "LoadedImage", "load_image", "image_size", "DEFAULT_MAX_PIXELS", "DEFAULT_BACKGROUND"]

DEFAULT_MAX_PIXELS = 100_000_000  # 100 Mpx; PIL's own bomb error (2 x 89.5 Mpx) is converted as well
DEFAULT_BACKGROUND = (255, 255, 255)
ImageSource = Union[str, Path, bytes, "PIL.Image.Image", np.ndarray, torch.Tensor]  # noqa: F821

_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that transpose width and height


@dataclass(frozen=True)
class LoadedImage:
    """An RGB picture ready for resizing.

    ``pixels`` uint8 [3, h, w] (a view of the decoded buffer; treat as read-only), possibly decoded at a reduced
    scale; ``size`` is (width, height) of the ORIGINAL picture after EXIF orientation; ``scale`` = decoded width /
    original width (1.0 unless JPEG draft was used).
    """

    pixels: torch.Tensor
    size: tuple[int, int]
    scale: float
    source: str
    mode: str  # the file's own PIL mode before conversion, e.g. "P", "I;16", "CMYK"
    first_pass: bool = False  # a progressive JPEG decoded without its luma AC refinement scans (mmtok.media.jpeg_scans)
    fast_chroma: bool = False  # subsampled chroma upsampled by replication, not libjpeg's triangle filter


DraftRule = Callable[[int, int], "tuple[int, int] | None"]


def load_image(src: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               background: tuple[int, int, int] = DEFAULT_BACKGROUND,
               draft: DraftRule | None = None, first_pass: bool | str = False, fast_chroma: DraftRule | None = None,
               name: str | None = None) -> LoadedImage:
    """Load ``src`` as RGB (see the module rules).

    ``draft(width, height)`` is called with the oriented original size of an encoded JPEG and returns the
    smallest (width, height) the caller needs, or None; PIL then decides the largest DCT reduction (1/2, 1/4,
    1/8) that stays at least that large. With ``first_pass`` (True or ``"luma"``; ``"all"``), a progressive
    RGB/grey JPEG whose needed size is no larger than the picture decodes without its luma AC refinement scans
    (``"all"``: without any refinement scan; :func:`mmtok.media.jpeg_scans.first_pass`; ``LoadedImage.first_pass``
    says so). ``fast_chroma(width, height)``, called like ``draft``, returns the smallest full-scale size at which a
    plain 8-bit JPEG (the simplejpeg path) with subsampled chroma may upsample it by replication
    (``LoadedImage.fast_chroma`` says when it did).
    """
    if first_pass not in (False, True, *jpeg_scans.SCAN_POLICIES):
        raise ConfigError(f"first_pass must be False, True or one of {jpeg_scans.SCAN_POLICIES}, got {first_pass!r}")
    from PIL import Image

    name = name or source_name(src)
    if isinstance(src, (str, Path, bytes, bytearray, memoryview)):
        return _load_encoded(src, name, max_pixels, background, draft, first_pass, fast_chroma)
    if isinstance(src, Image.Image):
        _check_pixels(src.size, max_pixels, name)
        return _finish(src, src.size, name, background, 1.0, exif=True)
    if isinstance(src, np.ndarray):
        return _from_array(src, f"numpy {src.dtype}", "HWC", name, max_pixels, background)
    if isinstance(src, torch.Tensor):
        return _from_array(src.detach().cpu().numpy(), str(src.dtype), "CHW", name, max_pixels, background)
    raise InputError(f"cannot read an image from a {type(src).__name__}; give a path, bytes, a PIL image, or a "
                     f"uint8 numpy array or torch tensor ([H, W, C] or [C, H, W])")


def _check_pixels(size: tuple[int, int], max_pixels: int, name: str) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise DecodeError(f"{name} has an empty size {w}x{h}; give an image with pixels")
    if w * h > max_pixels:
        raise LimitError(f"{name} is {w}x{h} = {w * h:,} pixels, more than max_pixels={max_pixels:,} "
                         f"(decompression-bomb guard); raise ImageConfig(max_pixels=...) if you trust the file")


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, TypeError)


def image_size(src: ImageSource, name: str | None = None) -> tuple[int, int]:
    """(width, height) of a picture as a viewer shows it (EXIF orientation applied); an encoded file is read to
    its header only. Unreadable files raise the same typed errors as :func:`load_image`."""
    name = name or source_name(src)
    if not isinstance(src, (str, Path, bytes, bytearray, memoryview)):
        return load_image(src, name=name).size
    with _open_encoded(src, name) as (im, _):
        w, h = im.size
        return (h, w) if _orientation(im) in _SWAPS_AXES else (w, h)


@contextlib.contextmanager
def _open_encoded(src, name: str) -> Iterator[tuple[Any, Any]]:
    """(PIL image with only its header read, the open file) of a path or bytes, with typed errors."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(src, (str, Path)):
        fh = open(regular_file(src, "image"), "rb")
    else:
        if len(src) == 0:
            raise DecodeError(f"{name} is empty; give the bytes of an image file")
        fh = io.BytesIO(bytes(src))
    with fh:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(fh)
        except Image.DecompressionBombError as e:
            raise LimitError(f"{name}: {e}; PIL refuses it before mmtok's max_pixels check (raise "
                             f"PIL.Image.MAX_IMAGE_PIXELS too if you trust the file)") from None
        except UnidentifiedImageError:
            raise DecodeError(f"{name} is not an image PIL can read (corrupt, truncated or an unsupported format); "
                              f"convert it to PNG or JPEG") from None
        except _DECODE_ERRORS as e:
            raise DecodeError(f"{name} cannot be opened as an image ({e})"
                              f"; the file is corrupt or truncated: re-export or re-download it") from None
        yield im, fh


def _load_encoded(src, name, max_pixels, background, draft, allow_first_pass, fast_chroma) -> LoadedImage:
    data = _jpeg_bytes(src)
    if data is not None:  # a plain JPEG: its own header walk and simplejpeg, no PIL (the same pixels, tested)
        loaded = _load_plain_jpeg(data, name, max_pixels, draft, allow_first_pass, fast_chroma)
        if loaded is not None:
            return loaded
        src = data  # PIL reads it from memory: the file is read once
    with _open_encoded(src, name) as (im, fh):
        orientation = _orientation(im)
        w, h = im.size
        oriented = (h, w) if orientation in _SWAPS_AXES else (w, h)
        _check_pixels(oriented, max_pixels, name)
        scale = 1.0
        need = draft(*oriented) if draft is not None and im.format == "JPEG" else None
        if need is not None:
            req = (need[1], need[0]) if orientation in _SWAPS_AXES else need
            im.draft("RGB", (max(1, req[0]), max(1, req[1])))  # picks the DCT scale; decodes nothing yet
            scale = im.size[0] / w
        if im.format == "JPEG" and im.mode in ("RGB", "L"):
            got = _simplejpeg(_read_all(src, fh), im.size, bool(im.info.get("progressive")),
                              _fits(need, oriented), allow_first_pass, False)
            if got is not None:
                return LoadedImage(_orient(got[0], orientation), oriented, scale, name, im.mode, first_pass=got[1])
        try:
            im.load()
        except _DECODE_ERRORS as e:
            raise DecodeError(f"{name} is corrupt or truncated ({e}); re-export or re-download it") from None
        return _finish(im, oriented, name, background, scale, exif=True)


def _jpeg_bytes(src) -> bytes | None:
    """The encoded file when it starts as a JPEG does (an SOI marker), else None (PIL sniffs and reads it)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src) if bytes(src[:2]) == b"\xff\xd8" else None  # header() reads bytes, not a memoryview
    path = regular_file(src, "image")  # missing, a folder, a FIFO (opening it would block): named
    try:
        with open(path, "rb", buffering=0) as fh:  # unbuffered: the file lands straight in the bytes returned
            if fh.read(2) != b"\xff\xd8":
                return None
            fh.seek(0)
            return fh.read()
    except OSError:  # unreadable: PIL's path raises the typed error
        return None


def _load_plain_jpeg(data, name, max_pixels, draft, allow_first_pass, fast_chroma) -> LoadedImage | None:
    """An 8-bit RGB/grey JPEG decoded as the PIL path does (the same DCT scale as PIL's ``draft``, the same
    orientation; without ``fast_chroma``, the same pixels), without PIL; None for anything
    :func:`~mmtok.media.jpeg_scans.header` does not read or libjpeg-turbo warns about."""
    from PIL import Image

    hdr = jpeg_scans.header(data)
    if hdr is None or (Image.MAX_IMAGE_PIXELS is not None and hdr.width * hdr.height > 2 * Image.MAX_IMAGE_PIXELS):
        return None  # PIL's own decompression-bomb error stays PIL's
    w, h, swap = hdr.width, hdr.height, hdr.orientation in _SWAPS_AXES
    oriented = (h, w) if swap else (w, h)
    _check_pixels(oriented, max_pixels, name)
    need = draft(*oriented) if draft is not None else None
    size = (w, h)
    if need is not None:  # PIL's JpegImageFile.draft: the largest of 1/8, 1/4, 1/2 that keeps the requested size
        req = (need[1], need[0]) if swap else need
        most = min(w // max(1, req[0]), h // max(1, req[1]))
        s = next((s for s in (8, 4, 2) if most >= s), 1)
        size = (-(-w // s), -(-h // s))
    fast = hdr.subsampled and size == (w, h) and fast_chroma is not None and _fits(fast_chroma(*oriented), oriented)
    got = _simplejpeg(data, size, hdr.progressive, _fits(need, oriented), allow_first_pass, fast)
    if got is None:
        return None
    return LoadedImage(_orient(got[0], hdr.orientation), oriented, size[0] / w, name,
                       "RGB" if hdr.components == 3 else "L", first_pass=got[1], fast_chroma=fast)


def _fits(need: tuple[int, int] | None, oriented: tuple[int, int]) -> bool:
    """The picture is shrunk by the rule's margin or more (the needed size is no larger than the picture)."""
    return need is not None and need[0] <= oriented[0] and need[1] <= oriented[1]


def _simplejpeg(data, size, progressive: bool, fits: bool, allow_first_pass,
                fast_chroma: bool) -> tuple[torch.Tensor, bool] | None:
    """(uint8 [h, w, c] at ``size``, whether the first pass alone was decoded) of an 8-bit RGB/grey JPEG; a
    progressive one shrunk by the draft margin (``fits``) skips refinement scans when allowed; chroma upsampled
    by replication with ``fast_chroma``; None when libjpeg-turbo reports anything."""
    first = pixels = None
    if allow_first_pass and fits and progressive:
        first = jpeg_scans.first_pass(data, "luma" if allow_first_pass is True else allow_first_pass)
    if first is not None:
        pixels = _decode_jpeg(first, size, fast_chroma)
    if pixels is None:
        first, pixels = None, _decode_jpeg(data, size, fast_chroma)
    return None if pixels is None else (pixels, first is not None)


def _read_all(src, fh) -> bytes:
    """The whole encoded file: ``src`` itself when it is bytes, else read from the open file."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return src
    fh.seek(0)
    return fh.read()


def _decode_jpeg(src: bytes, size: tuple[int, int], fast_chroma: bool = False) -> torch.Tensor | None:
    """An 8-bit RGB/grey JPEG -> uint8 [h, w, 3] at the DCT scale that gives ``size``
    (what PIL's draft chose), or None when libjpeg-turbo reports anything (PIL then decides) or simplejpeg is
    missing. ``fast_chroma``: subsampled chroma upsampled by replication (libjpeg-turbo's ``do_fancy_upsampling``
    off)."""
    try:
        import simplejpeg
    except ImportError:
        return None
    try:
        a = simplejpeg.decode_jpeg(src, colorspace="RGB", min_width=size[0], min_height=size[1], strict=True,
                                   fastupsample=fast_chroma)
    except (ValueError, OSError):
        return None
    if a.shape[1::-1] != tuple(size):  # another DCT scale than PIL's: let PIL decode
        return None
    return torch.from_numpy(a)


# EXIF orientation -> the ops of PIL's ImageOps.exif_transpose on an [h, w, c] tensor (rot90 k=1: counter-clockwise)
_ORIENT = {
    2: lambda x: x.flip(1), 3: lambda x: x.flip(0, 1), 4: lambda x: x.flip(0), 5: lambda x: x.transpose(0, 1),
    6: lambda x: x.rot90(-1), 7: lambda x: x.transpose(0, 1).flip(0, 1), 8: lambda x: x.rot90(1),
}


def _orient(hwc: torch.Tensor, orientation: int) -> torch.Tensor:
    """uint8 [h, w, c] as stored -> uint8 [c, h', w'] as a viewer shows it (EXIF orientation 1..8; channels-last
    strides, like PIL's buffer)."""
    op = _ORIENT.get(orientation)
    return (hwc if op is None else op(hwc).contiguous()).permute(2, 0, 1)


def _orientation(im) -> int:
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # a broken EXIF block must not make a readable picture unreadable
        return 1


def _finish(im, oriented_size, name, background, scale, exif: bool) -> LoadedImage:
    from PIL import ImageOps

    mode = im.mode
    if exif and _orientation(im) != 1:
        try:
            im = ImageOps.exif_transpose(im)
        except _DECODE_ERRORS as e:
            raise DecodeError(f"{name}: cannot apply its EXIF orientation ({e})") from None
    return LoadedImage(_pixels(_to_rgb(im, name, background)), oriented_size, scale, name, mode)


def _pixels(im) -> torch.Tensor:
    """PIL RGB -> uint8 [3, h, w] sharing PIL's buffer (channels-last strides, as torch's fast resize likes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # read-only buffer: mmtok never writes into it
        return torch.from_numpy(np.asarray(im)).permute(2, 0, 1)


def _to_rgb(im, name: str, background: tuple[int, int, int]):
    from PIL import Image

    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        v = np.asarray(im).astype(np.int64)
        if v.size and (v.min() < 0 or v.max() > 65535):
            raise InputError(f"{name} is a 32-bit integer image with values {v.min()}..{v.max()}; only 8- and 16-bit "
                             f"images are read; convert it to 16-bit first")
        return Image.fromarray(((2 * v + 257) // 514).astype(np.uint8), "L").convert("RGB")
    if im.mode == "F":
        raise InputError(f"{name} is a floating-point image; convert it to 8- or 16-bit integers first")
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, tuple(background) + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return im.convert("RGB")


def _from_array(a: np.ndarray, dtype: str, layout: str, name: str, max_pixels: int, background) -> LoadedImage:
    """A uint8 array as a picture: [H, W], or [H, W, C] / [C, H, W] with C = 1, 3 or 4 — whichever the shape says
    (channels at one end, a side longer than 4 at the other); otherwise (e.g. [3, 4, 4]) ``layout``, the
    convention of its type (numpy HWC, torch CHW)."""
    from PIL import Image

    shape = tuple(a.shape)
    if a.dtype != np.uint8:
        convert = ".to(torch.uint8)" if dtype.startswith("torch") else ".astype(np.uint8)"
        raise InputError(f"{name}: image arrays must be uint8, got {dtype}; scale and convert first "
                         f"(e.g. (x * 255).round(){convert})")
    if a.ndim == 3:  # channels at one end and a side (more than 4) at the other: clear; else the type's layout
        hwc = a.shape[2] in (1, 3, 4) and a.shape[0] > 4
        chw = a.shape[0] in (1, 3, 4) and a.shape[2] > 4
        if chw or (layout == "CHW" and not hwc):
            a = np.ascontiguousarray(a.transpose(1, 2, 0))
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise InputError(f"{name}: an image array must be [H, W] or have 1, 3 or 4 channels first or last ([C, H, W] "
                         f"or [H, W, C]), got shape {shape}")
    h, w = a.shape[:2]
    _check_pixels((w, h), max_pixels, name)
    im = Image.fromarray(a)  # uint8: 2-D -> L, 3 channels -> RGB, 4 -> RGBA
    return LoadedImage(_pixels(_to_rgb(im, name, background)), (w, h), 1.0, name, im.mode)
