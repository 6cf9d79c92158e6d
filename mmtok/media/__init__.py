"""Bytes in, pixels and samples out: file sniffing, container checks, picture loading (with JPEG scan skipping)
and audio streaming. No tokens and no vocabulary here."""
