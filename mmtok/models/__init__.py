"""Model-exact processors: how a real model sees a prompt, with the same counts and tensors as its transformers
processor. One module per model family registers its models in :data:`MODELS`; :class:`ModelProcessor` looks a
name up and hands each call to the family.

| name | family module | what is here |
|---|---|---|
| ``qwen2-vl``, ``qwen2.5-vl``, ``qwen3-vl`` | :mod:`mmtok.models.qwen` (+ ``qwen_video``, ``qwen_rope``, ``qwen_resize``) | images and clips: counts, markers, ``hf_inputs``, M-RoPE ``position_ids`` |
"""

from . import qwen
from .base import MODELS, ModelProcessor, ModelSpec, list_models, register_model

__all__ = ["MODELS", "ModelProcessor", "ModelSpec", "list_models", "register_model", "qwen"]
