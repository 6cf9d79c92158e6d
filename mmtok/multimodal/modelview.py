"""How each model sees one picture, clip or sound, side by side (the demo's Models tab; usable from a notebook).

- :func:`model_views`: for each model name, its count (``ModelProcessor.num_tokens``, the library's), the tokens
  with its markers, and the prompt as that model lays it out (``ModelProcessor(name)([content])``), or the reason
  it does not take the content;
- :func:`picture_panels`: the picture as each model resizes it, its patch grid and token cells, side by side,
  with the layout :func:`cell_at` needs to map a click back to a model and a token;
- :func:`token_on_original`: that token's patch box on the original picture;
- :func:`time_lanes`: a clip's sampled frames or a sound's token intervals per model, on one time axis;
- :func:`clip_frames`: the frames each model takes from a clip, as thumbnails with their times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageDraw

from ..core.model_vocab import placeholder_ids
from ..core.sequence import TokenSequence
from ..core.vocab import Modality
from ..errors import InputError
from ..models import ModelProcessor
from ..models.base import as_pieces
from . import pictures

__all__ = ["ModelView", "Panel", "model_views", "picture_panels", "cell_at", "token_on_original", "time_lanes",
           "clip_frames", "stack"]


@dataclass(frozen=True)
class ModelView:
    """One model's view of one content: ``tokens`` (placeholder tokens) and ``with_markers`` are None when the model
    does not take it (``reason`` says why); ``seq`` is the prompt in the model's layout (None for a counts-only
    model, e.g. ``gemini-api``), ``span`` the index of the content's span in it."""

    model: str
    kind: str
    tokens: int | None
    with_markers: int | None
    reason: str = ""
    seq: TokenSequence | None = None
    span: int | None = None

    @property
    def caption(self) -> str:
        if self.tokens is None:
            return f"{self.model}: not supported"
        return f"{self.model}: {self.tokens:,} tokens (+{self.with_markers - self.tokens} markers)"

    def placeholders(self) -> torch.Tensor:
        """int64 [N] the sequence indices of the span's placeholder tokens, in order (empty without a sequence)."""
        if self.seq is None or self.span is None:
            return torch.empty(0, dtype=torch.int64)
        s = self.seq.spans[self.span]
        ids = self.seq.input_ids[s.start:s.end]
        want = torch.tensor(list(placeholder_ids(self.seq.vocab).values()), dtype=torch.int64)
        return torch.isin(ids, want).nonzero()[:, 0] + s.start


def model_views(content, models: list[str]) -> list[ModelView]:
    """Each model's view of ``content`` (a picture, clip or sound: ``mmtok.Image`` / ``Video`` / ``Audio`` /
    ``File`` or a path); a model that refuses it is a view with its reason, never a count of 0."""
    piece = as_pieces(content)[0]
    if piece.kind not in ("image", "video", "audio"):
        raise InputError(f"the Models view takes a picture, clip or sound, got {piece.kind}")
    modality = Modality.parse(piece.kind)
    views = []
    for name in models:
        proc = ModelProcessor(name)
        try:
            n, total = proc.num_tokens(content), proc.segment_length(content)
        except InputError as e:
            views.append(ModelView(name, piece.kind, None, None, str(e)))
            continue
        seq = span = None
        try:
            seq = proc([content])
        except InputError:  # a counts-only model: no sequence to draw
            pass
        if seq is not None:
            span = next((k for k, s in enumerate(seq.spans) if s.modality == modality), None)
        views.append(ModelView(name, piece.kind, n, total, "", seq, span))
    return views


@dataclass(frozen=True)
class Panel:
    """Where one model's picture sits in :func:`picture_panels`' image: its box and the scale of its grid."""

    view: int  # index in the views
    x: int
    y: int
    width: int
    height: int
    scale: float  # panel pixels per model pixel
    meta: object | None


def picture_panels(views: list[ModelView], original: torch.Tensor, side: int = 320,
                   highlight: tuple[int, int] | None = None) -> tuple[PILImage.Image, list[Panel]]:
    """One panel per view, side by side (4 per row): the original uint8 [3, H, W] as the model resizes it, its
    patch grid and token cells (:func:`pictures.model_picture`), each at most ``side`` px, captioned with the
    model's count; a counts-only model shows the original without a grid, a refusing one its reason.
    ``highlight`` = (view index, token cell) fills one cell. Returns the image and the panels."""
    font, small = pictures._font(13), pictures._font(11)
    tiles, metas = [], []
    for k, v in enumerate(views):
        meta = v.seq.spans[v.span].meta if v.seq is not None and v.span is not None else None
        if meta is not None and getattr(meta, "resized_size", (0, 0))[0]:
            cell = highlight[1] if highlight is not None and highlight[0] == k else None
            pic = pictures.model_picture(original, meta, highlight=cell, max_side=side)
        else:
            meta, pic = None, pictures.to_pil(original)
            pic.thumbnail((side, side))
        tiles.append(pic)
        metas.append(meta)
    per_row, cap = 4, 34
    rows = [tiles[i:i + per_row] for i in range(0, len(tiles), per_row)]
    width = max(sum(t.width + 12 for t in r) for r in rows) if rows else 1
    height = sum(max(t.height for t in r) + cap + 12 for r in rows) if rows else 1
    out = PILImage.new("RGB", (max(width, 1), max(height, 1)), "white")
    draw, panels, y, k = ImageDraw.Draw(out), [], 0, 0
    for r in rows:
        x = 0
        for t in r:
            v, meta = views[k], metas[k]
            out.paste(t, (x, y + cap))
            draw.text((x, y + 2), v.caption, fill="black" if v.tokens is not None else "#c62828", font=font)
            if v.tokens is None:
                draw.text((x, y + 18), (v.reason[:60] + "...") if len(v.reason) > 60 else v.reason, fill="#c62828",
                          font=small)
            elif meta is not None:
                h, w = meta.resized_size if meta.crop is None else meta.crop[2:]
                draw.text((x, y + 18), f"resized to {w}x{h}, {meta.patch_size} px patches, {meta.merge}x{meta.merge} "
                          f"per token", fill="#444444", font=small)
            scale = t.width / (meta.resized_size[1] if meta is not None and meta.crop is None
                               else meta.crop[3] if meta is not None else 1)
            panels.append(Panel(k, x, y + cap, t.width, t.height, scale, meta))
            x += t.width + 12
            k += 1
        y += max(t.height for t in r) + cap + 12
    return out, panels


def cell_at(panels: list[Panel], x: float, y: float) -> tuple[int, int] | None:
    """(view index, token cell, row-major) under pixel (x, y) of :func:`picture_panels`' image, or None."""
    for p in panels:
        if p.meta is None or not (p.x <= x < p.x + p.width and p.y <= y < p.y + p.height):
            continue
        size = p.meta.patch_size * max(1, p.meta.merge) * p.scale  # panel pixels per token cell
        cols = max(1, p.meta.cols // max(1, p.meta.merge))
        rows = max(1, p.meta.rows // max(1, p.meta.merge))
        r, c = min(int((y - p.y) // size), rows - 1), min(int((x - p.x) // size), cols - 1)
        return p.view, r * cols + c
    return None


def token_on_original(view: ModelView, cell: int, original: torch.Tensor) -> tuple[PILImage.Image, str]:
    """Token cell ``cell`` of ``view`` on the original picture (every cell's box outlined, this one filled) and
    the sentence of :func:`mmtok.multimodal.explain.describe_token`."""
    from .explain import describe_token

    where = view.placeholders()
    if not 0 <= cell < len(where):
        raise InputError(f"{view.model} has {len(where)} token cells here; cell {cell} is not one of them")
    s = view.seq.spans[view.span]
    boxes = view.seq.provenance_table()["box"][s.start:s.end].float()
    lit = torch.arange(s.start, s.end) == int(where[cell])
    return pictures.patch_grid(original, boxes, lit), describe_token(view.seq, int(where[cell]))


def time_lanes(views: list[ModelView], seconds: float, width: int = 900,
               extra: list[tuple[str, list[tuple[float, float]]]] = ()) -> PILImage.Image:
    """One lane per view on one axis of ``seconds``: for a clip, a mark at each sampled frame (from its display
    start); for a sound, a tick at every token boundary. ``extra`` adds lanes (name, intervals) first, e.g. mmtok's
    own. A model that refuses the content says so in its lane."""
    lanes: list[tuple[str, list[tuple[float, float]] | None, str]] = [(n, iv, "") for n, iv in extra]
    for v in views:
        if v.tokens is None:
            lanes.append((v.caption, None, v.reason))
            continue
        iv: list[tuple[float, float]] = []
        if v.seq is not None and v.span is not None:
            s = v.seq.spans[v.span]
            t = v.seq.provenance_table()["time"][s.start:s.end]
            iv = sorted({(float(a), float(b)) for a, b in t.tolist() if a == a})
        lanes.append((v.caption, iv, "" if iv else "counts only: no sequence to draw"))
    left, lane_h = 250, 26
    img = PILImage.new("RGB", (width, lane_h * len(lanes) + 30), "white")
    draw, font = ImageDraw.Draw(img), pictures._font(11)
    plot = width - left - 10
    for k, (name, iv, note) in enumerate(lanes):
        y = k * lane_h
        draw.text((4, y + 7), name[:40], fill="black" if iv is not None else "#c62828", font=font)
        draw.line([left, y + lane_h - 4, left + plot, y + lane_h - 4], fill="#cccccc")
        if iv is None or not iv:
            draw.text((left + 4, y + 7), note[:110], fill="#c62828" if iv is None else "#444444", font=font)
            continue
        color = pictures.MODALITY_COLORS["video" if views and views[0].kind == "video" else "audio"]
        last = -10.0
        for a, b in iv:
            x0 = left + a / max(seconds, 1e-9) * plot
            x1 = left + min(b, seconds) / max(seconds, 1e-9) * plot
            draw.rectangle([x0, y + 6, max(x0 + 1, x1 - 1), y + lane_h - 6], fill=color)
            if x0 - last >= 2:
                draw.line([x0, y + 3, x0, y + lane_h - 3], fill="black")
                last = x0
    base = lane_h * len(lanes)
    step = next(s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300, 600, 1800) if seconds / s <= 10)
    for j in range(int(seconds / step) + 1):
        x = left + j * step / max(seconds, 1e-9) * plot
        draw.line([x, base, x, base + 5], fill="black")
        draw.text((x - 6, base + 8), f"{j * step:g}", fill="black", font=font)
    draw.text((4, base + 8), "seconds", fill="black", font=font)
    return img


def clip_frames(views: list[ModelView], src, max_duration: float, width: int = 1200, height: int = 64,
                limit: int = 48) -> PILImage.Image:
    """The frames each model takes from clip ``src``, one block per view: a thumbnail (``height`` px high) of the
    first frame of each token group (Qwen: ``temporal_patch_size`` frames per group) with its start time in
    seconds, wrapped at ``width``. A view with more than ``limit`` groups shows ``limit`` of them evenly spaced
    and says so; a counts-only or refusing model says why it has no frames. Each frame is decoded once for all
    views (:meth:`mmtok.video.frames.FrameDecoder.pick`) and shrunk at once."""
    from ..media.container import source_name
    from ..video.frames import FrameDecoder
    from ..video.tokenizer import VideoConfig

    blocks: list[tuple[ModelView, object, list[int]]] = []
    for v in views:
        meta = v.seq.spans[v.span].meta if v.seq is not None and v.span is not None else None
        groups = []
        if meta is not None and getattr(meta, "frame_indices", ()):
            tps = max(1, meta.temporal_patch_size)
            groups = list(range(0, len(meta.frame_indices), tps))  # positions of each group's first frame
            if len(groups) > limit:
                groups = [groups[int(g)] for g in np.linspace(0, len(groups) - 1, limit).round()]
        blocks.append((v, meta, groups))
    wanted = sorted({meta.frame_indices[g] for _, meta, groups in blocks for g in groups})
    thumbs: dict[int, PILImage.Image] = {}
    if wanted:
        dec = FrameDecoder(src, source_name(src), VideoConfig(num_frames=1, max_duration=max_duration))
        dec.pick(np.asarray(wanted, dtype=np.int64))
        for k, rgb in zip(wanted, dec):
            pic = PILImage.fromarray(rgb)
            pic.thumbnail((4 * height, height))
            thumbs[k] = pic
    font, small = pictures._font(13), pictures._font(10)
    tw = max((t.width for t in thumbs.values()), default=height) + 6
    per_row = max(1, (width - 8) // tw)
    layout_h = [22 + (-(-len(g) // per_row) * (height + 16) if g else 18) for _, _, g in blocks]
    out = PILImage.new("RGB", (width, sum(layout_h) + 8), "white")
    draw, y = ImageDraw.Draw(out), 4
    for (v, meta, groups), h in zip(blocks, layout_h):
        if v.tokens is None or meta is None:
            why = v.reason if v.tokens is None else "counts only: no frames to draw"
            draw.text((4, y), v.caption, fill="black" if v.tokens is not None else "#c62828", font=font)
            draw.text((4, y + 20), why[:150], fill="#c62828" if v.tokens is None else "#444444", font=small)
            y += h
            continue
        tps, n_groups = max(1, meta.temporal_patch_size), -(-len(meta.frame_indices) // max(1, meta.temporal_patch_size))
        note = f"{len(meta.frame_indices)} frames" + (f", {tps} per token group" if tps > 1 else "")
        if len(groups) < n_groups:
            note += f"; showing {len(groups)} of {n_groups} groups, evenly spaced"
        draw.text((4, y), f"{v.caption} · {note}", fill="black", font=font)
        for j, g in enumerate(groups):
            x, top = 4 + (j % per_row) * tw, y + 20 + (j // per_row) * (height + 16)
            out.paste(thumbs[meta.frame_indices[g]], (x, top))
            draw.text((x, top + height + 1), f"{meta.frame_indices[g] / meta.fps:.2f} s", fill="#444444", font=small)
        y += h
    return out


def stack(pictures_: list[PILImage.Image], gap: int = 8) -> PILImage.Image:
    """The pictures one under the other, left-aligned, on white."""
    out = PILImage.new("RGB", (max(p.width for p in pictures_), sum(p.height for p in pictures_) +
                               gap * (len(pictures_) - 1)), "white")
    y = 0
    for p in pictures_:
        out.paste(p, (0, y))
        y += p.height + gap
    return out
