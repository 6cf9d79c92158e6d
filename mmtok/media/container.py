"""Opening media files with PyAV for the video and audio paths: one place for names, empty files and errors."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DecodeError, InputError
from .paths import regular_file
from .sniff import sniff_bytes

__all__ = ["source_name", "open_media"]


def source_name(src: Any) -> str:
    """How errors and metadata name an input: its path, ``<N bytes>``, or ``<type shape>``."""
    if isinstance(src, (str, Path)):
        return str(src)
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"<{len(src)} bytes>"
    if isinstance(src, (torch.Tensor, np.ndarray)):
        return f"<{type(src).__name__} {tuple(src.shape)}>"
    return getattr(src, "name", None) or f"<{type(src).__name__}>"


def open_media(src: Any, name: str, kind: str, options: dict[str, str] | None = None):
    """``av.open`` a path, bytes or binary file and return (container, first ``kind`` stream), with mmtok errors.

    ``kind`` is ``"video"`` or ``"audio"``; ``options`` go to FFmpeg's demuxer (``av.open(options=...)``). A missing
    path is an :class:`InputError`; an empty, unreadable or stream-less file a :class:`DecodeError` naming it.
    """
    import av

    if isinstance(src, (str, Path)):
        p = regular_file(src, kind)
        if p.stat().st_size == 0:
            raise DecodeError(f"{name} is empty (0 bytes); give a {kind} file")
        arg: Any = str(p)
    elif isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise DecodeError(f"{name} is empty (0 bytes); give a {kind} file")
        arg = io.BytesIO(bytes(src))
    elif hasattr(src, "read"):
        arg = src
    else:
        extra = ", or a waveform tensor with its sample_rate" if kind == "audio" else ""
        raise InputError(f"cannot read {'a video' if kind == 'video' else 'audio'} from a {type(src).__name__}; "
                         f"give a path, bytes or a binary file{extra}")
    _refuse_picture(src, name, kind)
    try:
        container = av.open(arg, mode="r", metadata_errors="ignore", options=options or {})
    except av.FFmpegError as e:
        raise DecodeError(f"{name} cannot be opened as {kind} ({e}); the file is corrupt, truncated or not a media "
                          f"file: re-export or re-download it") from None
    streams = container.streams.video if kind == "video" else container.streams.audio
    if not streams:
        other = len(container.streams.audio if kind == "video" else container.streams.video)
        found = ", ".join(sorted({s.type for s in container.streams})) or "none"
        container.close()
        if kind == "video":
            hint = ("it has sound only: tokenize it as audio (mmtok.Audio / AudioTokenizer)" if other else
                    "give a video file")
        else:
            hint = ("it is a silent video: tokenize it as video (mmtok.Video / VideoTokenizer) or give a file with "
                    "sound" if other else "give an audio file or a video with sound")
        raise DecodeError(f"{name} has no {kind} stream (streams found: {found}); {hint}")
    return container, streams[0]


def _refuse_picture(src: Any, name: str, kind: str) -> None:
    """A still picture given as a clip or a sound is named as a picture (FFmpeg would open a JPEG as a one-frame
    video whose frame then fails to decode); an animated GIF, PNG or WebP is a clip."""
    if isinstance(src, (str, Path)):
        with open(src, "rb") as fh:
            head = fh.read(64)
    elif isinstance(src, (bytes, bytearray, memoryview)):
        head = bytes(src[:64])
    else:
        return  # a file object is read once, from where it stands
    if sniff_bytes(head) != "image":
        return
    from PIL import Image

    try:
        with Image.open(src if isinstance(src, (str, Path)) else io.BytesIO(bytes(src))) as im:
            fmt, frames = im.format, getattr(im, "n_frames", 1)
    except Exception:  # not a picture PIL reads after all: FFmpeg's verdict stands
        return
    if kind == "video" and frames > 1:
        return
    what = "a clip" if kind == "video" else "a sound"
    raise InputError(f"{name} is a picture ({fmt}), not {what}; give it as mmtok.Image(...) (an animated GIF, PNG "
                     f"or WebP is taken as a clip)")
