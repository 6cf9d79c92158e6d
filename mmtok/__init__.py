"""mmtok: a multimodal tokenization playground.

Text (SentencePiece), images (ViT patches), video (sampled frames), audio (log-mel) and discrete VQ image codes
in one interleaved :class:`TokenSequence`. Importing mmtok imports torch and nothing heavy besides: media
decoders, timm and torchaudio load when first used; the library never imports gradio.

Layers (top to bottom; each imports only those below it, held by import-linter): ``cli`` -> ``data``,
``decoder``, ``training`` -> ``multimodal``, ``models`` -> ``text``, ``image``, ``video``, ``audio``, ``vq`` ->
``media`` -> ``core``.
"""

from . import roundtrip
from ._version import __version__
from .audio import AudioConfig, AudioTokenizer, AudioTokens, log_mel
from .core.batch import Batch, collate, document_attention_mask, pack_rows, uncollate, unpack_rows
from .core.model_vocab import ModelVocab
from .core.protocol import ModalityTokenizer
from .core.sequence import DEFAULT_MAX_LENGTH, Segment, Span, TokenSequence, grid_positions, pack, sequential_positions
from .core.vocab import PLACEHOLDERS, SPECIAL_TOKENS, Kind, Modality, Vocab
from .decoder import DecoderConfig, TinyDecoder
from .errors import (
                            AssetError,
                            ConfigError,
                            ContextLengthError,
                            DecodeError,
                            InputError,
                            LimitError,
                            ManifestError,
                            MmtokError,
                            MmtokWarning,
                            SequenceError,
                            TextError,
                            VocabError,
)
from .image import ImageConfig, ImagePlan, ImageTokenizer, ImageTokens, plan_image
from .media.files import File, FileAsTextWarning
from .models import ModelProcessor, list_models
from .multimodal import (
                            LAYOUTS,
                            Audio,
                            DecodedAudio,
                            DecodedImage,
                            DecodedVideo,
                            Image,
                            LayoutPreset,
                            MultimodalTokenizer,
                            Video,
)
from .multimodal.budget import MODEL_PRESETS, budget, format_budget
from .multimodal.notebook import show
from .text import TextTokenizer
from .video import VideoConfig, VideoTokenizer, VideoTokens, sample_frames
from .vq import VQ_PRESETS, VQConfig, VQImageTokenizer

__all__ = [
    "AssetError", "ConfigError", "ContextLengthError", "DecodeError", "InputError", "LimitError", "ManifestError",
    "MmtokError", "MmtokWarning", "SequenceError", "TextError", "VocabError",
    "DEFAULT_MAX_LENGTH", "Segment", "Span", "TokenSequence", "pack", "sequential_positions", "grid_positions",
    "Batch", "collate", "uncollate", "pack_rows", "unpack_rows", "document_attention_mask",
    "TextTokenizer", "ImageConfig", "ImagePlan", "ImageTokenizer", "ImageTokens", "plan_image",
    "VideoConfig", "VideoTokenizer", "VideoTokens", "sample_frames",
    "AudioConfig", "AudioTokenizer", "AudioTokens", "log_mel", "VQImageTokenizer", "VQConfig", "VQ_PRESETS",
    "roundtrip", "DecoderConfig", "TinyDecoder", "MultimodalTokenizer", "LayoutPreset", "LAYOUTS",
    "Image", "Video", "Audio", "File", "FileAsTextWarning", "DecodedImage", "DecodedVideo", "DecodedAudio",
    "budget", "format_budget", "show", "MODEL_PRESETS", "PLACEHOLDERS", "SPECIAL_TOKENS", "Kind", "Modality", "Vocab",
    "ModalityTokenizer", "ModelProcessor", "ModelVocab", "list_models", "__version__",
]
