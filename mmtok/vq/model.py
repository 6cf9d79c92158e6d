"""The VQ image autoencoder: a small convolutional encoder and decoder around a vector-quantize-pytorch quantizer.

Shapes: images float [B, 3, H, W] in [-1, 1] -> latents [B, D, H/f, W/f] -> codes int64 [B, H/f, W/f] -> images.
``VQConfig`` is frozen and checked at construction; named presets live in ``VQ_PRESETS``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from ..core.registry import Registry
from ..errors import ConfigError

__all__ = ["VQConfig", "VQModel", "VQ_PRESETS"]


@dataclass(frozen=True)
class VQConfig:
    """Architecture and quantizer of a VQ image tokenizer."""

    image_size: int = 256  # the side the model is trained and evaluated at
    downsample: int = 8  # 256 / 8 = 32 x 32 = 1024 codes per image
    stem: int = 4  # pixel-unshuffle factor: 4x4 pixels -> 48 channels, so no convolution runs at full resolution
    channels: tuple[int, ...] = (96, 192)  # per level after the stem (each next level halves the resolution)
    blocks: tuple[int, ...] = (1, 2)  # residual blocks per level (the decoder mirrors them)
    latent_dim: int = 32  # encoder output channels fed to the quantizer
    quantizer: str = "vq"  # "vq" (VectorQuantize: k-means init, EMA, dead-code expiry) or "fsq"
    codebook_size: int = 4096  # vq: number of codes (fsq: must equal the product of fsq_levels)
    codebook_dim: int = 8  # vq: codes live in a low-dimensional space (projected in and out), as in ViT-VQGAN
    fsq_levels: tuple[int, ...] = (8, 8, 8, 8)  # fsq: levels per dimension
    commitment_weight: float = 0.25
    ema_decay: float = 0.99
    dead_code_threshold: float = 2.0  # vq: codes used fewer times (EMA count) are re-seeded from the batch

    def __post_init__(self) -> None:
        if self.quantizer not in ("vq", "fsq"):
            raise ConfigError(f"VQConfig.quantizer={self.quantizer!r}; use 'vq' or 'fsq'")
        halvings = math.log2(self.downsample / self.stem) if self.downsample > 0 and self.stem > 0 else -1
        if halvings != int(halvings) or halvings < 0 or len(self.channels) != int(halvings) + 1 or len(
                self.blocks) != len(self.channels):
            raise ConfigError(f"VQConfig: downsample={self.downsample} must be stem={self.stem} times a power of two, "
                              f"with one channels/blocks entry per level ({len(self.channels)}, {len(self.blocks)})")
        size = self.image_size
        if not isinstance(size, int) or size < self.downsample or size % self.downsample:
            raise ConfigError(f"VQConfig.image_size={self.image_size!r}: use a positive multiple of "
                              f"downsample={self.downsample}, such as {8 * self.downsample} or 256")
        if self.quantizer == "fsq" and math.prod(self.fsq_levels) != self.codebook_size:
            raise ConfigError(f"fsq levels {self.fsq_levels} give {math.prod(self.fsq_levels)} codes, not "
                              f"codebook_size={self.codebook_size}")
        if not 1024 <= self.codebook_size <= 65536:
            raise ConfigError(f"VQConfig.codebook_size={self.codebook_size}; use 1024..65536")
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "blocks", tuple(self.blocks))
        object.__setattr__(self, "fsq_levels", tuple(self.fsq_levels))

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, cols) of codes of one picture, like every other grid in mmtok."""
        side = self.image_size // self.downsample
        return side, side

    def to_dict(self) -> dict:
        return asdict(self)


VQ_PRESETS: Registry[VQConfig] = Registry("VQ preset")
VQ_PRESETS.register("vq-f8-4096", VQConfig())
VQ_PRESETS.register("vq-f16-4096", VQConfig(downsample=16, channels=(64, 128, 192), blocks=(1, 1, 2)))  # 256 codes
VQ_PRESETS.register("fsq-f8-4096", VQConfig(quantizer="fsq"))


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c), nn.Conv2d(c, c, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(8, c), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class Encoder(nn.Module):
    def __init__(self, cfg: VQConfig) -> None:
        super().__init__()
        ch = cfg.channels
        layers: list[nn.Module] = [nn.PixelUnshuffle(cfg.stem), nn.Conv2d(3 * cfg.stem ** 2, ch[0], 3, padding=1)]
        for i, c in enumerate(ch):
            if i:
                layers.append(nn.Conv2d(ch[i - 1], c, 4, stride=2, padding=1))  # (B, c, h/2, w/2)
            layers += [ResBlock(c) for _ in range(cfg.blocks[i])]
        layers += [nn.GroupNorm(8, ch[-1]), nn.SiLU(), nn.Conv2d(ch[-1], cfg.latent_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, cfg: VQConfig) -> None:
        super().__init__()
        ch, blocks = cfg.channels[::-1], cfg.blocks[::-1]
        layers: list[nn.Module] = [nn.Conv2d(cfg.latent_dim, ch[0], 3, padding=1)]
        for i, c in enumerate(ch):
            if i:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch[i - 1], c, 3, padding=1)]
            layers += [ResBlock(c) for _ in range(blocks[i] + (1 if i == len(ch) - 1 else 0))]
        layers += [nn.GroupNorm(8, ch[-1]), nn.SiLU(), nn.Conv2d(ch[-1], 3 * cfg.stem ** 2, 3, padding=1),
                   nn.PixelShuffle(cfg.stem)]  # (B, 3, H, W)
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class VQModel(nn.Module):
    """Encoder -> quantizer -> decoder. ``forward`` returns (reconstruction, codes, quantizer loss)."""

    def __init__(self, cfg: VQConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = Encoder(cfg), Decoder(cfg)
        if cfg.quantizer == "vq":
            from vector_quantize_pytorch import VectorQuantize

            self.quantizer = VectorQuantize(dim=cfg.latent_dim, codebook_size=cfg.codebook_size,
                                            codebook_dim=cfg.codebook_dim, decay=cfg.ema_decay, kmeans_init=True,
                                            kmeans_iters=10, threshold_ema_dead_code=cfg.dead_code_threshold,
                                            commitment_weight=cfg.commitment_weight, use_cosine_sim=True)
        else:
            from vector_quantize_pytorch import FSQ

            self.quantizer = FSQ(levels=list(cfg.fsq_levels), dim=cfg.latent_dim)

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """latents [B, D, h, w] -> (quantized [B, D, h, w], codes [B, h, w], loss scalar)."""
        b, _, h, w = z.shape
        seq = rearrange(z, "b d h w -> b (h w) d")
        if self.cfg.quantizer == "vq":
            q, codes, loss = self.quantizer(seq)
        else:
            q, codes = self.quantizer(seq)
            loss = torch.zeros((), device=z.device)
        return rearrange(q, "b (h w) d -> b d h w", h=h), rearrange(codes, "b (h w) -> b h w", h=h), loss

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, codes, loss = self.quantize(self.encoder(x))
        return self.decoder(q), codes, loss

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """images [B, 3, H, W] in [-1, 1] -> codes int64 [B, H/f, W/f]."""
        return self.quantize(self.encoder(x))[1]

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes int64 [B, h, w] -> images float [B, 3, h*f, w*f] (unclamped, about [-1, 1])."""
        h = codes.shape[1]
        flat = rearrange(codes, "b h w -> b (h w)")
        if self.cfg.quantizer == "vq":
            q = self.quantizer.get_output_from_indices(flat)
        else:
            q = self.quantizer.indices_to_codes(flat)  # (b, n, latent_dim), projected out
        return self.decoder(rearrange(q, "b (h w) d -> b d h w", h=h))
