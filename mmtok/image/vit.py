"""A timm ViT as the image encoder's first step: patch projection + (resampled) position embedding.

``create_vit`` builds the model offline: random weights from a fixed seed (``pretrained=False``, the default),
a local safetensors file, or timm's hub weights when the user has a hub (``pretrained=True``). Nothing is
downloaded unless asked.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from einops import rearrange, repeat

from ..errors import AssetError, ConfigError

__all__ = ["create_vit", "embed_patches"]


@functools.lru_cache(maxsize=4)
def create_vit(name: str = "vit_base_patch16_224", weights: str | Path | None = None, pretrained: bool = False,
               patch_size: int | None = None, seed: int = 0) -> torch.nn.Module:
    """A timm VisionTransformer with ``dynamic_img_size=True``, in eval mode (cached per arguments)."""
    import timm

    if weights is not None and pretrained:
        raise ConfigError("give either weights=PATH or pretrained=True, not both")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        try:
            model = timm.create_model(name, pretrained=pretrained, dynamic_img_size=True)
        except RuntimeError as e:  # unknown model names and failed hub downloads
            raise ConfigError(f"timm cannot create {name!r}: {e}") from None
    if not hasattr(model, "patch_embed") or not hasattr(model, "pos_embed"):
        raise ConfigError(f"{name!r} is not a ViT with patch_embed and pos_embed; use e.g. 'vit_base_patch16_224'")
    if patch_size is not None and tuple(model.patch_embed.patch_size) != (patch_size, patch_size):
        raise ConfigError(f"{name!r} uses {model.patch_embed.patch_size} patches but the image config uses "
                          f"{patch_size}; pick a matching ViT")
    if weights is not None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(weights))
        except (OSError, SafetensorError) as e:
            raise AssetError(f"cannot read ViT weights {weights}: {e}; give a .safetensors file") from None
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise AssetError(f"{weights} does not fit {name!r}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()


@torch.no_grad()
def embed_patches(model: torch.nn.Module, patches: torch.Tensor, grid: tuple[int, int], num_blocks: int = 1,
                  ) -> torch.Tensor:
    """float [N, D] from normalized patches [N, p*p*3] in ``(p1 p2 c)`` order, ``num_blocks`` grids of ``grid``."""
    from timm.layers import resample_abs_pos_embed

    proj = model.patch_embed.proj  # Conv2d(3, D, kernel=p, stride=p)
    weight = rearrange(proj.weight, "d c p1 p2 -> (p1 p2 c) d")
    x = patches.to(weight.dtype) @ weight
    if proj.bias is not None:
        x = x + proj.bias
    prefix = 0 if getattr(model, "no_embed_class", False) else model.num_prefix_tokens
    pos = resample_abs_pos_embed(model.pos_embed, new_size=list(grid), old_size=model.patch_embed.grid_size,
                                 num_prefix_tokens=prefix)[0, prefix:]  # (rows*cols, D)
    return x + repeat(pos, "n d -> (b n) d", b=num_blocks)
