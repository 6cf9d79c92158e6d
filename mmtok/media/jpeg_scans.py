"""Progressive JPEGs without their luma AC refinement scans: a faster decode for pictures shrunk a lot.

A progressive JPEG sends its DCT coefficients in scans: first passes (spectral bands at reduced precision, ``Ah=0``),
then successive-approximation refinements that add the low bits (``Ah>0``). libjpeg's standard script — used by
most progressive photos — puts about half of the bytes in the luma (Y) AC refinements, and a progressive decode
costs what its entropy decoding costs, which no DCT scale reduces. :func:`first_pass` keeps every marker segment
and every scan except the AC refinements of the first component (Y in a YCbCr or grey JPEG): DC and chroma stay
exact, the luma AC coefficients lack their last 1-2 bits, which libjpeg-turbo's block smoothing fills in.
After a shrink of 3x or more the picture differs from a full decode by at most 0.92 levels on average on the
high-quality wallpapers of ``benchmarks/bench_image.py`` and 1.52 on its quality-85 typical photos (coarser
quantization, so the lost bits weigh more; worst where the shrink is least, 3.0-3.4x), measured per photo and policy
in ``benchmarks/RESULTS.md`` and tested. Dropping the chroma refinements too was measured and not adopted for
mmtok's own tokenizer (chroma is subsampled: its lost bits cost up to 1.3 levels on average for a
few % of the bytes). :mod:`mmtok.media.imageio` uses it only where it already decodes at a reduced DCT scale
(``ImageConfig(draft=True)``). A model's ``fast=True`` path (:mod:`mmtok.models`) drops every refinement scan
(``first_pass(data, drop="all")``): on the progressive wallpapers of ``benchmarks/bench_models.py`` that decodes
in 55-94% of the luma-only policy's time (Picture_1A, 1.47 MP: 24 ms instead of 38, a full decode 60), for 0.1-0.9
levels more mean error at full size (the table in ``benchmarks/RESULTS.md``, "Session 8").

The walk checks the file's structure: a missing EOI, a marker segment running past the end or anything else
unexpected returns ``None``, and the caller decodes the whole file, whose errors then stand.

:func:`header` reads what :mod:`mmtok.media.imageio` needs to decode a plain JPEG without PIL's header parser (size,
components, progressive, EXIF orientation) from the marker segments before the first scan; anything it does not
read exactly as PIL would (XMP, Adobe, MPF segments, several EXIF blocks, an odd EXIF orientation entry) returns
``None`` and PIL reads the file.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["MAX_LOST_BITS", "SCAN_POLICIES", "MarkerSegment", "segments", "first_pass", "JpegHeader", "header"]

_SOF_PROGRESSIVE_HUFFMAN = 0xC2
_SOS, _EOI = 0xDA, 0xD9
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length field
MAX_LOST_BITS = 2  # a luma AC first pass sent with more low bits held back keeps its refinements
_MARKER_IN_DATA = re.compile(rb"\xff(?![\x00\xd0-\xd7\xff])")  # ends entropy-coded data (not a stuffed 0 / RST)


class MarkerSegment(NamedTuple):
    """One marker segment of a JPEG file: ``data[start:end]``; a scan (SOS) runs to the end of its entropy-coded
    data and carries ``scan`` = (component ids, Ss, Se, Ah, Al)."""

    marker: int
    start: int
    end: int
    scan: tuple[tuple[int, ...], int, int, int, int] | None = None


def segments(data: bytes) -> list[MarkerSegment] | None:
    """The file's marker segments from SOI to EOI, or None when its structure does not check out."""
    if data[:2] != b"\xff\xd8":
        return None
    out, n, i = [MarkerSegment(0xD8, 0, 2)], len(data), 2
    while True:
        while i + 1 < n and data[i] == 0xFF and data[i + 1] == 0xFF:  # fill bytes before a marker
            i += 1
        if i + 1 >= n or data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == _EOI:
            out.append(MarkerSegment(marker, i, i + 2))
            return out
        if marker in _STANDALONE:
            out.append(MarkerSegment(marker, i, i + 2))
            i += 2
            continue
        if i + 4 > n:
            return None
        end = i + 2 + int.from_bytes(data[i + 2:i + 4], "big")
        if end > n or end < i + 4:
            return None
        if marker != _SOS:
            out.append(MarkerSegment(marker, i, end))
            i = end
            continue
        ns = data[i + 4]
        m = _MARKER_IN_DATA.search(data, end)
        if m is None or end != i + 8 + 2 * ns:
            return None
        ss, se, a = data[end - 3], data[end - 2], data[end - 1]
        out.append(MarkerSegment(marker, i, m.start(), (tuple(data[i + 5:i + 5 + 2 * ns:2]), ss, se, a >> 4, a & 15)))
        i = m.start()


SCAN_POLICIES = ("luma", "all")  # which refinement scans first_pass drops


def first_pass(data: bytes, drop: str = "luma") -> bytes | None:
    """``data`` (a whole JPEG file) without some of its successive-approximation refinement scans (``Ah > 0``):

    - ``drop="luma"``: the AC refinements of the first component (Y); DC and chroma stay exact;
    - ``drop="all"``: every refinement scan, DC and chroma too (a model's ``fast=True`` path: about a third less
      decoding than ``"luma"`` on the progressive photos of ``benchmarks/bench_models.py``, up to 1 level more mean
      error at full size; the DC refinement's lost bit is what libjpeg-turbo's block smoothing fills in).

    None when it is not a progressive Huffman JPEG, has no such scan, sends a first pass of a dropped kind more
    than :data:`MAX_LOST_BITS` short of full precision (an unusual script whose error was not measured), or its
    structure does not check out."""
    if drop not in SCAN_POLICIES:
        raise ValueError(f"drop must be one of {SCAN_POLICIES}, got {drop!r}")
    segs = segments(data)
    sof = next((g for g in segs or () if g.marker == _SOF_PROGRESSIVE_HUFFMAN and g.end >= g.start + 13), None)
    if sof is None:
        return None
    luma = data[sof.start + 10]  # the first component's id

    def kind(g: MarkerSegment) -> bool:  # a scan of a kind whose refinements go
        return g.scan is not None and (drop == "all" or (g.scan[0] == (luma,) and g.scan[1] > 0))

    def dropped(g: MarkerSegment) -> bool:
        return kind(g) and g.scan[3] > 0

    first_al = [g.scan[4] for g in segs if kind(g) and g.scan[3] == 0]
    # only what was measured: first passes at most MAX_LOST_BITS short (libjpeg's standard script: 2 luma AC, 1
    # DC and chroma AC)
    if not any(dropped(g) for g in segs) or max(first_al, default=0) > MAX_LOST_BITS:
        return None
    view = memoryview(data)
    return b"".join(view[g.start:g.end] for g in segs if not dropped(g))


class JpegHeader(NamedTuple):
    """What :func:`header` read: the stored size (before EXIF orientation), 1 or 3 components, progressive or not,
    the EXIF orientation (1 when there is none), and whether a colour component is stored at a lower resolution
    than another (chroma subsampling: 4:2:0, 4:2:2, ...)."""

    width: int
    height: int
    components: int
    progressive: bool
    orientation: int
    subsampled: bool = False


_SOF_HUFFMAN = (0xC0, 0xC1, 0xC2)  # baseline, extended, progressive (8-bit Huffman); other SOFn: PIL decides
_SOF_ANY = {*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}  # DHT, JPG and DAC share the range
_EXIF, _XMP = b"Exif\x00\x00", b"http://ns.adobe.com/xap/1.0/"


def header(data: bytes) -> JpegHeader | None:
    """The header of an 8-bit Huffman JPEG of 1 or 3 components, read up to its first scan, or None: another kind of
    file or JPEG, a structure that does not check out, or a segment PIL might read differently (XMP, which can carry
    an orientation; Adobe, whose colour transform PIL reads; MPF, which can make the file a PIL MPO; several EXIF
    blocks, which PIL joins; an EXIF orientation that is not one SHORT of 1-8)."""
    if data[:2] != b"\xff\xd8":
        return None
    n, i, sof, exif = len(data), 2, None, None
    while True:
        while i + 1 < n and data[i] == 0xFF and data[i + 1] == 0xFF:  # fill bytes before a marker
            i += 1
        if i + 4 > n or data[i] != 0xFF:
            return None
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        end = i + 2 + length
        if length < 2 or end > n or marker in _STANDALONE or marker in (0xD8, _EOI):
            return None
        if marker == _SOS:
            break
        if marker in _SOF_ANY:
            if sof is not None or marker not in _SOF_HUFFMAN or length < 8 or length < 8 + 3 * data[i + 9]:
                return None
            sampling = {data[k] for k in range(i + 11, i + 10 + 3 * data[i + 9], 3)}  # (h << 4) | v per component
            sof = (marker, data[i + 4], int.from_bytes(data[i + 5:i + 7], "big"),
                   int.from_bytes(data[i + 7:i + 9], "big"), data[i + 9], len(sampling) > 1)
        elif marker == 0xE1:
            body = data[i + 4:end]
            if body.startswith(_XMP) or (body.startswith(_EXIF) and exif is not None):
                return None
            if body.startswith(_EXIF):
                exif = body[6:]
        elif (marker == 0xEE and data[i + 4:i + 9] == b"Adobe") or (marker == 0xE2 and data[i + 4:i + 8] == b"MPF\x00"):
            return None
        i = end
    if sof is None:
        return None
    marker, bits, height, width, components, subsampled = sof
    if bits != 8 or components not in (1, 3) or height < 1 or width < 1:
        return None
    orientation = 1 if exif is None else _exif_orientation(exif)
    if orientation is None:
        return None
    return JpegHeader(width, height, components, marker == 0xC2, orientation, subsampled)


_TIFF_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}  # bytes per value


def _exif_orientation(tiff: bytes) -> int | None:
    """The orientation (tag 0x0112) in IFD0 of an EXIF block's TIFF structure: 1 when absent; None when the block is
    not plain — an entry of an unknown type or whose values run past the block (PIL stops reading there), the tag
    twice, or not one SHORT of 1-8 — and PIL's reading then decides."""
    order = {b"II": "little", b"MM": "big"}.get(bytes(tiff[:2]))
    if order is None or len(tiff) < 8 or int.from_bytes(tiff[2:4], order) != 42:
        return None
    ifd = int.from_bytes(tiff[4:8], order)
    count = int.from_bytes(tiff[ifd:ifd + 2], order) if ifd + 2 <= len(tiff) else -1
    if count < 0 or ifd + 2 + 12 * count > len(tiff):
        return None
    found = []
    for k in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag, kind, values = (int.from_bytes(tiff[k:k + 2], order), int.from_bytes(tiff[k + 2:k + 4], order),
                             int.from_bytes(tiff[k + 4:k + 8], order))
        size = _TIFF_SIZES.get(kind, 0) * values
        if kind not in _TIFF_SIZES or (size > 4 and int.from_bytes(tiff[k + 8:k + 12], order) + size > len(tiff)):
            return None
        if tag == 0x0112:
            value = int.from_bytes(tiff[k + 8:k + 10], order)
            found.append(value if kind == 3 and values == 1 and 1 <= value <= 8 else None)
    return 1 if not found else found[0] if len(found) == 1 else None
