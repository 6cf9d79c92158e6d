"""Discrete VQ image codes: the tokenizer a model would use to WRITE images."""

from .model import VQ_PRESETS, VQConfig, VQModel
from .quality import image_report, psnr_ssim
from .tokenizer import (
                        DEFAULT_VQ,
                        VQImageTokenizer,
                        codes_positions,
                        codes_segment,
                        codes_segment_length,
                        num_codes,
                        picture_config,
)

__all__ = ["VQImageTokenizer", "VQConfig", "VQModel", "VQ_PRESETS", "DEFAULT_VQ", "codes_segment",
           "codes_segment_length", "codes_positions", "num_codes", "picture_config", "psnr_ssim", "image_report"]
