"""The glue: prompt contents, ``MultimodalTokenizer`` (one front door), clips with their sound, provenance
dispatch, token budgets across models, file sniffing into contents, pictures of what happened."""

from ..media.contents import Audio, DecodedAudio, DecodedImage, DecodedVideo, Image, Video
from .tokenizer import LAYOUTS, LayoutPreset, MultimodalTokenizer, register_layout

__all__ = ["MultimodalTokenizer", "LayoutPreset", "LAYOUTS", "register_layout", "Image", "Video", "Audio",
           "DecodedImage", "DecodedVideo", "DecodedAudio"]
