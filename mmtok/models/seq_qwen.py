"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL prompts as one :class:`~mmtok.TokenSequence` (:mod:`mmtok.models.sequence`).

Spans: a picture is ``<|vision_start|>`` + its ``<|image_pad|>`` tokens + ``<|vision_end|>``; a clip is
``<|vision_start|>`` + its ``<|video_pad|>`` tokens + ``<|vision_end|>`` (Qwen3-VL: each temporal patch's
``<t seconds>`` text and its own markers inside, as the processor writes them).

Features: one row per merged token, the ``merge_size**2`` patch rows of ``pixel_values`` (``pixel_values_videos``)
that the merger folds into it, concatenated in their order: an exact reshape, ``(n m1 m2) d -> n (m1 m2 d)``
(width ``4 * 3 * 2 * 14 * 14 = 4704``; 6144 for Qwen3-VL's 16-pixel patches).

Positions: each span's relative positions are ``get_rope_index``'s for its own tokens (:mod:`mmtok.models.qwen_rope`:
the run-by-run rule restarts at 0 in every span), and its extent, the position where the next span starts, is
``1 + `` its ``<|vision_end|>``'s position: ``rope_index`` moves on by ``max(h, w)`` after a vision run, which is
not "one past the largest position" when a clip's temporal positions run past its height and width (the span's
metadata records ``extent`` and :func:`mmtok.pack` uses it). So ``seq.positions_3d == proc.position_ids(contents)``.
A clip whose display rotation swaps its sides keeps the coded orientation in its positions, as ``position_ids``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from einops import rearrange

from ..core.sequence import TokenSequence
from ..core.vocab import Modality
from ..media.container import source_name
from .base import MODELS, Piece
from .qwen import IMAGE_PAD, VIDEO_PAD, QwenVLProcessor
from .qwen_rope import VisionRun, rope_index
from .seqmeta import ModelImageMeta, ModelVideoMeta
from .sequence import FAMILIES, Item, model_vocab

__all__ = ["qwen_sequence", "qwen_inverse"]


def _positions(image_id: int, video_id: int, runs: list[VisionRun], ids: torch.Tensor) -> tuple[torch.Tensor, int | None]:
    types = (ids == image_id).long() + 2 * (ids == video_id).long()
    pos = rope_index(types, runs)[0][:, 0, :]  # (3, n)
    extent = int(pos[0, -1]) + 1  # the span ends on <|vision_end|>, a text token
    return pos, None if extent == int(pos.max()) + 1 else extent


def qwen_sequence(impl: QwenVLProcessor, pieces: list[Piece], model: str):
    """(vocabulary, items, the processor's input_ids [L]) of a Qwen-VL prompt."""
    hf = impl.hf_inputs(pieces)
    cfg = impl.cfg
    vocab, _ = model_vocab(model, impl.text, {Modality.IMAGE: IMAGE_PAD, Modality.VIDEO: VIDEO_PAD})
    m, p = cfg.merge_size, cfg.patch_size
    pos = partial(_positions, vocab.placeholder(Modality.IMAGE), vocab.placeholder(Modality.VIDEO))
    items, counters = [], {"image": 0, "video": 0, "image_rows": 0, "video_rows": 0}
    for piece in pieces:
        if piece.kind == "text":
            items.append(Item(Modality.TEXT, [("text", piece.value)]))
            continue
        parts, runs, _ = impl._layout([piece], pixels=False)
        kind = "video" if piece.kind == "video" else "image"
        suffix = "_videos" if kind == "video" else ""
        t, gh, gw = hf[f"{kind}_grid_thw"][counters[kind]].tolist()
        start = counters[f"{kind}_rows"]
        rows = hf[f"pixel_values{suffix}"][start:start + t * gh * gw]
        counters[kind] += 1
        counters[f"{kind}_rows"] += t * gh * gw
        common = dict(model=model, resized_size=(gh * p, gw * p), patch_size=p, merge=m, rows=gh, cols=gw,
                      temporal_patch_size=cfg.temporal_patch_size)
        if kind == "video":
            plan = impl.video_plan(piece.value)
            size = plan.size if (plan.grid[1], plan.grid[2]) == (gh, gw) else plan.size[::-1]
            meta = ModelVideoMeta(source=source_name(piece.value.src), original_size=size,
                                  total_frames=plan.total_frames, fps=plan.fps,
                                  frame_indices=tuple(int(i) for i in plan.indices), groups=t,
                                  second_per_grid_t=plan.second_per_grid_t, **common)
        else:
            meta = ModelImageMeta(source=source_name(piece.value), original_size=impl._size(piece), **common)
        features = rearrange(rows, "(n k) d -> n (k d)", k=m * m)  # one merged token per row
        items.append(Item(Modality.VIDEO if kind == "video" else Modality.IMAGE, parts, meta, features,
                          positions=partial(pos, runs)))
    return vocab, items, hf["input_ids"][0]


def qwen_inverse(seq: TokenSequence) -> dict[str, torch.Tensor]:
    """``hf_inputs`` of a Qwen-VL sequence, from the sequence alone."""
    cfg: Any = MODELS[seq.vocab.model].config
    m2 = cfg.merge_size**2
    ids = seq.input_ids[None]
    types = (ids == seq.vocab.placeholder(Modality.IMAGE)).long() + 2 * (ids == seq.vocab.placeholder(Modality.VIDEO)).long()
    out = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "mm_token_type_ids": types}
    for seg in seq.unpack():
        if not isinstance(seg.meta, (ModelImageMeta, ModelVideoMeta)):
            continue
        kind = "video" if isinstance(seg.meta, ModelVideoMeta) else "image"
        rows = rearrange(seg.features, "n (k d) -> (n k) d", k=m2)
        grid = [seg.meta.groups if kind == "video" else 1, seg.meta.rows, seg.meta.cols]
        out.setdefault("pixel_values_videos" if kind == "video" else "pixel_values", []).append(rows)
        out.setdefault(f"{kind}_grid_thw", []).append(torch.tensor(grid, dtype=torch.long))
        if kind == "video":
            out.setdefault("second_per_grid_ts", []).append(seg.meta.second_per_grid_t)
    for key in ("pixel_values", "pixel_values_videos"):
        if key in out:
            out[key] = torch.cat(out[key])
    for key in ("image_grid_thw", "video_grid_thw"):
        if key in out:
            out[key] = torch.stack(out[key])
    if "second_per_grid_ts" in out:
        if cfg.video.second_per_grid_ts:
            out["second_per_grid_ts"] = torch.tensor(out["second_per_grid_ts"], dtype=torch.float32)
        else:
            del out["second_per_grid_ts"]
    return out


FAMILIES["qwen"] = (qwen_sequence, qwen_inverse)
