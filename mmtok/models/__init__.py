"""Model-exact processors: how a real model sees a prompt, with the same counts and tensors as its transformers
processor. One module per model family registers its models in :data:`MODELS`; :class:`ModelProcessor` looks a
name up and hands each call to the family.

| name | family module | what is here |
|---|---|---|
| ``qwen2-vl``, ``qwen2.5-vl``, ``qwen3-vl`` | :mod:`mmtok.models.qwen` (+ ``qwen_video``, ``qwen_rope``, ``qwen_resize``) | images and clips: counts, markers, ``hf_inputs``, M-RoPE ``position_ids`` |
| ``gemma-3`` | :mod:`mmtok.models.gemma` | images (pan-and-scan as an option): counts, markers, ``hf_inputs`` |
| ``gemma-3n`` | :mod:`mmtok.models.gemma3n` | images and audio (clips cut at 30 s, noted): counts, markers, ``hf_inputs`` |
| ``gemma-4`` | :mod:`mmtok.models.gemma4` | images (``max_soft_tokens``), audio, video: counts, markers, ``hf_inputs`` |
| ``chameleon`` | :mod:`mmtok.models.chameleon` | images (and VQ codes to write): counts, markers, ``hf_inputs`` |
| ``whisper``, ``whisper-large-v3`` | :mod:`mmtok.models.whisper` | audio in 30 s windows: counts, ``hf_inputs`` |
| ``gemini-api``, ``gemini-1.0-mmtok-reading`` | :mod:`mmtok.models.gemini` | counts only: the API's published rule; mmtok's reading of the 1.0 report, assumptions marked |

``ModelProcessor(name)(contents)`` gives the prompt as one ``mmtok.TokenSequence`` in the model's layout
(:mod:`mmtok.models.sequence`, with :mod:`~mmtok.models.seq_qwen`, :mod:`~mmtok.models.seq_families` and
:mod:`~mmtok.models.seq_gemma`; span metadata and provenance in :mod:`~mmtok.models.seqmeta`).

The family modules register in the order they are imported here (alphabetical), which is the order of
:func:`list_models` and of ``mmtok.budget``'s rows.
"""

from . import chameleon, gemini, gemma, gemma3n, gemma4, qwen, seq_families, seq_gemma, seq_qwen, whisper
from .base import MODELS, ModelProcessor, ModelSpec, list_models, register_model

__all__ = ["MODELS", "ModelProcessor", "ModelSpec", "list_models", "register_model", "chameleon", "gemini", "gemma",
           "gemma3n", "gemma4", "qwen", "whisper", "seq_families", "seq_gemma", "seq_qwen"]
