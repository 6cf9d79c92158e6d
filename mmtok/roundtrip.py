"""Round-trip reports: what survives a trip through a tokenizer, measured with well-kept metrics (torchmetrics)."""

from __future__ import annotations

import torch

from .imageio import ImageSource

__all__ = ["image_report"]


@torch.no_grad()
def image_report(img: ImageSource, tokenizer=None) -> dict:
    """Encode ``img`` to VQ codes and back.

    Returns ``psnr`` (dB) and ``ssim`` of the reconstruction against the preprocessed picture (torchmetrics,
    data range 1 on 8-bit pixels), ``codes`` int64 [h, w] (the code map, for pictures), ``codes_used`` and
    ``usage`` (distinct codes in this image / codebook size), ``reencode_agreement`` (fraction of codes that
    ``encode(decode(codes))`` gives back), and the ``original`` and ``reconstruction`` uint8 [3, H, W].
    """
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    from .vq import VQImageTokenizer

    tok = tokenizer or VQImageTokenizer.default()
    original = tok.preprocess(img)
    codes = tok.encode_pixels(original[None])[0]
    recon = tok.decode(codes)
    again = tok.encode_pixels(recon[None])[0]
    a, b = recon[None].float() / 255.0, original[None].float() / 255.0
    used = int(codes.unique().numel())
    return {"psnr": float(peak_signal_noise_ratio(a, b, data_range=1.0)),
            "ssim": float(structural_similarity_index_measure(a, b, data_range=1.0)),
            "codes": codes, "codes_used": used, "usage": used / tok.codebook_size,
            "reencode_agreement": float((again == codes).double().mean()),
            "original": original, "reconstruction": recon}
