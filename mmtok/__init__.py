"""mmtok: a multimodal tokenization playground.

Text (SentencePiece), images (ViT patches), video (sampled frames), audio (log-mel) and discrete VQ image codes
in one interleaved :class:`TokenSequence`. Importing mmtok imports torch and nothing heavy besides: media
decoders, timm and torchaudio load when first used; the library never imports gradio.
"""

from .audio import AudioConfig, AudioTokenizer, AudioTokens, log_mel
from .budget import MODEL_PRESETS, budget, format_budget
from .batch import collate, document_attention_mask, pack_rows, uncollate, unpack_rows
from .decoder import DecoderConfig, TinyDecoder
from .contents import Audio, DecodedAudio, DecodedImage, DecodedVideo, Image, Video
from .errors import (AssetError, ConfigError, ContextLengthError, DecodeError, InputError, LimitError,
                     ManifestError, MmtokError, SequenceError, TextError, VocabError)
from .image import ImageTokenizer, ImageTokens
from .image_plan import ImageConfig, ImagePlan, plan_image
from .multimodal import LAYOUTS, LayoutPreset, MultimodalTokenizer
from .sequence import DEFAULT_MAX_LENGTH, Segment, Span, TokenSequence, grid_positions, pack, sequential_positions
from .text import TextTokenizer
from . import roundtrip
from .video import VideoConfig, VideoTokenizer, VideoTokens, sample_frames
from .vq import VQImageTokenizer
from .vq_model import VQ_PRESETS, VQConfig
from .vocab import PLACEHOLDERS, SPECIAL_TOKENS, Kind, Modality, Vocab

__version__ = "0.1.0"

__all__ = [
    "AssetError", "ConfigError", "ContextLengthError", "DecodeError", "InputError", "LimitError", "ManifestError",
    "MmtokError",
    "SequenceError", "TextError", "VocabError",
    "DEFAULT_MAX_LENGTH", "Segment", "Span", "TokenSequence", "pack", "sequential_positions", "grid_positions",
    "collate", "uncollate", "pack_rows", "unpack_rows", "document_attention_mask",
    "TextTokenizer", "ImageConfig", "ImagePlan", "ImageTokenizer", "ImageTokens", "plan_image",
    "VideoConfig", "VideoTokenizer", "VideoTokens", "sample_frames",
    "AudioConfig", "AudioTokenizer", "AudioTokens", "log_mel", "VQImageTokenizer", "VQConfig", "VQ_PRESETS",
    "roundtrip", "DecoderConfig", "TinyDecoder", "MultimodalTokenizer", "LayoutPreset", "LAYOUTS", "Image", "Video", "Audio", "DecodedImage",
    "DecodedVideo", "DecodedAudio", "budget", "format_budget", "MODEL_PRESETS", "PLACEHOLDERS", "SPECIAL_TOKENS", "Kind", "Modality", "Vocab",
]
