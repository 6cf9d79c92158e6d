"""Round-trip reports: what survives a trip through a tokenizer, measured with well-kept metrics (torchmetrics).

A facade: :func:`image_report` lives in :mod:`mmtok.vq.quality`, :func:`decoder_roundtrip` and
:func:`decoder_config` in :mod:`mmtok.training.roundtrip`.
"""

from __future__ import annotations

from .training.roundtrip import decoder_config, decoder_roundtrip
from .vq.quality import image_report

__all__ = ["image_report", "decoder_roundtrip", "decoder_config"]
