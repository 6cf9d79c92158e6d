"""Image config and THE image token-count formula: how a (height, width) picture becomes patch grids.

Everything that counts image tokens (the tokenizer, sequences, budgets, the demo) calls :func:`plan_image`.

Policies (``ImageConfig.resize``):

- ``fixed`` (default, 224 -> 14x14 = 196 patches): a ``size`` x ``size`` square. ``aspect`` says how a
  non-square picture becomes square: ``squash`` (default; resize both sides, as SigLIP/PaliGemma/Gemma 3 do),
  ``crop`` (the centered square of side min(H, W)), or ``pad`` (fit the longer side, center, fill with
  ``background``).
- ``dynamic``: keep the aspect ratio; each side a whole number of patches; the count stays within
  [``min_tokens``, ``max_tokens``]. The ideal grid is (H/p, W/p) scaled by sqrt(limit/count) when outside the
  bounds, rounded, then nudged one patch at a time into the bounds. A side never drops below one patch; when a
  side had to be forced up to one patch (extreme aspect ratios such as 1x20000) the plan is marked
  ``clamped`` and the span metadata says so.
- ``tiles`` (Gemini API style): both sides <= ``tile_threshold`` (384) -> one tile; otherwise
  ceil(H/768) x ceil(W/768) tiles (at most ``max_tiles``: past that the largest grid within the cap, recorded as
  ``tiles_limited``; see :func:`capped_tile_grid`) plus a global
  thumbnail. Each tile and the thumbnail go through the patch path at ``tile_side`` (256 -> 16x16 = 256
  patches, i.e. 258 tokens with the image markers, Gemini's per-tile count). The picture keeps its aspect ratio
  inside the tile mosaic (centered, padded with ``background``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ..errors import ConfigError

__all__ = ["ImageConfig", "ImagePlan", "View", "plan_image", "dynamic_grid", "capped_tile_grid", "KNOWN_VIT_NORMS"]

RESIZE_POLICIES = ("fixed", "dynamic", "tiles")
ASPECT_POLICIES = ("squash", "crop", "pad")

# Normalization of timm presets, so the default needs no timm import; tests check these against timm's
# pretrained_cfg. Other presets are looked up in timm when first used.
KNOWN_VIT_NORMS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "vit_base_patch16_224": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "vit_small_patch16_224": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "vit_tiny_patch16_224": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


@dataclass(frozen=True)
class ImageConfig:
    """How images become patch tokens. Frozen; checked at construction."""

    resize: str = "fixed"  # "fixed" | "dynamic" | "tiles"
    patch_size: int = 16  # ViT patch side in pixels (ViT-B/16)
    size: int = 224  # fixed: side of the square (224 -> 196 patches, Gemini 1.0's encoder input)
    aspect: str = "squash"  # fixed: "squash" | "crop" | "pad"
    min_tokens: int = 16  # dynamic: fewest patches (a 1x1 picture becomes 4x4 patches)
    max_tokens: int = 1024  # dynamic: most patches (512x512 pixels at 16)
    tile_threshold: int = 384  # tiles: both sides <= this -> a single tile
    tile_size: int = 768  # tiles: original pixels per tile side (sets the tile count)
    tile_side: int = 256  # tiles: each tile and the thumbnail at 256x256 -> 256 patches
    max_tiles: int = 36  # tiles: at most this many tiles (6x6)
    vit_model: str = "vit_base_patch16_224"  # timm preset for embed() and the default mean/std
    mean: tuple[float, float, float] | None = None  # None: the timm preset's
    std: tuple[float, float, float] | None = None
    background: tuple[int, int, int] = (255, 255, 255)  # alpha compositing and padding colour
    max_pixels: int = 100_000_000  # decompression-bomb guard (original pixels)
    draft: bool = True  # JPEG: decode at a reduced DCT scale when the target is small (see README tolerance)
    first_pass: bool = True  # with draft, shrunk >= 3x: progressive JPEGs skip luma AC refinements (jpeg_scans)
    fast_chroma: bool = True  # with draft, shrunk >= 2x at full scale: 4:2:0 / 4:2:2 chroma upsampled by replication

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_POLICIES:
            raise ConfigError(f"ImageConfig.resize={self.resize!r}; use one of {RESIZE_POLICIES}")
        if self.aspect not in ASPECT_POLICIES:
            raise ConfigError(f"ImageConfig.aspect={self.aspect!r}; use one of {ASPECT_POLICIES}")
        for name in ("patch_size", "size", "min_tokens", "max_tokens", "tile_threshold", "tile_size", "tile_side",
                     "max_tiles", "max_pixels"):
            v = getattr(self, name)
            if type(v) is not int or v < 1:
                raise ConfigError(f"ImageConfig.{name} must be a positive int, got {v!r}")
        for name in ("size", "tile_side"):
            if getattr(self, name) % self.patch_size:
                raise ConfigError(f"ImageConfig.{name}={getattr(self, name)} is not a multiple of patch_size="
                                  f"{self.patch_size}; pick a multiple such as {self.patch_size * 14}")
        for name in ("draft", "first_pass", "fast_chroma"):
            if type(getattr(self, name)) is not bool:
                raise ConfigError(f"ImageConfig.{name} must be a bool, got {getattr(self, name)!r}")
        if self.min_tokens > self.max_tokens:
            raise ConfigError(f"ImageConfig.min_tokens={self.min_tokens} > max_tokens={self.max_tokens}")
        for name in ("mean", "std"):
            v = getattr(self, name)
            if v is not None:
                if len(v) != 3 or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in v):
                    raise ConfigError(f"ImageConfig.{name} must be 3 finite numbers, got {v!r}")
                object.__setattr__(self, name, tuple(float(x) for x in v))
        if self.std is not None and min(self.std) < 1e-3:
            raise ConfigError(f"ImageConfig.std={self.std} has a value below 1e-3; pixels could not round-trip")
        if len(self.background) != 3 or not all(type(x) is int and 0 <= x <= 255 for x in self.background):
            raise ConfigError(f"ImageConfig.background must be 3 ints in 0..255, got {self.background!r}")
        object.__setattr__(self, "background", tuple(self.background))

    def to_dict(self) -> dict:
        """The fields as JSON values (what span metadata stores); :meth:`from_dict` inverts it."""
        return {f.name: list(v) if isinstance(v, tuple) else v for f in fields(self) for v in [getattr(self, f.name)]}

    @classmethod
    def from_dict(cls, d: dict) -> ImageConfig:
        """The config :meth:`to_dict` (or span metadata) describes; unknown fields raise ``ConfigError``, fields it
        lacks (metadata written before they existed, e.g. ``fast_chroma``) take their defaults."""
        names = {f.name for f in fields(cls)}
        if not isinstance(d, dict) or set(d) - names:
            extra = sorted(set(d) - names) if isinstance(d, dict) else d
            raise ConfigError(f"not an ImageConfig description: unknown field(s) {extra!r}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    @property
    def norm(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) used to normalize pixels in [0, 1]: the config's, else the timm preset's."""
        if self.mean is not None and self.std is not None:
            return self.mean, self.std
        known = KNOWN_VIT_NORMS.get(self.vit_model)
        if known is None:
            known = _timm_norm(self.vit_model)
        return self.mean or known[0], self.std or known[1]


def _timm_norm(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except Exception:
        cfg = None
    if cfg is None:
        raise ConfigError(f"timm has no preset {name!r}; give ImageConfig(mean=..., std=...) or a timm ViT name "
                          f"such as 'vit_base_patch16_224'")
    return tuple(cfg.mean), tuple(cfg.std)


@dataclass(frozen=True)
class View:
    """One processed picture: a ``canvas`` (height, width) holding the original region ``box`` (x0, y0, x1, y1
    in original pixels) resized to ``content`` (top, left, height, width); the rest is background. ``tiles``
    (rows, cols) cuts the canvas into equal tiles whose patches are read tile by tile."""

    canvas: tuple[int, int]
    content: tuple[int, int, int, int]
    box: tuple[float, float, float, float]
    tiles: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class ImagePlan:
    """What :func:`plan_image` decided for one picture size."""

    policy: str
    original: tuple[int, int]  # (height, width)
    views: tuple[View, ...]  # tiles: (thumbnail, mosaic); otherwise one view
    block: tuple[int, int]  # (rows, cols) patch grid of every block (a tile, or a whole view)
    patch_size: int
    clamped: bool = False  # dynamic: a side was forced up to one patch
    tiles_limited: bool = False  # tiles: max_tiles cut the tile count

    @property
    def num_blocks(self) -> int:
        return sum(v.tiles[0] * v.tiles[1] for v in self.views)

    @property
    def num_patches(self) -> int:
        """THE image token count (patch tokens; the sequence adds :attr:`num_markers`)."""
        return self.num_blocks * self.block[0] * self.block[1]

    @property
    def num_markers(self) -> int:
        """<start_of_image>, <end_of_image>, and a <tile_separator> between blocks."""
        return 2 + self.num_blocks - 1

    def describe(self) -> dict:
        """What an image span's metadata says about the plan (:class:`~mmtok.core.meta.ImageMeta` fields)."""
        return {"policy": self.policy, "original_size": self.original, "grid": self.block,
                "blocks": self.num_blocks, "processed_size": self.views[-1].canvas,
                "clamped": self.clamped, "tiles_limited": self.tiles_limited,
                "tile_grid": self.views[-1].tiles if len(self.views) > 1 else None}


def dynamic_grid(height: int, width: int, patch: int, min_tokens: int, max_tokens: int) -> tuple[int, int, bool]:
    """(rows, cols, clamped) for the ``dynamic`` policy (see the module docstring)."""
    r, c = height / patch, width / patch
    n = r * c
    s = math.sqrt(max_tokens / n) if n > max_tokens else math.sqrt(min_tokens / n) if n < min_tokens else 1.0
    ideal_r, ideal_c = r * s, c * s
    clamped = round(ideal_r) < 1 or round(ideal_c) < 1
    rows, cols = max(1, round(ideal_r)), max(1, round(ideal_c))
    while rows * cols > max_tokens:  # shrink the side that is most over its ideal
        if rows > 1 and (cols == 1 or rows / ideal_r >= cols / ideal_c):
            rows -= 1
        else:
            cols -= 1
    while rows * cols < min_tokens:  # grow the side that is most under its ideal
        if rows / ideal_r <= cols / ideal_c:
            rows += 1
        else:
            cols += 1
        if rows * cols > max_tokens:  # a one-patch step overshot a narrow [min, max]: search exactly
            return (*_closest_grid(ideal_r, ideal_c, min_tokens, max_tokens), clamped)
    return rows, cols, clamped


def _closest_grid(ideal_r: float, ideal_c: float, lo: int, hi: int) -> tuple[int, int]:
    best, aspect = None, math.log(ideal_c / ideal_r)
    for rows in range(1, hi + 1):
        for cols in {max(1, -(-lo // rows)), max(1, hi // rows)}:
            if lo <= rows * cols <= hi:
                score = abs(math.log(cols / rows) - aspect)
                if best is None or score < best[0]:
                    best = (score, rows, cols)
    assert best is not None, "min_tokens <= max_tokens always admits 1 x min_tokens"
    return best[1], best[2]


def _fit(h: int, w: int, canvas_h: int, canvas_w: int) -> tuple[int, int, int, int]:
    """Content (top, left, height, width) of an h x w picture fitted inside a canvas, centered."""
    s = min(canvas_h / h, canvas_w / w)
    ch, cw = min(canvas_h, max(1, round(h * s))), min(canvas_w, max(1, round(w * s)))
    return (canvas_h - ch) // 2, (canvas_w - cw) // 2, ch, cw


def plan_image(height: int, width: int, cfg: ImageConfig) -> ImagePlan:
    """THE image formula: the views, patch grid and token count for a ``height`` x ``width`` picture."""
    if type(height) is not int or type(width) is not int or height < 1 or width < 1:
        raise ConfigError(f"image size must be positive ints, got {height!r}x{width!r}")
    p, full = cfg.patch_size, (0.0, 0.0, float(width), float(height))
    if cfg.resize == "fixed":
        s = cfg.size
        if cfg.aspect == "squash":
            view = View((s, s), (0, 0, s, s), full)
        elif cfg.aspect == "crop":
            m = min(height, width)
            x0, y0 = (width - m) // 2, (height - m) // 2  # whole pixels, so the crop is exact
            view = View((s, s), (0, 0, s, s), (float(x0), float(y0), float(x0 + m), float(y0 + m)))
        else:
            view = View((s, s), _fit(height, width, s, s), full)
        return ImagePlan("fixed", (height, width), (view,), (s // p, s // p), p)
    if cfg.resize == "dynamic":
        rows, cols, clamped = dynamic_grid(height, width, p, cfg.min_tokens, cfg.max_tokens)
        view = View((rows * p, cols * p), (0, 0, rows * p, cols * p), full)
        return ImagePlan("dynamic", (height, width), (view,), (rows, cols), p, clamped=clamped)
    t = cfg.tile_side
    thumb = View((t, t), _fit(height, width, t, t), full)
    block = (t // p, t // p)
    if height <= cfg.tile_threshold and width <= cfg.tile_threshold:
        return ImagePlan("tiles", (height, width), (thumb,), block, p)
    tr, tc = math.ceil(height / cfg.tile_size), math.ceil(width / cfg.tile_size)
    limited = tr * tc > cfg.max_tiles
    if limited:
        tr, tc = capped_tile_grid(tr, tc, cfg.max_tiles)
    mosaic = View((tr * t, tc * t), _fit(height, width, tr * t, tc * t), full, (tr, tc))
    return ImagePlan("tiles", (height, width), (thumb, mosaic), block, p, tiles_limited=limited)


def capped_tile_grid(rows: int, cols: int, max_tiles: int) -> tuple[int, int]:
    """The grid used when ``rows x cols`` tiles exceed ``max_tiles``: the most tiles (r <= rows, c <= cols,
    r * c <= max_tiles), ties broken by the aspect closest to rows:cols. A larger picture never gets fewer tiles."""
    target = math.log(rows / cols)
    grids = ((r, min(cols, max_tiles // r)) for r in range(1, min(rows, max_tiles) + 1))
    return max(grids, key=lambda g: (g[0] * g[1], -abs(math.log(g[0] / g[1]) - target)))
