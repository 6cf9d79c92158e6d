"""Video tokens: N evenly sampled frames through the image path."""

from .tokenizer import SAMPLING_MODES, VideoConfig, VideoTokenizer, VideoTokens, sample_frames

__all__ = ["VideoConfig", "VideoTokenizer", "VideoTokens", "sample_frames", "SAMPLING_MODES"]
