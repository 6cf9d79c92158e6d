"""Model-exact processors, one module per real model family (Gemma, Qwen-VL, Whisper, Chameleon, Gemini API);
each registers its processors. Empty until they land."""
