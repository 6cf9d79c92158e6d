"""Pictures of what tokenization did, as PIL images (for the demo, notebooks and docs; no gradio here).

- :func:`patch_grid`: the original picture with every patch box drawn (and one span or token highlighted);
- :func:`frame_strip`: the sampled frames of a clip with their timestamps and per-frame token counts;
- :func:`waveform` and :func:`mel_picture`: a clip's waveform and log-mel features with token boundaries;
- :func:`code_map`: a VQ code map, each code its own colour;
- :func:`timeline`: (label, modality) pairs, one per span, for a coloured token timeline.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageDraw

from ..core.sequence import TokenSequence

__all__ = ["to_pil", "patch_grid", "frame_strip", "waveform", "mel_picture", "code_map", "timeline",
           "MODALITY_COLORS"]

MODALITY_COLORS = {"control": "#9e9e9e", "text": "#4e79a7", "image": "#f28e2b", "video": "#e15759",
                   "audio": "#59a14f", "image_codes": "#b07aa1"}


def to_pil(pixels: torch.Tensor) -> PILImage.Image:
    """uint8 [3, H, W] -> an RGB PIL image."""
    return PILImage.fromarray(pixels.permute(1, 2, 0).contiguous().numpy(), "RGB")


def patch_grid(picture: torch.Tensor, boxes: torch.Tensor, highlight: torch.Tensor | None = None,
               color: str = "#f28e2b") -> PILImage.Image:
    """``picture`` uint8 [3, H, W] with ``boxes`` float [N, 4] (x0, y0, x1, y1 in its pixels) outlined; rows of
    ``boxes`` selected by ``highlight`` (bool [N]) are filled. NaN boxes (padding-only patches) are skipped."""
    img = to_pil(picture).convert("RGBA")
    layer = PILImage.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for k, b in enumerate(boxes.tolist()):
        if any(v != v for v in b):
            continue
        lit = highlight is not None and bool(highlight[k])
        draw.rectangle([b[0], b[1], b[2] - 1, b[3] - 1], outline=color + "c0",
                       fill=(color + "90") if lit else None, width=1)
    return PILImage.alpha_composite(img, layer).convert("RGB")


def frame_strip(frames: torch.Tensor, timestamps: list[float], tokens_per_frame: list[int], columns: int = 8,
                highlight: int | None = None) -> PILImage.Image:
    """Frames uint8 [N, 3, H, W] tiled ``columns`` wide, each captioned with its time and token count."""
    n, _, h, w = frames.shape
    scale = 160 / max(h, w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    rows = -(-n // columns)
    sheet = PILImage.new("RGB", (columns * (tw + 4), rows * (th + 22)), "white")
    draw = ImageDraw.Draw(sheet)
    for k in range(n):
        x, y = (k % columns) * (tw + 4), (k // columns) * (th + 22)
        sheet.paste(to_pil(frames[k]).resize((tw, th)), (x, y))
        if k == highlight:
            draw.rectangle([x, y, x + tw - 1, y + th - 1], outline="#e15759", width=4)
        draw.text((x + 2, y + th + 3), f"{timestamps[k]:.2f} s · {tokens_per_frame[k]} tok", fill="black")
    return sheet


def waveform(wave: torch.Tensor, sample_rate: int, span: tuple[float, float] | None = None,
             width: int = 900, height: int = 140) -> PILImage.Image:
    """A min/max envelope of ``wave`` float [S]; ``span`` (start, end) seconds is shaded."""
    img = PILImage.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    s = len(wave)
    if span is not None and s:
        x0, x1 = (int(t * sample_rate / s * width) for t in span)
        draw.rectangle([x0, 0, max(x0 + 1, x1), height], fill="#d9ead3")
    if s:
        edges = np.linspace(0, s, width + 1).astype(np.int64)
        w = wave.numpy()
        peak = max(float(np.abs(w).max()), 1e-9)
        for x in range(width):
            seg = w[edges[x]:max(edges[x + 1], edges[x] + 1)]
            lo, hi = float(seg.min()) / peak, float(seg.max()) / peak
            draw.line([x, (1 - hi) * height / 2, x, (1 - lo) * height / 2], fill="#59a14f")
    return img


def mel_picture(features: torch.Tensor, stack: int, highlight: tuple[int, int] | None = None,
                height_scale: int = 2, max_width: int = 1600) -> PILImage.Image:
    """Log-mel ``features`` float [T, n_mels] (low frequencies at the bottom) with a tick at every token boundary
    (every ``stack`` frames) and tokens ``highlight`` = [start, end) outlined."""
    f = features.T.flip(0).float()  # (n_mels, T)
    lo, hi = float(f.min()), float(f.max())
    gray = ((f - lo) / max(hi - lo, 1e-9) * 255).round().to(torch.uint8).numpy()
    t = gray.shape[1]
    step = max(1, -(-t // max_width))  # frames per pixel column
    gray = gray[:, ::step]
    img = PILImage.fromarray(gray, "L").convert("RGB")
    img = img.resize((img.width, img.height * height_scale), PILImage.NEAREST)
    draw = ImageDraw.Draw(img)
    n_tokens = -(-t // stack)
    every = max(1, -(-n_tokens * stack // step // 200))  # at most ~200 ticks
    for k in range(0, n_tokens + 1, every):
        x = k * stack // step
        draw.line([x, img.height - 6, x, img.height], fill="#ffcc00")
    if highlight is not None:
        x0, x1 = highlight[0] * stack // step, highlight[1] * stack // step
        draw.rectangle([x0, 0, max(x0 + 1, x1) - 1, img.height - 1], outline="#59a14f", width=2)
    return img


def code_map(codes: torch.Tensor, cell: int = 8) -> PILImage.Image:
    """A VQ code map int64 [h, w] as a picture: each code a fixed colour (golden-ratio hues), ``cell`` px each."""
    c = codes.long().numpy()
    hue = (c * 0.6180339887) % 1.0
    sat = 0.45 + 0.5 * ((c * 0.3819660113) % 1.0)
    val = 0.55 + 0.45 * ((c * 0.7548776662) % 1.0)
    hsv = np.stack([hue, sat, val], -1)
    rgb = np.asarray(PILImage.fromarray((hsv * 255).astype(np.uint8), "HSV").convert("RGB"))
    return PILImage.fromarray(rgb).resize((c.shape[1] * cell, c.shape[0] * cell), PILImage.NEAREST)


def timeline(seq: TokenSequence) -> list[tuple[str, str]]:
    """One ``(label, modality)`` pair per span, e.g. ``("image · 198", "image")``, in sequence order; a clip with
    its sound is one ``("video+audio · N", "video")`` pair."""
    return [(f"{span.modality.label}{'+audio' * bool(span.sound_features)} · {span.length}", span.modality.label)
            for span in seq.spans]
