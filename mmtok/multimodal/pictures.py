"""Pictures of what tokenization did, as PIL images: the one module of drawing functions the demo, the notebook
view (:mod:`mmtok.multimodal.notebook`) and ``mmtok tokenize --png`` use (no gradio here).

- :func:`patch_grid`: the original picture with every patch box drawn (and one span or token highlighted);
- :func:`frame_strip`: the sampled frames of a clip with their timestamps and per-frame token counts;
- :func:`waveform` and :func:`mel_picture`: a clip's waveform and log-mel features with token boundaries;
  :func:`audio_view`: both on one time axis (seconds), the mel in a perceptual colour map with its Hz axis;
- :func:`code_map`: a VQ code map, each code its own colour;
- :func:`timeline`: (label, modality) pairs, one per span; :func:`timeline_strip`: the proportional strip (width
  per token, coloured by each token's modality) and :func:`strip_token` its inverse (pixel -> token);
- :func:`budget_chart`: tokens per model stacked by modality, unsupported pieces named with the model's reason;
- :func:`model_picture`: a picture as a model resizes it, its patch grid and its merged / pooled token cells.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from ..core.sequence import TokenSequence
from ..core.vocab import Modality

__all__ = ["to_pil", "patch_grid", "frame_strip", "waveform", "mel_picture", "audio_view", "code_map", "timeline",
           "timeline_strip", "strip_token", "budget_chart", "model_picture", "colormap", "MODALITY_COLORS"]

MODALITY_COLORS = {"control": "#9e9e9e", "text": "#4e79a7", "image": "#f28e2b", "video": "#e15759",
                   "audio": "#59a14f", "image_codes": "#b07aa1"}
# viridis (matplotlib's perceptually uniform map) at 0, 1/8, ..., 1; colormap() interpolates between them
_VIRIDIS = np.array([(68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141), (39, 173, 129),
                     (92, 200, 99), (170, 220, 50), (253, 231, 37)], dtype=np.float64)
_LUT = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_VIRIDIS)), _VIRIDIS[:, c])
                 for c in range(3)], 1).round().astype(np.uint8)  # (256, 3)


def _font(size: int = 12) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def colormap(values: np.ndarray) -> np.ndarray:
    """float [...] in [0, 1] -> uint8 [..., 3] in viridis (dark blue low, yellow high); values outside are clipped."""
    return _LUT[np.clip(np.nan_to_num(values) * 255, 0, 255).round().astype(np.int64)]


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
    """Log-mel ``features`` float [T, n_mels] (low frequencies at the bottom, viridis: dark is quiet) with a tick at
    every token boundary (every ``stack`` frames) and tokens ``highlight`` = [start, end) outlined."""
    f = features.T.flip(0).float()  # (n_mels, T)
    lo, hi = float(f.min()), float(f.max())
    t = f.shape[1]
    step = max(1, -(-t // max_width))  # frames per pixel column
    level = ((f - lo) / max(hi - lo, 1e-9)).numpy()[:, ::step]
    img = PILImage.fromarray(colormap(level), "RGB")
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


# --- one time axis for a sound -----------------------------------------------------------------------------
def _mel_of(hz: np.ndarray, scale: str) -> np.ndarray:
    """Hz -> mel on the HTK scale (2595 log10(1 + f / 700)) or Slaney's (linear below 1 kHz, log above)."""
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    return np.where(hz < 1000.0, hz / (200.0 / 3), 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27))


def audio_view(wave: torch.Tensor, sample_rate: int, features: torch.Tensor, stack: int, *, f_min: float,
               f_max: float, mel_scale: str = "htk", frames_per_second: int = 100,
               highlight: tuple[int, int] | None = None, width: int = 900) -> PILImage.Image:
    """The waveform float [S] above its log-mel ``features`` float [T, n_mels], both on one axis in seconds
    (frame ``i`` drawn over ``[i, i + 1) / frames_per_second``), the mel in viridis with an axis in Hz (``f_min``
    .. ``f_max`` on the preset's ``mel_scale``, "htk" or "slaney"), a tick at every token boundary (``stack``
    frames) and tokens ``highlight`` = [start, end) shaded on both."""
    left, right, wave_h, axis_h = 58, 12, 90, 34
    plot_w = width - left - right
    mel_h = min(256, 2 * features.shape[1])
    seconds = max(len(wave) / sample_rate, features.shape[0] / frames_per_second, 1e-9)
    img = PILImage.new("RGB", (width, wave_h + mel_h + axis_h + 8), "white")
    draw, font = ImageDraw.Draw(img), _font(11)

    def x_of(t: float) -> float:
        return left + t / seconds * plot_w

    if highlight is not None:
        t0, t1 = (k * stack / frames_per_second for k in highlight)
        draw.rectangle([x_of(t0), 0, max(x_of(t0) + 1, x_of(t1)), wave_h - 1], fill="#d9ead3")
    if len(wave):
        w = wave.float().numpy()
        n = max(1, round(len(w) / sample_rate / seconds * plot_w))
        edges = np.linspace(0, len(w), n + 1).astype(np.int64)
        peak = max(float(np.abs(w).max()), 1e-9)
        for x in range(n):
            seg = w[edges[x]:max(edges[x + 1], edges[x] + 1)]
            lo, hi = float(seg.min()) / peak, float(seg.max()) / peak
            draw.line([left + x, (1 - hi) * (wave_h - 4) / 2 + 2, left + x, (1 - lo) * (wave_h - 4) / 2 + 2],
                      fill="#59a14f")
    draw.text((4, wave_h // 2 - 6), "wave", fill="black", font=font)
    top = wave_h + 4
    mel_w = max(1, round(features.shape[0] / frames_per_second / seconds * plot_w))
    mel = mel_picture(features, stack, height_scale=1, max_width=10**9).resize((mel_w, mel_h), PILImage.BILINEAR)
    img.paste(mel, (left, top))
    if highlight is not None:
        t0, t1 = (k * stack / frames_per_second for k in highlight)
        draw.rectangle([x_of(t0), top, max(x_of(t0) + 1, x_of(t1)) - 1, top + mel_h - 1], outline="white", width=2)
    lo_m, hi_m = _mel_of(np.array([f_min, f_max]), mel_scale)
    for hz in [f for f in (f_min, 250, 500, 1000, 2000, 4000, f_max) if f_min <= f <= f_max]:
        y = top + mel_h - 1 - (float(_mel_of(np.array([hz]), mel_scale)[0]) - lo_m) / (hi_m - lo_m) * (mel_h - 1)
        draw.line([left - 4, y, left, y], fill="black")
        draw.text((4, y - 6), f"{hz / 1000:g} kHz" if hz >= 1000 else f"{hz:g} Hz", fill="black", font=font)
    base = top + mel_h
    n_tokens = -(-features.shape[0] // stack)
    every = max(1, -(-n_tokens // 150))  # at most ~150 ticks
    for k in range(0, n_tokens + 1, every):
        x = x_of(min(k * stack, features.shape[0]) / frames_per_second)
        draw.line([x, base, x, base + 5], fill="#b07aa1")
    step = next(s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600) if seconds / s <= 10)
    for k in range(int(seconds / step) + 1):
        x = x_of(k * step)
        draw.line([x, base + 6, x, base + 12], fill="black")
        draw.text((x - 8, base + 14), f"{k * step:g}", fill="black", font=font)
    draw.text((width - right - 200, base + 14), f"seconds · ticks: token boundaries ({stack} frames)", fill="black",
              font=font)
    return img


# --- the token timeline ------------------------------------------------------------------------------------
def timeline_strip(seq: TokenSequence, width: int = 960, height: int = 28,
                   highlight: int | None = None) -> PILImage.Image:
    """One strip for the whole sequence, width proportional to tokens: each token in its modality's colour (a
    clip's sound tokens in audio's), a white line where a span ends, span ``highlight`` outlined, and the token
    count under it. :func:`strip_token` maps an x back to a token."""
    n = len(seq)
    img = PILImage.new("RGB", (width, height + 16), "white")
    draw, font = ImageDraw.Draw(img), _font(11)
    if n:
        mod = seq.modality
        cuts = [0] + ((mod[1:] != mod[:-1]).nonzero()[:, 0] + 1).tolist() + [n]
        labels = {int(m): m.label for m in Modality}
        for a, b in zip(cuts[:-1], cuts[1:]):
            draw.rectangle([a * width // n, 0, max(a * width // n, b * width // n - 1), height - 1],
                           fill=MODALITY_COLORS[labels[int(mod[a])]])
        for k, span in enumerate(seq.spans):
            x0, x1 = span.start * width // n, span.end * width // n
            if x1 - x0 >= 3:
                draw.line([x1 - 1, 0, x1 - 1, height - 1], fill="white")
            label = f"{span.modality.label} {span.length:,}"
            if draw.textlength(label, font=font) + 6 < x1 - x0:
                draw.text((x0 + 3, height // 2 - 7), label, fill="white", font=font)
            if k == highlight:
                draw.rectangle([x0, 0, max(x0, x1 - 1), height - 1], outline="black", width=2)
    draw.text((0, height + 2), "0", fill="black", font=font)
    end = f"{n:,} tokens"
    draw.text((width - draw.textlength(end, font=font) - 1, height + 2), end, fill="black", font=font)
    return img


def strip_token(seq: TokenSequence, x: float, width: int = 960) -> int:
    """The token under pixel column ``x`` of :func:`timeline_strip` (same ``width``), clamped to the sequence."""
    n = len(seq)
    return min(max(int((x + 0.5) * n // width), 0), max(n - 1, 0))


# --- budgets -----------------------------------------------------------------------------------------------
def budget_chart(rows: list[dict], width: int = 900) -> PILImage.Image:
    """``mmtok.budget`` rows as horizontal bars, one per model, stacked text / image / video / audio in their
    colours with the total at the end; a model that cannot take a piece says so in red with its reason
    (shortened; the rows hold the whole text) instead of counting it as 0."""
    cols = ("text", "image", "video", "audio")
    left, bar_h, gap = 170, 18, 10
    heights = [bar_h + gap + 14 * len(r["unsupported"]) for r in rows]
    img = PILImage.new("RGB", (width, 24 + sum(heights)), "white")
    draw, font = ImageDraw.Draw(img), _font(12)
    most = max([r["total"] for r in rows] + [1])
    x = left
    for c in cols:  # legend
        draw.rectangle([x, 4, x + 10, 14], fill=MODALITY_COLORS[c])
        draw.text((x + 14, 2), c, fill="black", font=font)
        x += 70
    y = 24
    for r, h in zip(rows, heights):
        draw.text((4, y + 2), str(r["model"]), fill="black", font=font)
        x = left
        for c in cols:
            w = r[c] / most * (width - left - 110)
            if r[c]:
                draw.rectangle([x, y, max(x + 1, x + w) - 1, y + bar_h - 1], fill=MODALITY_COLORS[c])
            x += w
        draw.text((x + 6, y + 2), f"{r['total']:,}" + (" (partial)" if r["unsupported"] else ""), fill="black",
                  font=font)
        for j, why in enumerate(r["unsupported"]):
            short = why if len(why) <= 110 else why[:107] + "..."
            draw.text((left, y + bar_h + 1 + 14 * j), f"unsupported: {short}", fill="#c62828", font=_font(11))
        y += h
    return img


# --- a picture as a model sees it ------------------------------------------------------------------------
def model_picture(picture: torch.Tensor, meta, highlight: int | None = None, max_side: int = 448) -> PILImage.Image:
    """The original ``picture`` uint8 [3, H, W] resized as a model's span ``meta`` says (``resized_size``, then
    ``crop``), its patch grid (thin lines every ``patch_size`` px) and its token cells (``merge`` x ``merge``
    patches: Qwen's merged 2x2, Gemma 4's pooled 3x3; thick lines), token ``highlight`` (row-major) filled. Shown
    at most ``max_side`` px on a side; the grid is drawn at the model's resolution, then scaled."""
    h, w = meta.resized_size
    img = to_pil(picture).resize((w, h), PILImage.BICUBIC)
    if meta.crop is not None:
        top, lft, ch, cw = meta.crop
        img = img.crop((lft, top, lft + cw, top + ch))
    p, m = meta.patch_size, max(1, meta.merge)
    scale = min(1.0, max_side / max(img.size))
    out = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), PILImage.BICUBIC)
    if not (p and meta.rows and meta.cols):
        return out
    layer = PILImage.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    if highlight is not None:
        tr, tc = divmod(highlight, max(1, meta.cols // m))
        draw.rectangle([tc * m * p * scale, tr * m * p * scale, (tc + 1) * m * p * scale - 1,
                        (tr + 1) * m * p * scale - 1], fill="#f28e2b90")
    for k in range(meta.cols + 1):
        x = min(k * p * scale, out.width - 1)
        draw.line([x, 0, x, out.height], fill="#ffffff" + ("e0" if k % m == 0 else "50"), width=2 if k % m == 0 else 1)
    for k in range(meta.rows + 1):
        y = min(k * p * scale, out.height - 1)
        draw.line([0, y, out.width, y], fill="#ffffff" + ("e0" if k % m == 0 else "50"), width=2 if k % m == 0 else 1)
    return PILImage.alpha_composite(out.convert("RGBA"), layer).convert("RGB")
