"""Bytes in, pixels and samples out: the prompt contents (``Image``, ``Video``, ``Audio`` and what decoding gives
back), file sniffing, container checks, picture loading (with JPEG scan skipping) and audio streaming. No tokens and
no vocabulary here."""
