"""How well VQ codes keep a picture: PSNR / SSIM of reconstructions (torchmetrics) and the one-picture report.

:func:`psnr_ssim` is the one place these metrics are computed: :func:`image_report` (``mmtok roundtrip``, the
demo) and the VQ training's evaluation (:func:`mmtok.training.vq.evaluate`) both call it.
"""

from __future__ import annotations

import torch

from ..errors import InputError
from ..media.imageio import ImageSource
from .tokenizer import VQImageTokenizer

__all__ = ["psnr_ssim", "image_report"]


@torch.no_grad()
def psnr_ssim(reconstruction: torch.Tensor, original: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PSNR (dB) and SSIM of each reconstruction against its original, as a user sees them: on the 8-bit pixels.

    Both are uint8 [B, 3, H, W]. Each image is measured on its own (torchmetrics, data range 1 after dividing by
    255), so a value does not depend on the batch it came in. Returns two float64 [B] tensors: psnr (``inf`` for
    an exact reconstruction) and ssim (in -1 .. 1).
    """
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    for name, x in (("reconstruction", reconstruction), ("original", original)):
        if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
            got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(f"psnr_ssim takes uint8 [B, 3, H, W] pictures; {name} is {got}")
    if reconstruction.shape != original.shape:
        raise InputError(f"psnr_ssim compares pictures of one shape; reconstruction is "
                         f"{tuple(reconstruction.shape)}, original {tuple(original.shape)}")
    psnr, ssim = [], []
    for a, b in zip(reconstruction.float() / 255.0, original.float() / 255.0):  # (3, H, W) each, in [0, 1]
        psnr.append(float(peak_signal_noise_ratio(a[None], b[None], data_range=1.0)))
        ssim.append(float(structural_similarity_index_measure(a[None], b[None], data_range=1.0)))
    return torch.tensor(psnr, dtype=torch.float64), torch.tensor(ssim, dtype=torch.float64)


@torch.no_grad()
def image_report(img: ImageSource, tokenizer: VQImageTokenizer | None = None) -> dict:
    """Encode ``img`` to VQ codes and back.

    Returns ``psnr`` (dB) and ``ssim`` of the reconstruction against the preprocessed picture (torchmetrics,
    data range 1 on 8-bit pixels), ``codes`` int64 [h, w] (the code map, for pictures), ``codes_used`` and
    ``usage`` (distinct codes in this image / codebook size), ``reencode_agreement`` (fraction of codes that
    ``encode(decode(codes))`` gives back), and the ``original`` and ``reconstruction`` uint8 [3, H, W].
    """
    tok = tokenizer or VQImageTokenizer.default()
    original = tok.preprocess(img)
    codes = tok.encode_pixels(original[None])[0]
    recon = tok.decode(codes)
    again = tok.encode_pixels(recon[None])[0]
    psnr, ssim = psnr_ssim(recon[None], original[None])
    used = int(codes.unique().numel())
    return {"psnr": float(psnr[0]), "ssim": float(ssim[0]),
            "codes": codes, "codes_used": used, "usage": used / tok.codebook_size,
            "reencode_agreement": float((again == codes).double().mean()),
            "original": original, "reconstruction": recon}
