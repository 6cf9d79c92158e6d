"""Each model's published preprocessing values, as the transformers processor classes take them, and the reference
processors built from them: the other side of tests/test_models*.py and of benchmarks/bench_models.py
(benchmarks/model_refs.py).

Written here by hand from each checkpoint's files on the Hugging Face hub (checkpoint and file in a comment; the
copies they were read from are named in each mmtok.models module's docstring): only the values that differ from the
transformers 5.23 class defaults, plus the processor's sequence lengths and the tokenizer's marker strings. Nothing
here is read from mmtok, which the tests compare against these values, so a wrong constant in mmtok fails a test;
keep it so (this module imports no mmtok). Nothing is downloaded.

The builders import their transformers classes when called: each test file pays only for the models it uses.
"""

from __future__ import annotations

# --- Qwen2-VL, Qwen2.5-VL, Qwen3-VL ---------------------------------------------------------------------------
# Qwen/Qwen2-VL-7B-Instruct and Qwen/Qwen2.5-VL-7B-Instruct preprocessor_config.json (the class defaults are
# min_pixels 56*56, max_pixels 28*28*1280). They publish no video file: AutoProcessor builds Qwen2VLVideoProcessor
# from the same preprocessor_config.json (do_sample_frames false, fps null); the model cards sample at 2 fps, so the
# processor is called with QWEN2_CALL for a clip.
QWEN2_IMAGE = dict(min_pixels=3136, max_pixels=12845056)
QWEN2_VIDEO = dict(min_pixels=3136, max_pixels=12845056)
QWEN2_CALL = dict(do_sample_frames=True, fps=2)
# Qwen/Qwen3-VL-8B-Instruct preprocessor_config.json and video_preprocessor_config.json.
QWEN3_IMAGE = dict(size={"shortest_edge": 65536, "longest_edge": 16777216}, patch_size=16,
                   image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
QWEN3_VIDEO = dict(size={"shortest_edge": 4096, "longest_edge": 25165824}, patch_size=16, image_mean=[0.5] * 3,
                   image_std=[0.5] * 3, fps=2, min_frames=4, max_frames=768, do_sample_frames=True)
# name -> the image processor's, the video processor's and the call's kwargs (Qwen3-VL's sampling is in its video
# processor)
QWEN_IMAGE = {"qwen2-vl": QWEN2_IMAGE, "qwen2.5-vl": QWEN2_IMAGE, "qwen3-vl": QWEN3_IMAGE}
QWEN_VIDEO = {"qwen2-vl": QWEN2_VIDEO, "qwen2.5-vl": QWEN2_VIDEO, "qwen3-vl": QWEN3_VIDEO}
QWEN_CALL = {"qwen2-vl": QWEN2_CALL, "qwen2.5-vl": QWEN2_CALL, "qwen3-vl": {}}
# tokenizer_config.json's added tokens (the same in all three)
QWEN_SPECIALS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]

# --- Gemma 3 ------------------------------------------------------------------------------------------------------
# google/gemma-3-4b-it preprocessor_config.json and processor_config.json (image_seq_length 256); pan-and-scan off,
# as published (do_pan_and_scan null).
GEMMA3_IMAGE = dict(size={"height": 896, "width": 896}, resample=2, rescale_factor=1 / 255, do_normalize=True,
                    image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
GEMMA3_SEQ = dict(image_seq_length=256)
# The pan-and-scan values are null in the published config: Gemma3Processor's images_kwargs defaults, given to the
# call when pan-and-scan is on.
GEMMA3_PAN_AND_SCAN = dict(pan_and_scan_min_crop_size=256, pan_and_scan_max_num_crops=4,
                           pan_and_scan_min_ratio_to_activate=1.2)
# Gemma 3 and 3n tokenizer_config.json: the markers (the tokenizer's extra special tokens)
GEMMA_MARKERS = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>",
                 "boa_token": "<start_of_audio>", "eoa_token": "<end_of_audio>", "audio_token": "<audio_soft_token>"}

# --- Gemma 3n -----------------------------------------------------------------------------------------------------
# google/gemma-3n-E4B-it preprocessor_config.json (the image part; the audio part is Gemma3nAudioFeatureExtractor's
# class defaults, so GEMMA3N_AUDIO is empty) and processor_config.json.
GEMMA3N_IMAGE = dict(size={"height": 768, "width": 768}, resample=2, rescale_factor=1 / 255, do_normalize=False,
                     image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
GEMMA3N_AUDIO: dict = {}
GEMMA3N_SEQ = dict(image_seq_length=256, audio_seq_length=188)

# --- Gemma 4 ------------------------------------------------------------------------------------------------------
# google/gemma-4 processor_config.json (image_processor, video_processor, feature_extractor sections, and the
# processor's own sequence lengths).
GEMMA4_IMAGE = dict(max_soft_tokens=280, patch_size=16, pooling_kernel_size=3, do_normalize=False,
                    rescale_factor=0.00392156862745098, resample=3)
GEMMA4_VIDEO = dict(max_soft_tokens=70, num_frames=32, do_sample_frames=True, do_normalize=True, patch_size=16,
                    pooling_kernel_size=3, image_mean=[0.0] * 3, image_std=[1.0] * 3, resample=3)
GEMMA4_AUDIO = dict(feature_size=128, sampling_rate=16000, frame_length_ms=20.0, hop_length_ms=10.0,
                    min_frequency=0.0, max_frequency=8000.0, mel_floor=1e-3)
GEMMA4_SEQ = dict(image_seq_length=280, audio_seq_length=750, audio_ms_per_token=40)
# tokenizer_config.json: the markers (Gemma4Processor adds <|video|> to the tokenizer itself)
GEMMA4_MARKERS = {"image_token": "<|image|>", "boi_token": "<|image>", "eoi_token": "<image|>",
                  "audio_token": "<|audio|>", "boa_token": "<|audio>", "eoa_token": "<audio|>"}

# --- Chameleon ----------------------------------------------------------------------------------------------------
# facebook/chameleon-7b preprocessor_config.json (resample 1 = LANCZOS, which the torchvision backend replaces by
# BICUBIC under torchvision < 0.27) and processor_config.json; the tokenizer's markers, <reserved08706> its
# sep_token.
CHAMELEON_IMAGE = dict(size={"shortest_edge": 512}, crop_size={"height": 512, "width": 512}, resample=1,
                       rescale_factor=0.0078, image_mean=[1.0, 1.0, 1.0], image_std=[1.0, 1.0, 1.0])
CHAMELEON_SEQ = dict(image_seq_length=1024, image_token="<image>")
CHAMELEON_SPECIALS = ["<reserved08706>", "<image>", "<racm3:break>", "<eoss>"]

# --- Whisper ------------------------------------------------------------------------------------------------------
# preprocessor_config.json: feature_size 80 for openai/whisper-tiny .. -large-v2, 128 for openai/whisper-large-v3;
# the rest the class defaults.
WHISPER = {"whisper": dict(feature_size=80), "whisper-large-v3": dict(feature_size=128)}
WHISPER_SPECIALS = ["<|startoftranscript|>", "<|notimestamps|>", "<|endoftext|>"]


# --- the reference processors -------------------------------------------------------------------------------------
def qwen_classes(name: str) -> tuple[type, type]:
    """(processor class, video processor class) of a Qwen-VL model; the image processor is Qwen2VLImageProcessor."""
    from transformers import (
        Qwen2_5_VLProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    return {"qwen2-vl": (Qwen2VLProcessor, Qwen2VLVideoProcessor),
            "qwen2.5-vl": (Qwen2_5_VLProcessor, Qwen2VLVideoProcessor),
            "qwen3-vl": (Qwen3VLProcessor, Qwen3VLVideoProcessor)}[name]


def qwen_image(name: str):
    from transformers import Qwen2VLImageProcessor

    return Qwen2VLImageProcessor(**QWEN_IMAGE[name])


def qwen_video(name: str, **changes):
    """The published video processor; ``changes`` override its values."""
    return qwen_classes(name)[1](**{**QWEN_VIDEO[name], **changes})


def qwen_processor(name: str, tokenizer, **video_changes):
    """The model's processor: the published image and video processors (``video_changes`` as in qwen_video)."""
    return qwen_classes(name)[0](image_processor=qwen_image(name), tokenizer=tokenizer,
                                 video_processor=qwen_video(name, **video_changes))


def gemma3_image():
    from transformers import Gemma3ImageProcessor

    return Gemma3ImageProcessor(**GEMMA3_IMAGE)


def gemma3_processor(tokenizer, image_processor=None):
    from transformers import Gemma3Processor

    ip = gemma3_image() if image_processor is None else image_processor  # a test's own, built by gemma3_image
    return Gemma3Processor(image_processor=ip, tokenizer=tokenizer, **GEMMA3_SEQ)


def gemma3n_processor(tokenizer):
    from transformers import Gemma3nAudioFeatureExtractor, Gemma3nProcessor, SiglipImageProcessor

    return Gemma3nProcessor(feature_extractor=Gemma3nAudioFeatureExtractor(**GEMMA3N_AUDIO),
                            image_processor=SiglipImageProcessor(**GEMMA3N_IMAGE), tokenizer=tokenizer, **GEMMA3N_SEQ)


def gemma4_image(**changes):
    """The published image processor; ``changes`` override its values (e.g. another ``max_soft_tokens``)."""
    from transformers.models.gemma4 import Gemma4ImageProcessor

    return Gemma4ImageProcessor(**{**GEMMA4_IMAGE, **changes})


def gemma4_processor(tokenizer):
    from transformers.models.gemma4 import Gemma4AudioFeatureExtractor, Gemma4Processor, Gemma4VideoProcessor

    return Gemma4Processor(Gemma4AudioFeatureExtractor(**GEMMA4_AUDIO), gemma4_image(), tokenizer,
                           Gemma4VideoProcessor(**GEMMA4_VIDEO), **GEMMA4_SEQ)


def chameleon_image():
    from transformers import ChameleonImageProcessor

    return ChameleonImageProcessor(**CHAMELEON_IMAGE)


def chameleon_processor(tokenizer, image_processor=None):
    from transformers import ChameleonProcessor

    ip = chameleon_image() if image_processor is None else image_processor  # a test's own, built by chameleon_image
    return ChameleonProcessor(image_processor=ip, tokenizer=tokenizer, **CHAMELEON_SEQ)


def whisper_extractor(name: str):
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(**WHISPER[name])
