"""Gemma 4, Whisper and Chameleon prompts as one :class:`~mmtok.TokenSequence` (:mod:`mmtok.models.sequence`;
Qwen-VL: :mod:`mmtok.models.seq_qwen`). Positions are sequential (the same on all three rows) for these models.

**Gemma 4.** A picture is ``<|image>`` + its ``<|image|>`` soft tokens + ``<image|>``; a clip is, per sampled frame,
its ``mm:ss`` text, ``<|image>``, its ``<|video|>`` tokens and ``<image|>`` (one VIDEO span); a sound ``<|audio>`` +
its ``<|audio|>`` tokens + ``<audio|>``. Features: a soft token's row is the ``3 x 3`` patches the model's pooler
averages into it (``Gemma4VisionPooler``: kernel index ``x // 3 + (width / 3) * (y // 3)`` from
``image_position_ids``), in (dy, dx) order, each patch's 768 values as in ``pixel_values``: width 6912. The real
patches are the first ``rows * cols`` of ``pixel_values``, row-major (checked against ``image_position_ids``), so
the gather is the reshape ``(R dy C dx) d -> (R C) (dy dx d)``; the zero padding rows are dropped and restored by
the inverse. An audio token's row is its 4 mel frames (``input_features``' real frames, width 512), the last token
zero-padded to 4 frames (``padded_frames`` in its metadata); the frames past the real ones are zeros in
``input_features`` and are restored as such (``feature_frames``).

**Whisper.** The encoder's positions are not decoder ids: the sequence gives each of the ``1500 x windows``
positions of a sound the id of ``<|audio_position|>``, a marker mmtok appends after the tokenizer's ids
(``ModelVocab.size`` = tokenizer ids + 1); the sounds come first, then the decoder prompt, the ids
``hf_inputs`` returns as ``labels`` (``input_ids`` for text alone): the text pieces joined into one TEXT span,
as the processor joins them, with the ``<|startoftranscript|>...`` prefix and ``<|endoftext|>`` as CONTROL spans.
Features: an encoder position's row is the 2 mel frames its stride-2 convolution reads,
``[w, n_mels, 3000] -> [w * 1500, 2 * n_mels]`` (``w m (p two) -> (w p) (two m)``).

**Chameleon.** ``<s>`` (the tokenizer's BOS) a CONTROL span, a picture ``<racm3:break>`` + 1024 ``<image>`` +
``<eoss>``, the separator ``<reserved08706>`` a CONTROL span. Features: the ``16 x 16`` pixels of the 512x512 crop
each of the 32 x 32 VQ positions covers, ``[3, 512, 512] -> [1024, 3 * 16 * 16]`` (``c (h p1) (w p2) ->
(h w) (c p1 p2)``); the boxes tile the crop, ``crop`` in the metadata (the resized picture's centre 512x512).
"""

from __future__ import annotations

import math

import torch
from einops import rearrange

from ..core.sequence import TokenSequence
from ..core.vocab import Modality
from ..media.container import source_name
from ..media.imageio import image_size
from . import chameleon as cham
from . import gemma4 as g4
from . import whisper as wh
from .base import Piece
from .gemma4_media import MAX_SAMPLES
from .seqmeta import ModelAudioMeta, ModelControlMeta, ModelImageMeta, ModelVideoMeta
from .sequence import FAMILIES, Item, model_vocab

__all__ = ["gemma4_sequence", "gemma4_inverse", "whisper_sequence", "whisper_inverse", "chameleon_sequence",
           "chameleon_inverse", "AUDIO_POSITION"]

AUDIO_POSITION = "<|audio_position|>"  # appended to Whisper's ids: one encoder position (mmtok's marker)
G4_FRAMES = 4  # mel frames per Gemma 4 audio token (two stride-2 convolutions)


# --- Gemma 4 ----------------------------------------------------------------------------------------------------
def _pooled(pv: torch.Tensor, pos: torch.Tensor, rows: int, cols: int, k: int) -> torch.Tensor:
    """[frames, max_patches, d] -> [frames * tokens, k*k*d]: the k x k patches of each pooled token."""
    ys, xs = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    expected = torch.stack([xs, ys], dim=-1).reshape(-1, 2)
    assert all(torch.equal(p[:rows * cols], expected) for p in pos), "patches are not row-major"
    return rearrange(pv[:, :rows * cols], "f (R dy C dx) d -> (f R C) (dy dx d)", dy=k, dx=k, R=rows // k)


def _unpooled(rows_: torch.Tensor, meta: ModelImageMeta | ModelVideoMeta, frames: int) -> tuple[torch.Tensor,
                                                                                                torch.Tensor]:
    k, r, c = meta.merge, meta.rows, meta.cols
    real = rearrange(rows_, "(f R C) (dy dx d) -> f (R dy C dx) d", f=frames, dy=k, dx=k, R=r // k, C=c // k)
    pv = torch.zeros(frames, meta.max_patches, real.shape[-1], dtype=real.dtype)
    pv[:, :r * c] = real
    ys, xs = torch.meshgrid(torch.arange(r), torch.arange(c), indexing="ij")
    pos = torch.full((frames, meta.max_patches, 2), -1, dtype=torch.long)
    pos[:, :r * c] = torch.stack([xs, ys], dim=-1).reshape(-1, 2)
    return pv, pos


def gemma4_sequence(impl: g4.Gemma4Processor, pieces: list[Piece], model: str):
    hf = impl.hf_inputs(pieces)
    c = impl.cfg
    k, p = c.pooling_kernel_size, c.patch_size
    vocab, _ = model_vocab(model, impl.text, {Modality.IMAGE: g4.IMAGE, Modality.VIDEO: g4.VIDEO,
                                              Modality.AUDIO: g4.AUDIO})
    items, n_img, n_aud, n_vid, frame0 = [], 0, 0, 0, 0
    for piece in pieces:
        if piece.kind == "text":
            items.append(Item(Modality.TEXT, [("text", piece.value)]))
        elif piece.kind == "image":
            h, w = impl._image_hw(piece)
            rh, rw = g4.resized_size(h, w, c.max_soft_tokens, p, k)
            pv, pos = hf["pixel_values"][n_img:n_img + 1], hf["image_position_ids"][n_img:n_img + 1]
            n_img += 1
            meta = ModelImageMeta(source=source_name(piece.value), model=model, original_size=(h, w),
                                  resized_size=(rh, rw), patch_size=p, merge=k, rows=rh // p, cols=rw // p,
                                  max_patches=pv.shape[1])
            n = meta.tokens_per_frame
            items.append(Item(Modality.IMAGE, [("special", g4.BOI)] + [("special", g4.IMAGE)] * n
                              + [("special", g4.EOI)], meta, _pooled(pv, pos, meta.rows, meta.cols, k)))
        elif piece.kind == "audio":
            feats, mask = hf["input_features"][n_aud], hf["input_features_mask"][n_aud]
            n_aud += 1
            real = int(mask.sum())
            n = -(-real // G4_FRAMES)
            rows = torch.zeros(n * G4_FRAMES, feats.shape[1], dtype=feats.dtype)
            rows[:real] = feats[:real]
            samples = len(impl._waveform(piece))
            meta = ModelAudioMeta(source=source_name(piece.value.src), model=model, samples=samples,
                                  kept_samples=min(samples, MAX_SAMPLES), seconds_per_token=0.04,
                                  frames_per_token=G4_FRAMES, n_mels=feats.shape[1], real_frames=real,
                                  feature_frames=len(mask), padded_frames=n * G4_FRAMES - real)
            items.append(Item(Modality.AUDIO, [("special", g4.BOA)] + [("special", g4.AUDIO)] * n
                              + [("special", g4.EOA)], meta, rearrange(rows, "(n f) m -> n (f m)", f=G4_FRAMES)))
        else:
            frames = int(hf["num_frames_per_video"][n_vid])
            n_vid += 1
            pv = hf["pixel_values_videos"][frame0:frame0 + frames]
            pos = hf["video_position_ids"][frame0:frame0 + frames]
            frame0 += frames
            plan = impl._video(piece.value).plan
            h, w = impl._display_size(piece.value)
            rh, rw = g4.resized_size(h, w, c.video_max_soft_tokens, p, k)
            meta = ModelVideoMeta(source=source_name(piece.value.src), model=model, original_size=(h, w),
                                  resized_size=(rh, rw), patch_size=p, merge=k, rows=rh // p, cols=rw // p,
                                  max_patches=pv.shape[1], total_frames=plan.total_frames, fps=plan.fps,
                                  frame_indices=tuple(int(i) for i in plan.indices), groups=frames)
            items.append(Item(Modality.VIDEO, impl._video_parts(plan, meta.tokens_per_frame), meta,
                              _pooled(pv, pos, meta.rows, meta.cols, k)))
    return vocab, items, hf["input_ids"][0]


def gemma4_inverse(seq: TokenSequence) -> dict[str, torch.Tensor]:
    ids = seq.input_ids[None]
    types = torch.zeros_like(ids)
    for m, t in ((Modality.IMAGE, 1), (Modality.VIDEO, 2), (Modality.AUDIO, 3)):
        types[ids == seq.vocab.placeholder(m)] = t
    out: dict = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "mm_token_type_ids": types}
    lists: dict[str, list] = {}
    for seg in seq.unpack():
        meta = seg.meta
        if isinstance(meta, ModelImageMeta):
            pv, pos = _unpooled(seg.features, meta, 1)
            lists.setdefault("pixel_values", []).append(pv)
            lists.setdefault("image_position_ids", []).append(pos)
        elif isinstance(meta, ModelVideoMeta):
            pv, pos = _unpooled(seg.features, meta, meta.groups)
            lists.setdefault("pixel_values_videos", []).append(pv)
            lists.setdefault("video_position_ids", []).append(pos)
            lists.setdefault("num_frames_per_video", []).append(torch.tensor([meta.groups]))
        elif isinstance(meta, ModelAudioMeta):
            if seg.features is None:  # under 10 ms: no token, markers only
                frames = torch.zeros(0, meta.n_mels)
            else:
                frames = rearrange(seg.features, "n (f m) -> (n f) m", f=G4_FRAMES)
            feats = torch.zeros(meta.feature_frames, meta.n_mels, dtype=frames.dtype)
            feats[:meta.real_frames] = frames[:meta.real_frames]
            lists.setdefault("input_features", []).append(feats[None])
            lists.setdefault("input_features_mask", []).append((torch.arange(meta.feature_frames)
                                                                < meta.real_frames)[None])
    out.update({key: torch.cat(v) for key, v in lists.items()})
    return out


# --- Whisper ----------------------------------------------------------------------------------------------------
def whisper_sequence(impl: wh.WhisperProcessor, pieces: list[Piece], model: str):
    hf = impl.hf_inputs(pieces)
    vocab, extra = model_vocab(model, impl.text, {Modality.AUDIO: AUDIO_POSITION}, appended=(AUDIO_POSITION,))
    items, texts, w0 = [], [], 0
    for piece in pieces:
        if piece.kind == "text":
            texts.append(piece.value)
            continue
        samples = sum(len(ch) for ch in wh._chunks(piece.value.src, piece.value.sample_rate))
        nw = wh.num_windows(samples)
        feats = hf["input_features"][w0:w0 + nw]
        w0 += nw
        meta = ModelAudioMeta(source=source_name(piece.value.src), model=model, samples=samples,
                              kept_samples=samples, seconds_per_token=wh.HOP_LENGTH * wh.ENCODER_STRIDE / wh.SAMPLE_RATE,
                              frames_per_token=wh.ENCODER_STRIDE, n_mels=feats.shape[1], windows=nw)
        items.append(Item(Modality.AUDIO, meta=meta, ids=torch.full((nw * wh.TOKENS_PER_WINDOW,),
                                                                      extra[AUDIO_POSITION], dtype=torch.int64),
                          features=rearrange(feats, "w m (p two) -> (w p) (two m)", two=wh.ENCODER_STRIDE)))
    if not texts:
        return vocab, items, torch.zeros(0, dtype=torch.int64)
    own = impl.text.hf is None  # mmtok's ids: the processor writes the prefix and <|endoftext|> as markers
    if own:
        items.append(Item(Modality.CONTROL, [("special", wh.START), ("special", wh.NO_TIMESTAMPS)],
                          ModelControlMeta(model=model, role="prefix")))
    items.append(Item(Modality.TEXT, [("text", "".join(texts))]))
    if own:
        items.append(Item(Modality.CONTROL, [("special", wh.END)], ModelControlMeta(model=model, role="suffix")))
    return vocab, items, hf["labels" if "labels" in hf else "input_ids"][0]


def whisper_inverse(seq: TokenSequence) -> dict[str, torch.Tensor]:
    audio = seq.input_ids == seq.vocab.placeholder(Modality.AUDIO)
    text = seq.input_ids[~audio][None]
    if not bool(audio.any()):
        return {"input_ids": text, "attention_mask": torch.ones_like(text)}
    feats = rearrange(seq.features["audio"], "(w p) (two m) -> w m (p two)", p=wh.TOKENS_PER_WINDOW,
                      two=wh.ENCODER_STRIDE)
    return {"input_features": feats} | ({"labels": text} if text.numel() else {})


# --- Chameleon --------------------------------------------------------------------------------------------------
def chameleon_sequence(impl: cham.ChameleonProcessor, pieces: list[Piece], model: str):
    hf = impl.hf_inputs(pieces)
    c = impl.cfg
    side = math.isqrt(c.image_seq_length)
    patch = c.crop // side
    assert side * side == c.image_seq_length and patch * side == c.crop
    vocab, _ = model_vocab(model, impl.text, {Modality.IMAGE: cham.IMAGE})
    items, n_img = [], 0
    if impl.text.hf is None:  # mmtok's ids: <s> written as a marker, as the Chameleon tokenizer adds it
        items.append(Item(Modality.CONTROL, [("special", cham.BOS)], ModelControlMeta(model=model, role="prefix")))
    for piece in pieces:
        if piece.kind == "text":
            items.append(Item(Modality.TEXT, [("text", piece.value)]))
            continue
        w, h = image_size(piece.value)
        rh, rw = cham.resized_size(c, h, w)
        crop = (int((rh - c.crop) / 2.0), int((rw - c.crop) / 2.0), c.crop, c.crop)
        meta = ModelImageMeta(source=source_name(piece.value), model=model, original_size=(h, w),
                              resized_size=(rh, rw), crop=crop, patch_size=patch, merge=1, rows=side, cols=side)
        rows = rearrange(hf["pixel_values"][n_img], "c (h p1) (w p2) -> (h w) (c p1 p2)", p1=patch, p2=patch)
        n_img += 1
        items.append(Item(Modality.IMAGE, [("special", cham.BOI)] + [("special", cham.IMAGE)] * c.image_seq_length
                          + [("special", cham.EOI)], meta, rows))
    items.append(Item(Modality.CONTROL, [("special", cham.SEP)], ModelControlMeta(model=model, role="suffix")))
    return vocab, items, hf["input_ids"][0]


def chameleon_inverse(seq: TokenSequence) -> dict[str, torch.Tensor]:
    ids = seq.input_ids[None]
    out = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    rows = [seg for seg in seq.unpack() if isinstance(seg.meta, ModelImageMeta)]
    if rows:
        patch = rows[0].meta.patch_size
        out["pixel_values"] = torch.stack([rearrange(s.features, "(h w) (c p1 p2) -> c (h p1) (w p2)", p1=patch,
                                                     p2=patch, h=s.meta.rows) for s in rows])
    return out


FAMILIES["gemma4"] = (gemma4_sequence, gemma4_inverse)
FAMILIES["whisper"] = (whisper_sequence, whisper_inverse)
FAMILIES["chameleon"] = (chameleon_sequence, chameleon_inverse)
