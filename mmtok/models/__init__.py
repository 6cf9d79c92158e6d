"""Model-exact processors: how a real model sees a prompt, with the same counts and tensors as its transformers
processor. One module per model family registers its models in :data:`MODELS`; :class:`ModelProcessor` looks a
name up and hands each call to the family.

| name | family module | what is here |
|---|---|---|
| ``qwen2-vl``, ``qwen2.5-vl``, ``qwen3-vl`` | :mod:`mmtok.models.qwen` | images: counts, markers, ``hf_inputs`` |
| ``gemma-4`` | :mod:`mmtok.models.gemma4` | images (``max_soft_tokens``), audio, video: counts, markers, ``hf_inputs`` |
"""

from . import qwen  # isort: skip (registration order: list_models() lists the Qwen-VL models first)
from . import gemma4  # isort: skip
from .base import MODELS, ModelProcessor, ModelSpec, list_models, register_model

__all__ = ["MODELS", "ModelProcessor", "ModelSpec", "list_models", "register_model", "gemma4", "qwen"]
