"""Gemma 3 and Gemma 3n prompts as one :class:`~mmtok.TokenSequence` (:mod:`mmtok.models.sequence`; the other
families: :mod:`mmtok.models.seq_qwen`, :mod:`mmtok.models.seq_families`). Positions are sequential (the same on
all three rows), as these models read them.

**Spans.** The tokenizer's BOS (when it adds one) is a CONTROL span, each text piece a TEXT span, each picture an
IMAGE span and (Gemma 3n) each sound an AUDIO span. A picture's span holds everything the processor writes for it:
``"\\n\\n<start_of_image>"`` + its ``<image_soft_token>`` + ``"<end_of_image>\\n\\n"`` (with pan-and-scan the
thumbnail's and each crop's sequence, and the two sentences ``Gemma3Processor`` writes around them); a sound's span
``"\\n\\n<start_of_audio>"`` + 188 ``<audio_soft_token>`` + ``"<end_of_audio>\\n\\n"``. The ``"\\n\\n"`` text is the
processor's, written for the picture (or sound) whatever the prompt holds around it, so it belongs to the picture's
span, not to a text piece (a picture first in the prompt has no text piece to take it). With mmtok's ids each text
part is encoded on its own, so the span starts and ends with the ``"\\n\\n"`` tokens; with a Hugging Face tokenizer
the text between two markers is one string, and a token that crosses from a text piece into the ``"\\n\\n"`` (or
from the ``"\\n\\n"`` into the next piece) belongs to the piece its first character is in
(:mod:`mmtok.models.sequence`): the ids stay exactly ``hf_inputs(contents)["input_ids"][0]``. These text tokens
inside a picture or sound span have no provenance of their own (as the markers).

**Gemma 3 features.** SigLIP reads the 896x896 picture as 64 x 64 patches of 14 pixels and the projector averages
each 4 x 4 patches into one soft token (``Gemma3MultiModalProjector``: ``AvgPool2d(64 // 16)``, tokens row-major), so
a soft token stands for a 56 x 56 block of the 16 x 16 grid of blocks. Its feature row is the pixels of its 16
patches, patch by patch in (dy, dx) order, each patch's ``3 x 14 x 14`` values as the patch embedding reads them:
``[views, 3, 896, 896] -> [views * 256, 9408]`` (``v c (R dy p1) (C dx p2) -> (v R C) (dy dx c p1 p2)``). With
pan-and-scan a picture's views are its thumbnail then each crop, 256 rows each, as in ``pixel_values``.

**Gemma 3n features.** The MobileNet-v5 encoder (``timm`` ``mobilenetv5_300m_enc``) fuses its stride-16 and stride-32
maps at the stride-16 resolution (48 x 48 for 768 x 768) and average-pools them to ``msfa_output_resolution = 16``:
a 16 x 16 grid, flattened row-major into the 256 soft tokens (``Gemma3nModel.get_image_features``: ``reshape(b, d,
vision_soft_tokens_per_image)``). A soft token's row is the ``3 x 48 x 48`` pixels of its block:
``[pictures, 3, 768, 768] -> [pictures * 256, 6912]`` (``v c (R p1) (C p2) -> (v R C) (c p1 p2)``); the encoder's
receptive field is wider than the block (a CNN), the block is what the token's grid cell covers.

**Gemma 3n audio.** The audio encoder (``Gemma3nAudioEncoder``) subsamples the mel frames with two convolutions of
time stride 2 (``sscp_conv_stride_size = ((2, 2), (2, 2))``, reverse-causal padding: ``ceil(T / 4)`` outputs) and
keeps every ``conf_reduction_factor = 4``-th conformer output: one token per 16 mel frames (160 ms, 10 ms hop),
``ceil(T / 16)`` tokens for T frames (188 for the 2997 frames of 30 s). Its mask takes frame ``16 j`` for token j:
a token whose first frame is padding is padding, and ``Gemma3nModel`` replaces it, and the tokens past the encoder's
output up to 188, with the padding embedding (the last ``embed_audio`` id). So token j < ``ceil(real_frames / 16)``
reads frames ``[16 j, 16 j + 16)`` (row: those frames, ``(f m)`` order, width ``16 x 128 = 2048``, the last one's
frames past the clip zeroed: ``padded_frames``), and the others are padding: all-zero rows, counted in the
metadata (``real_tokens``; ``padding_tokens``) and without a time. ``input_features`` past the real frames are the
log of the mel floor (``log(1e-5)`` in float32: the extractor's frames of zero samples), ``input_features_mask``
True on the real frames: the inverse writes both back from ``real_frames`` and ``feature_frames``. A clip over 30 s
is cut by the feature extractor: ``truncated`` and ``dropped_seconds`` in its metadata say so.

**Provenance.** A picture token's ``box`` is in ORIGINAL picture pixels: the square the processor squashes the
picture (or crop) to keeps no aspect ratio, so the 16 x 16 grid of blocks maps to a 16 x 16 grid over the original
picture (or over the crop's own region of it, ``regions``); the boxes of each view tile its region exactly once. An
audio token j: ``time`` ``[0.16 j, 0.16 (j + 1))`` s for the real tokens (contiguous from 0; the last one may run
up to 150 ms past the last real frame, as its frames are zero-padded), none for the padding tokens.

Sources: Gemma 3's 896 px / 14 px patches / 256 tokens: ``google/gemma-3-4b-it`` ``config.json`` (``vision_config``
``image_size: 896, patch_size: 14``, ``mm_tokens_per_image: 256``; quoted copies in public repositories) and
transformers' ``Gemma3MultiModalProjector``; Gemma 3n: transformers' ``Gemma3nAudioConfig`` defaults
(``sscp_conv_stride_size ((2, 2), (2, 2))``, ``conf_reduction_factor 4``, which quoted copies of the published
``audio_config`` repeat), ``Gemma3nVisionConfig.architecture = "mobilenetv5_300m_enc"`` and timm's
``msfa_output_resolution = 16``. ``tests/test_models_seq_gemma.py`` checks the grouping against the projector's
pooling and a small ``Gemma3nAudioEncoder``'s output mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from einops import rearrange

from ..core.meta import register_meta_type
from ..core.protocol import register_meta_tokenizer
from ..core.segment import Segment
from ..core.sequence import TokenSequence
from ..core.vocab import Modality
from ..media.container import source_name
from . import gemma as g3
from . import gemma3n as g3n
from .base import Piece
from .seqmeta import ModelAudioMeta, ModelImageMeta, ModelProvenance
from .sequence import FAMILIES, Item, model_vocab

__all__ = ["GemmaImageMeta", "Gemma3nAudioMeta", "gemma3_sequence", "gemma3_inverse", "gemma3n_sequence",
           "gemma3n_inverse", "gemma3_rows", "gemma3n_rows", "G3_PATCH", "G3_POOL", "G3N_BLOCK", "G3N_FRAMES"]

G3_PATCH = 14  # SigLIP's patch side in Gemma 3 (google/gemma-3-4b-it config.json vision_config.patch_size)
G3_POOL = 4  # patches per soft token side: (896 // 14) // sqrt(mm_tokens_per_image = 256)
G3N_GRID = 16  # MobileNet-v5's msfa_output_resolution: the 16 x 16 soft tokens
G3N_BLOCK = 48  # pixels per Gemma 3n soft token side: 768 // 16
G3N_FRAMES = 16  # mel frames per Gemma 3n audio token: time strides 2 x 2 (subsampling) x conf_reduction_factor 4
G3N_FLOOR = float(np.log(np.float64(1e-5)).astype(np.float32))  # input_features of a frame of zero samples


@register_meta_type
@dataclass(frozen=True)
class GemmaImageMeta(ModelImageMeta):
    """A Gemma 3 / 3n picture: its views (the thumbnail, then each pan-and-scan crop), each squashed to
    ``resized_size`` and read as ``rows // merge x cols // merge`` soft tokens. ``regions`` holds each view's
    (top, left, bottom, right) in original pixels, flattened (the whole picture for the thumbnail)."""

    kind: ClassVar[str] = "model_gemma_image"
    regions: tuple[int, ...] = ()

    @property
    def views(self) -> int:
        return len(self.regions) // 4

    def boxes(self) -> torch.Tensor:
        """float64 [views * tokens_per_frame, 4]: (x0, y0, x1, y1) in original pixels of every soft token, view by
        view, row-major in each view."""
        per_side_r, per_side_c = self.rows // self.merge, self.cols // self.merge
        r, c = torch.meshgrid(torch.arange(per_side_r, dtype=torch.float64),
                              torch.arange(per_side_c, dtype=torch.float64), indexing="ij")
        r, c = r.reshape(-1), c.reshape(-1)
        out = []
        for top, left, bottom, right in torch.tensor(self.regions, dtype=torch.float64).reshape(-1, 4).tolist():
            sy, sx = (bottom - top) / per_side_r, (right - left) / per_side_c
            out.append(torch.stack([left + c * sx, top + r * sy, left + (c + 1) * sx, top + (r + 1) * sy], dim=1))
        return torch.cat(out)


@register_meta_type
@dataclass(frozen=True)
class Gemma3nAudioMeta(ModelAudioMeta):
    """A Gemma 3n sound: ``tokens`` soft tokens (188 whatever its length), the first ``real_tokens`` reading its
    frames, the rest the model's padding embedding (no time)."""

    kind: ClassVar[str] = "model_gemma3n_audio"
    tokens: int = 0
    real_tokens: int = 0

    @property
    def padding_tokens(self) -> int:
        return self.tokens - self.real_tokens

    @property
    def dropped_seconds(self) -> float:
        """Seconds of the sound the feature extractor drops (after its first 30 s)."""
        return (self.samples - self.kept_samples) / self.sample_rate


class GemmaProvenance(ModelProvenance):
    """:class:`~mmtok.models.seqmeta.ModelProvenance` with the Gemma rules of the module docstring: per-view boxes,
    no time on audio padding tokens."""

    def provenance_table(self, segment: Segment, vocab=None) -> dict[str, torch.Tensor]:
        table = super().provenance_table(segment, vocab)
        meta = segment.meta
        where = (segment.input_ids == vocab.placeholder(segment.modality)).nonzero()[:, 0]
        if isinstance(meta, GemmaImageMeta):
            table["box"][where] = meta.boxes()
        elif isinstance(meta, Gemma3nAudioMeta):
            table["time"][where[meta.real_tokens:]] = float("nan")
        return table


_PROVENANCE = GemmaProvenance()
register_meta_tokenizer(GemmaImageMeta, lambda segment, vocab: _PROVENANCE)
register_meta_tokenizer(Gemma3nAudioMeta, lambda segment, vocab: _PROVENANCE)


def _image_meta(piece: Piece, model: str, side: int, patch: int, merge: int,
                regions: list[tuple[int, int, int, int]]) -> GemmaImageMeta:
    h, w = g3.picture_size(piece)
    flat = (0, 0, h, w) + tuple(v for r in regions for v in r)
    return GemmaImageMeta(source=source_name(piece.value), model=model, original_size=(h, w),
                          resized_size=(side, side), patch_size=patch, merge=merge, rows=side // patch,
                          cols=side // patch, regions=flat)


def gemma3_rows(pv: torch.Tensor) -> torch.Tensor:
    """float32 [views, 3, 896, 896] -> [views * 256, 9408]: each soft token's 4 x 4 patches of 14 pixels."""
    return rearrange(pv, "v c (R dy p1) (C dx p2) -> (v R C) (dy dx c p1 p2)", dy=G3_POOL, dx=G3_POOL, p1=G3_PATCH,
                     p2=G3_PATCH)


def gemma3n_rows(pv: torch.Tensor) -> torch.Tensor:
    """float32 [pictures, 3, 768, 768] -> [pictures * 256, 6912]: each soft token's 48 x 48 block."""
    return rearrange(pv, "v c (R p1) (C p2) -> (v R C) (c p1 p2)", p1=G3N_BLOCK, p2=G3N_BLOCK)


def _image_types(ids: torch.Tensor, vocab, audio: bool) -> torch.Tensor:
    types = (ids == vocab.placeholder(Modality.IMAGE)).long()
    if audio:
        types[ids == vocab.placeholder(Modality.AUDIO)] = 3
    return types


# --- Gemma 3 ------------------------------------------------------------------------------------------------------
def gemma3_sequence(impl: g3.Gemma3Processor, pieces: list[Piece], model: str):
    """(vocabulary, items, the processor's input_ids [L]) of a Gemma 3 prompt."""
    hf = impl.hf_inputs(pieces)
    cfg = impl.cfg
    assert cfg.image_size % (G3_PATCH * G3_POOL) == 0
    assert (cfg.image_size // (G3_PATCH * G3_POOL)) ** 2 == cfg.image_seq_length
    vocab, _ = model_vocab(model, impl.text, {Modality.IMAGE: g3.IMAGE})
    items, v0 = [], 0
    for piece in pieces:
        if piece.kind == "text":
            items.append(Item(Modality.TEXT, [("text", piece.value)]))
            continue
        h, w = g3.picture_size(piece)
        crops = [(t, left, b, r) for t, left, b, r in g3.pan_and_scan_crops(cfg, h, w)]
        meta = _image_meta(piece, model, cfg.image_size, G3_PATCH, G3_POOL, crops)
        pv = hf["pixel_values"][v0:v0 + meta.views]
        v0 += meta.views
        items.append(Item(Modality.IMAGE, impl._parts(h, w), meta, gemma3_rows(pv)))
    return vocab, items, hf["input_ids"][0]


def gemma3_inverse(seq: TokenSequence) -> dict[str, torch.Tensor]:
    """``hf_inputs`` of a Gemma 3 sequence, from the sequence alone."""
    ids = seq.input_ids[None]
    out = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    views = []
    for seg in seq.unpack():
        meta = seg.meta
        if isinstance(meta, GemmaImageMeta):
            r = meta.rows // meta.merge
            views.append(rearrange(seg.features, "(v R C) (dy dx c p1 p2) -> v c (R dy p1) (C dx p2)", v=meta.views,
                                   R=r, dy=meta.merge, dx=meta.merge, p1=meta.patch_size, p2=meta.patch_size))
    if views:
        out["pixel_values"] = torch.cat(views)
    out["token_type_ids"] = _image_types(ids, seq.vocab, audio=False)
    return out


# --- Gemma 3n -----------------------------------------------------------------------------------------------------
def _audio_rows(feats: torch.Tensor, real: int, tokens: int) -> torch.Tensor:
    """float32 [T, m] (real frames first) -> [tokens, 16 * m]: token j's frames [16 j, 16 j + 16), frames past
    ``real`` zeroed, tokens past the real ones all zero."""
    assert real <= len(feats) <= tokens * G3N_FRAMES
    assert bool((feats[real:] == G3N_FLOOR).all()), "frames past the clip are not the extractor's zero-sample frames"
    rows = torch.zeros(tokens * G3N_FRAMES, feats.shape[1], dtype=feats.dtype)
    rows[:real] = feats[:real]
    return rearrange(rows, "(n f) m -> n (f m)", f=G3N_FRAMES)


def gemma3n_sequence(impl: g3n.Gemma3nProcessor, pieces: list[Piece], model: str):
    """(vocabulary, items, the processor's input_ids [L]) of a Gemma 3n prompt."""
    hf = impl.hf_inputs(pieces)
    cfg = impl.cfg
    assert cfg.image_size == G3N_GRID * G3N_BLOCK and G3N_GRID**2 == cfg.image_seq_length
    vocab, _ = model_vocab(model, impl.text, {Modality.IMAGE: g3n.IMAGE, Modality.AUDIO: g3n.AUDIO})
    items, n_img, n_aud = [], 0, 0
    for piece in pieces:
        if piece.kind == "text":
            items.append(Item(Modality.TEXT, [("text", piece.value)]))
        elif piece.kind == "image":
            meta = _image_meta(piece, model, cfg.image_size, G3N_BLOCK, 1, [])
            items.append(Item(Modality.IMAGE, impl._parts("image"), meta,
                              gemma3n_rows(hf["pixel_values"][n_img:n_img + 1])))
            n_img += 1
        else:
            feats, mask = hf["input_features"][n_aud], hf["input_features_mask"][n_aud]
            n_aud += 1
            real = int(mask.sum())
            assert bool(mask[:real].all()), "the mask is not a prefix"
            info = impl.audio_info(piece)
            tokens = cfg.audio_seq_length
            real_tokens = -(-real // G3N_FRAMES)
            meta = Gemma3nAudioMeta(source=source_name(piece.value.src), model=model, samples=info.samples,
                                    kept_samples=info.kept_samples, sample_rate=cfg.sampling_rate,
                                    seconds_per_token=G3N_FRAMES * cfg.hop_length / cfg.sampling_rate,
                                    frames_per_token=G3N_FRAMES, n_mels=feats.shape[1], real_frames=real,
                                    feature_frames=len(mask), padded_frames=real_tokens * G3N_FRAMES - real,
                                    tokens=tokens, real_tokens=real_tokens)
            items.append(Item(Modality.AUDIO, impl._parts("audio"), meta, _audio_rows(feats, real, tokens)))
    return vocab, items, hf["input_ids"][0]


def gemma3n_inverse(seq: TokenSequence) -> dict[str, torch.Tensor]:
    """``hf_inputs`` of a Gemma 3n sequence, from the sequence alone."""
    ids = seq.input_ids[None]
    out = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    pictures, feats, masks = [], [], []
    for seg in seq.unpack():
        meta = seg.meta
        if isinstance(meta, GemmaImageMeta):
            pictures.append(rearrange(seg.features, "(R C) (c p1 p2) -> c (R p1) (C p2)", R=meta.rows,
                                      p1=meta.patch_size, p2=meta.patch_size))
        elif isinstance(meta, Gemma3nAudioMeta):
            frames = rearrange(seg.features, "n (f m) -> (n f) m", f=meta.frames_per_token)
            f = torch.full((meta.feature_frames, meta.n_mels), G3N_FLOOR, dtype=frames.dtype)
            f[:meta.real_frames] = frames[:meta.real_frames]
            feats.append(f)
            masks.append(torch.arange(meta.feature_frames) < meta.real_frames)
    if pictures:
        out["pixel_values"] = torch.stack(pictures)
    if feats:
        out["input_features"], out["input_features_mask"] = torch.stack(feats), torch.stack(masks)
    out["token_type_ids"] = _image_types(ids, seq.vocab, audio=True)
    return out


FAMILIES["gemma"] = (gemma3_sequence, gemma3_inverse)
FAMILIES["gemma3n"] = (gemma3n_sequence, gemma3n_inverse)
