"""Model-exact processors: how a real model sees a prompt, with the same counts and tensors as its transformers
processor. One module per model family registers its models in :data:`MODELS`; :class:`ModelProcessor` looks a
name up and hands each call to the family.

| name | family module | what is here |
|---|---|---|
| ``qwen2-vl``, ``qwen2.5-vl``, ``qwen3-vl`` | :mod:`mmtok.models.qwen` | images: counts, markers, ``hf_inputs`` |
| ``chameleon`` | :mod:`mmtok.models.chameleon` | images (and VQ codes to write): counts, markers, ``hf_inputs`` |
| ``whisper``, ``whisper-large-v3`` | :mod:`mmtok.models.whisper` | audio in 30 s windows: counts, ``hf_inputs`` |
"""

from . import qwen  # registered first: registration order is list_models() order

# isort: split
from . import chameleon, whisper
from .base import MODELS, ModelProcessor, ModelSpec, list_models, register_model

__all__ = ["MODELS", "ModelProcessor", "ModelSpec", "list_models", "register_model", "qwen", "chameleon", "whisper"]
