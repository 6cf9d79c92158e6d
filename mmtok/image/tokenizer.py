"""Image tokens: ViT 16x16 patches at fixed, dynamic and tiled resolution, with an exact round trip.

``ImageTokenizer(ImageConfig(...))`` turns any real picture into normalized patch vectors and back:

- ``preprocess(img)`` -> uint8 [3, H, W]: the processed picture (for ``tiles``, the tile mosaic).
- ``encode(img)`` -> :class:`ImageTokens` with ``patches`` float32 [N, p*p*3] (pixel-major ``(p1 p2 c)``
  order, normalized by the timm preset's mean/std), ``grid`` (rows, cols) of each block, processed and
  original sizes.
- ``decode(tokens)`` -> uint8 [3, H, W], equal to ``preprocess(img)`` bit for bit.
- ``num_tokens(height, width)`` is THE count (it calls :func:`~mmtok.image.plan.plan_image`).
- ``patch_boxes(tokens)`` -> float [N, 4] boxes (x0, y0, x1, y1) in ORIGINAL pixels; NaN for patches that show
  only padding.
- ``embed(tokens)`` -> float [N, D] through a timm ViT's patch projection and (resampled) position embedding.
- ``segment(tokens, vocab)`` -> a :class:`~mmtok.core.segment.Segment` for :func:`mmtok.pack`.

Resizing is bicubic with antialiasing (timm's ViT default) on 8-bit RGB through torch's uint8 kernel, which
matches PIL's ``BICUBIC`` to within one level.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from einops import rearrange

from ..core.meta import ImageMeta
from ..core.positions import framed_blocks
from ..core.protocol import ProvenanceFromTable, empty_provenance, register_segment_tokenizer
from ..core.reprs import short_repr
from ..core.segment import Segment
from ..core.threads import map_threads, one_torch_thread
from ..core.vocab import Modality, Vocab, default_vocab
from ..errors import ConfigError, InputError, SequenceError
from ..media.imageio import ImageSource, LoadedImage, load_image
from .plan import ImageConfig, ImagePlan, View, plan_image

__all__ = ["ImageConfig", "ImageTokenizer", "ImageTokens", "DRAFT_OVERSAMPLE", "FAST_CHROMA_MARGIN", "resize_bicubic",
           "view_boxes", "plan_blocks", "patch_blocks", "image_layout"]

# JPEG draft decoding keeps at least 3x the target size, so the final antialiased resize still does the
# filtering; a progressive JPEG shrunk that much also skips its luma AC refinement scans (mmtok.media.jpeg_scans,
# ImageConfig.first_pass), which is what makes it faster: its cost is entropy decoding, which no DCT scale reduces.
# Tolerance against a full decode, per photo and policy: benchmarks/RESULTS.md (bench_image.py --tolerance).
DRAFT_OVERSAMPLE = 3
# A JPEG decoded at full scale whose every view shrinks it 2x or more: its subsampled chroma (4:2:0 / 4:2:2, stored
# at half resolution) then has at least the view's resolution, and how it is upsampled changes only what the
# antialiased resize filters out, so libjpeg-turbo's fast upsampling (replication, merged with the colour
# conversion) replaces its triangle filter (ImageConfig.fast_chroma): 0.1-0.2 ms less on a 640 px photo's ~1 ms
# decode. Tolerance against the triangle filter, per photo: benchmarks/RESULTS.md (bench_image.py --tolerance).
FAST_CHROMA_MARGIN = 2
_PLANS_KEPT = 1024  # picture sizes whose plan (and draft need) an ImageTokenizer keeps


@dataclass(frozen=True, eq=False)
class ImageTokens:
    """The patch tokens of one picture.

    ``patches`` float32 [N, p*p*3]; ``grid`` (rows, cols) of each block (the whole picture, or one tile / the
    thumbnail); ``num_blocks`` 1, or 1 + tiles; sizes are (height, width).
    """

    patches: torch.Tensor
    grid: tuple[int, int]
    num_blocks: int
    processed_size: tuple[int, int]
    original_size: tuple[int, int]
    plan: ImagePlan = field(repr=False)
    source: str = ""

    @property
    def rows(self) -> torch.Tensor:
        """The feature rows these tokens put in a sequence, one per placeholder token: float32 [N, d]; the same
        name on every token type (``ImageTokens``, ``VideoTokens``, ``AudioTokens``), what ``seq.features`` holds.
        Here: ``patches``."""
        return self.patches


class ImageTokenizer(ProvenanceFromTable):
    """ViT patch tokens for pictures; see the module docstring."""

    def __init__(self, config: ImageConfig | None = None) -> None:
        self.config = config or ImageConfig()
        if not isinstance(self.config, ImageConfig):
            raise ConfigError(f"config must be an ImageConfig, got {type(self.config).__name__}")
        mean, std = self.config.norm
        p = self.config.patch_size
        # Per element of a (p1 p2 c) patch vector: normalized = u * scale + shift, u in 0..255.
        scale = 1.0 / (255.0 * torch.tensor(std, dtype=torch.float64))
        shift = -torch.tensor(mean, dtype=torch.float64) / torch.tensor(std, dtype=torch.float64)
        self._scale = scale.repeat(p * p).float()
        self._shift = shift.repeat(p * p).float()
        self._std255 = (255.0 * torch.tensor(std, dtype=torch.float64)).repeat(p * p).float()
        self._mean255 = (255.0 * torch.tensor(mean, dtype=torch.float64)).repeat(p * p).float()
        self._vit = None
        self._plans: dict[tuple[int, int], tuple[ImagePlan, tuple[float, float]]] = {}  # see _planned

    @classmethod
    def default(cls) -> ImageTokenizer:
        """``ImageTokenizer()``: the default ``ImageConfig()``."""
        return cls()

    def __repr__(self) -> str:
        return f"ImageTokenizer({short_repr(self.config)})"

    # --- the formula ------------------------------------------------------------------------------------
    def plan(self, height: int, width: int) -> ImagePlan:
        return plan_image(height, width, self.config)

    def num_tokens(self, height: int, width: int) -> int:
        """THE image token count: patch tokens for a ``height`` x ``width`` picture (markers not included)."""
        return plan_image(height, width, self.config).num_patches

    def segment_length(self, height: int, width: int) -> int:
        """Tokens of the image segment (:meth:`segment`): the patches plus the markers of :func:`image_layout`."""
        plan = self.plan(height, width)
        return plan.num_patches + plan.num_markers

    # --- pixels -----------------------------------------------------------------------------------------
    def load(self, img: ImageSource, name: str | None = None) -> tuple[LoadedImage, ImagePlan]:
        """Load a picture and plan it (JPEGs decode at a reduced DCT scale when every view allows it)."""
        cfg = self.config
        loaded = load_image(img, max_pixels=cfg.max_pixels, background=cfg.background,
                            draft=self._draft_size if cfg.draft else None, first_pass=cfg.first_pass,
                            fast_chroma=self._chroma_size if cfg.draft and cfg.fast_chroma else None, name=name)
        w, h = loaded.size
        return loaded, self._planned(w, h)[0]

    def _draft_size(self, width: int, height: int) -> tuple[int, int]:
        """The smallest decoded (width, height): every view still a downscale by at least DRAFT_OVERSAMPLE."""
        return self._shrunk_by(width, height, DRAFT_OVERSAMPLE)

    def _chroma_size(self, width: int, height: int) -> tuple[int, int]:
        """The smallest full-scale (width, height) whose subsampled chroma may be upsampled by replication: every
        view a downscale by at least FAST_CHROMA_MARGIN."""
        return self._shrunk_by(width, height, FAST_CHROMA_MARGIN)

    def _shrunk_by(self, width: int, height: int, margin: float) -> tuple[int, int]:
        """The smallest (width, height) of the picture at which every view is a downscale by ``margin`` or more."""
        need = self._planned(width, height)[1]
        return math.ceil(need[0] * margin), math.ceil(need[1] * margin)

    def _planned(self, width: int, height: int) -> tuple[ImagePlan, tuple[float, float]]:
        """The plan of a picture of that size and the (width, height) at which its views are shown 1:1: pure
        functions of the size, kept for the sizes seen (a photo's encode asks three times; photos of one camera
        share a size). Plans are frozen."""
        got = self._plans.get((width, height))
        if got is None:
            plan = plan_image(height, width, self.config)
            got = plan, (max(v.content[3] * width / (v.box[2] - v.box[0]) for v in plan.views),
                         max(v.content[2] * height / (v.box[3] - v.box[1]) for v in plan.views))
            if len(self._plans) < _PLANS_KEPT:
                self._plans[(width, height)] = got
        return got

    def render(self, loaded: LoadedImage, plan: ImagePlan) -> list[torch.Tensor]:
        """Every view of ``plan`` as uint8 [3, H, W] (one view, or thumbnail + mosaic for tiles)."""
        return [_render(loaded, v, self.config.background) for v in plan.views]

    def preprocess(self, img: ImageSource) -> torch.Tensor:
        """The processed picture, uint8 [3, H, W] (for ``tiles``: the tile mosaic)."""
        loaded, plan = self.load(img)
        return self.render(loaded, plan)[-1]

    def preprocess_views(self, img: ImageSource) -> list[torch.Tensor]:
        """All processed views, uint8 [3, h, w] each (``tiles``: the thumbnail, then the mosaic)."""
        loaded, plan = self.load(img)
        return self.render(loaded, plan)

    # --- the common face --------------------------------------------------------------------------------
    def encode(self, img: ImageSource) -> ImageTokens:
        with one_torch_thread():  # a picture's few small ops: see mmtok.core.threads
            return self._encode(img)

    def encode_batch(self, imgs: Sequence[ImageSource], threads: int | None = None) -> list[ImageTokens]:
        """Encode several pictures, each exactly as :meth:`encode`, on ``threads`` Python threads (default: every
        core this process may use; 1: one after the other). Decoding and resizing release the GIL, so a batch of
        photos scales with the cores (``benchmarks/bench_image.py``, the batch row)."""
        return map_threads(self._encode, imgs, threads)

    def _encode(self, img: ImageSource) -> ImageTokens:
        loaded, plan = self.load(img)
        return self.tokenize_views(self.render(loaded, plan), plan, loaded.source)

    def decode(self, tokens: ImageTokens) -> torch.Tensor:
        """Patches -> the processed picture, uint8 [3, H, W] (for ``tiles``: the mosaic)."""
        return self.decode_views(tokens)[-1]

    def decode_views(self, tokens: ImageTokens) -> list[torch.Tensor]:
        """Patches -> every view, uint8 [3, h, w]. Values outside what ``encode`` makes are clamped to 0..255."""
        p = self.config.patch_size
        u = (tokens.patches * self._std255 + self._mean255).round_().clamp_(0, 255).to(torch.uint8)
        out, start = [], 0
        for v in tokens.plan.views:
            n = (v.canvas[0] // p) * (v.canvas[1] // p)
            tr, tc = v.tiles
            out.append(rearrange(u[start:start + n], "(tr tc h w) (p1 p2 c) -> c (tr h p1) (tc w p2)", tr=tr, tc=tc,
                                 h=v.canvas[0] // p // tr, w=v.canvas[1] // p // tc, p1=p, p2=p))
            start += n
        return out

    # --- provenance and embedding -----------------------------------------------------------------------
    def patch_boxes(self, tokens: ImageTokens) -> torch.Tensor:
        """Each patch's box (x0, y0, x1, y1) in ORIGINAL pixels, float64 [N, 4]; NaN rows for pure padding."""
        return torch.cat([view_boxes(v, self.config.patch_size) for v in tokens.plan.views])

    def embed(self, tokens: ImageTokens, model=None) -> torch.Tensor:
        """float [N, D]: the timm ViT's patch projection plus its position embedding resampled to each block's
        grid (what the ViT blocks would read, without the class token). ``model`` defaults to
        ``mmtok.image.vit.create_vit(config.vit_model)``."""
        from .vit import create_vit, embed_patches

        if model is None:
            if self._vit is None:
                self._vit = create_vit(self.config.vit_model, patch_size=self.config.patch_size)
            model = self._vit
        return embed_patches(model, tokens.patches, tokens.grid, tokens.num_blocks)

    # --- sequences --------------------------------------------------------------------------------------
    def segment(self, tokens: ImageTokens, vocab: Vocab | None = None, source: str | None = None) -> Segment:
        """An image segment: <start_of_image>, blocks of placeholders split by <tile_separator>, <end_of_image>.

        3D positions (relative): block b's patch (r, c) at (b, 1 + r, 1 + c); see :func:`plan_blocks`.
        """
        ids, pos = image_layout(tokens.plan, vocab or default_vocab())
        meta = ImageMeta(**tokens.plan.describe(), source=source if source is not None else tokens.source,
                         image_config=self.config.to_dict())
        return Segment(Modality.IMAGE, ids, pos, tokens.patches, meta)

    def from_segment(self, segment: Segment, vocab: Vocab | None = None) -> ImageTokens:
        """The tokens of an image segment made with this config (inverse of :meth:`segment`)."""
        meta = _image_meta(segment, self.config)
        plan = self.plan(*meta.original_size)
        patches = segment.features if segment.features is not None else torch.zeros(0, 3 * self.config.patch_size ** 2)
        if len(patches) != plan.num_patches:
            raise SequenceError(f"an image segment of {meta.original_size} holds {len(patches)} patches, its plan "
                                f"{plan.num_patches}")
        return ImageTokens(patches, plan.block, plan.num_blocks, plan.views[-1].canvas, plan.original, plan,
                           meta.source or "")

    def provenance_table(self, segment: Segment, vocab: Vocab | None = None) -> dict[str, torch.Tensor]:
        """``box``: each patch's box in ORIGINAL pixels (NaN for padding-only patches) and ``block``: 0 for a
        picture of one block; tiles: 0 the thumbnail, 1 + r * cols + c the tile in row r, column c. Markers have
        none."""
        table = empty_provenance(len(segment))
        meta = _image_meta(segment, self.config)
        where = (segment.input_ids == (vocab or default_vocab()).placeholder(Modality.IMAGE)).nonzero().flatten()
        plan = self.plan(*meta.original_size)
        table["box"][where] = torch.cat([view_boxes(v, self.config.patch_size) for v in plan.views])
        table["block"][where] = patch_blocks(plan)
        return table

    # --- internals --------------------------------------------------------------------------------------
    def _patchify(self, x: torch.Tensor, tiles: tuple[int, int]) -> torch.Tensor:
        """uint8 [B, 3, H, W] -> normalized float32 [B, n, p*p*3] in tile-major, then row-major order."""
        b, c, H, W = x.shape
        p, (tr, tc) = self.config.patch_size, tiles
        h, w = H // (tr * p), W // (tc * p)
        # "b c (tr h p1) (tc w p2) -> b tr tc h w p1 p2 c" and "... -> b (tr tc h w) (p1 p2 c)" written as torch
        # views: einops' own steps took 65 of a 640 px photo's ~1,600 us per encode between other work (2026-12-01;
        # 15 as views). One strided copy gathers the patches and converts to float; from a channels-last picture
        # (what render gives) it reads runs of p*3 bytes.
        v = x.view(b, c, tr, h, p, tc, w, p).permute(0, 2, 5, 3, 6, 4, 7, 1)
        u = torch.empty(v.shape, dtype=torch.float32).copy_(v)
        return u.view(b, tr * tc * h * w, p * p * c).mul_(self._scale).add_(self._shift)

    def tokenize_views(self, views: list[torch.Tensor], plan: ImagePlan, source: str) -> ImageTokens:
        """Rendered views (uint8 [3, h, w] each, from :meth:`render`) -> their patch tokens."""
        per_view = [self._patchify(v[None], view.tiles)[0] for v, view in zip(views, plan.views)]
        patches = per_view[0] if len(per_view) == 1 else torch.cat(per_view)
        return self._finish(patches, plan, source)

    def _finish(self, patches: torch.Tensor, plan: ImagePlan, source: str) -> ImageTokens:
        assert len(patches) == plan.num_patches, "the plan and the patches disagree"
        return ImageTokens(patches, plan.block, plan.num_blocks, plan.views[-1].canvas, plan.original, plan, source)


def _render(loaded: LoadedImage, view: View, background: tuple[int, int, int]) -> torch.Tensor:
    """One view as uint8 [3, H, W]: the box of the picture resized (bicubic, antialiased) into the content area."""
    top, left, ch, cw = view.content
    x = loaded.pixels  # (3, h, w), possibly decoded at a reduced scale
    h, w = x.shape[1:]
    s = loaded.scale
    x0, y0 = min(w - 1, round(view.box[0] * s)), min(h - 1, round(view.box[1] * s))
    x1, y1 = max(x0 + 1, min(w, round(view.box[2] * s))), max(y0 + 1, min(h, round(view.box[3] * s)))
    region = x if (x0, y0, x1, y1) == (0, 0, w, h) else x[:, y0:y1, x0:x1]
    if region.shape[1:] != (ch, cw):
        region = resize_bicubic(region, (ch, cw))
    else:  # never hand out a view of the decoded buffer; the copy is channels-last, as resize_bicubic's output
        region = torch.empty(ch, cw, region.shape[0], dtype=region.dtype).permute(2, 0, 1).copy_(region)
    if (ch, cw) == view.canvas:
        return region
    canvas = torch.tensor(background, dtype=torch.uint8).repeat(*view.canvas, 1).permute(2, 0, 1)  # channels-last
    canvas[:, top:top + ch, left:left + cw] = region
    return canvas


def resize_bicubic(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 [c, h, w] -> uint8 [c, H, W], bicubic with antialias (timm's ViT default; torch's uint8 kernel,
    within 1 level of PIL's ``BICUBIC``), the same pixels as ``F.interpolate(..., antialias=True)``.

    The result has channels-last strides, which the patch gather reads in runs of p*c bytes. F.interpolate's
    3-channel uint8 kernel writes planar CHW instead and takes longer doing so (0.21 vs 0.16 ms for 640x427 ->
    224x224), so the kernel is called with a channels-last output buffer (benchmarks/RESULTS.md, images). That
    kernel also needs a channels-last input (decoded pictures are): a planar one is copied to channels-last first.
    """
    if x.dim() != 3 or x.dtype != torch.uint8:
        raise InputError(f"resize_bicubic takes uint8 [c, h, w], got {x.dtype} {tuple(x.shape)}")
    if x.stride(0) != 1 and x.shape[0] > 1:  # planar (CHW-contiguous): the channels-last kernel asserts on it
        x = rearrange(rearrange(x, "c h w -> h w c").contiguous(), "h w c -> c h w")
    out = torch.empty(size[0], size[1], x.shape[0], dtype=x.dtype).permute(2, 0, 1)
    torch.ops.aten._upsample_bicubic2d_aa.out(x[None], list(size), False, None, None, out=out[None])
    return out


def view_boxes(view: View, p: int) -> torch.Tensor:
    """Boxes (x0, y0, x1, y1) in original pixels of a view's p x p patches, float64 [n, 4], in token order; NaN rows
    for patches that show only padding."""
    H, W = view.canvas
    tr, tc = view.tiles
    top, left, ch, cw = view.content
    x0, y0, x1, y1 = view.box
    ys = torch.arange(H // p, dtype=torch.float64) * p
    xs = torch.arange(W // p, dtype=torch.float64) * p
    # clip each patch's canvas rectangle to the content, then map content pixels to original pixels
    cy0, cy1 = ys.clamp(top, top + ch), (ys + p).clamp(top, top + ch)
    cx0, cx1 = xs.clamp(left, left + cw), (xs + p).clamp(left, left + cw)
    sy, sx = (y1 - y0) / ch, (x1 - x0) / cw
    oy0, oy1 = y0 + (cy0 - top) * sy, y0 + (cy1 - top) * sy
    ox0, ox1 = x0 + (cx0 - left) * sx, x0 + (cx1 - left) * sx
    R, C = len(ys), len(xs)
    boxes = torch.stack([ox0.expand(R, C), oy0[:, None].expand(R, C), ox1.expand(R, C), oy1[:, None].expand(R, C)], -1)
    empty = (cy1 <= cy0)[:, None] | (cx1 <= cx0)[None, :]
    boxes[empty] = float("nan")
    return rearrange(boxes, "(tr h) (tc w) k -> (tr tc h w) k", tr=tr, tc=tc)


def patch_blocks(plan: ImagePlan) -> torch.Tensor:
    """int64 [num_patches]: the block of each patch in token order (blocks are the thumbnail, then the tiles in
    row-major order; patches go block after block)."""
    return torch.arange(plan.num_patches) // (plan.block[0] * plan.block[1])


def plan_blocks(plan: ImagePlan, vocab: Vocab, open_name: str, close_name: str, placeholder: int,
                t0: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids [n] and relative 3D positions [3, n] of one planned picture framed by two markers
    (:func:`mmtok.core.positions.framed_blocks` with the plan's grid and blocks)."""
    rows, cols = plan.block
    return framed_blocks(rows, cols, plan.num_blocks, vocab.special(open_name), vocab.special(close_name),
                         placeholder, vocab.special("<tile_separator>"), t0)


def image_layout(plan: ImagePlan, vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids and relative 3D positions of an image segment (:func:`plan_blocks` with the image markers)."""
    return plan_blocks(plan, vocab, "<start_of_image>", "<end_of_image>", vocab.placeholder(Modality.IMAGE))


def _image_meta(segment: Segment, config: ImageConfig) -> ImageMeta:
    if segment.modality != Modality.IMAGE or not isinstance(segment.meta, ImageMeta):
        raise SequenceError(f"expected an image segment, got {segment.modality.label}")
    if segment.meta.image_config is None or segment.meta.original_size is None:
        raise SequenceError("the image segment's metadata lacks its image_config or original_size")
    if ImageConfig.from_dict(segment.meta.image_config) != config:
        raise SequenceError("the image segment was made with another ImageConfig; use "
                            "ImageTokenizer(ImageConfig.from_dict(segment.meta.image_config))")
    return segment.meta


@functools.lru_cache(maxsize=16)
def _tokenizer_for(config: ImageConfig) -> ImageTokenizer:
    return ImageTokenizer(config)


register_segment_tokenizer(Modality.IMAGE, lambda seg, vocab: _tokenizer_for(
    ImageConfig.from_dict(seg.meta.image_config)))
