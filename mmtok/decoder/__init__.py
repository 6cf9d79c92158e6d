"""The tiny Gemma-style decoder: model and KV-cache generation."""

from .model import DecoderConfig, TinyDecoder

__all__ = ["DecoderConfig", "TinyDecoder"]
