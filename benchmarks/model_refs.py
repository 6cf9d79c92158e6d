"""The transformers references of benchmarks/bench_models.py: each model's processor class built with its published
preprocessing values (written out here, as in tests/test_models*.py; nothing read from mmtok, nothing downloaded)
and a tiny local word-level tokenizer carrying the model's special tokens; and the inputs as a transformers user
loads them on this machine.

How a user loads each input here (transformers 5.23, torchcodec / soundfile / librosa not installed):

- a photo: ``transformers.image_utils.load_image(path)`` (PIL decode, EXIF orientation, RGB), passed to the
  processor, which picks its default torchvision backend;
- the clip: transformers' own ``load_video`` needs torchcodec, and its ``backend="pyav"`` reads
  ``stream.frames``, 0 for an MPEG program stream (it raises IndexError on cityCC0.mpg), so the user decodes with
  PyAV: ``av.open(path)``, every frame of the video stream ``frame.to_ndarray(format="rgb24")``, stacked to uint8
  [190, 405, 720, 3], with ``VideoMetadata(total_num_frames=190, fps=float(stream.average_rate))`` (25.0);
- a sound: ``transformers.audio_utils.load_audio`` needs torchcodec or soundfile, and ``torchaudio.load`` needs
  torchcodec, so the user decodes with PyAV (``frame.to_ndarray()``, int16 / 32768, mean of the channels) and
  resamples to 16 kHz with ``torchaudio.functional.resample`` (what ``load_audio(backend="torchaudio")`` uses).
  mmtok resamples with libswresample (:mod:`mmtok.media.audioio`), so the features differ by the resamplers'
  difference; equality is checked with the reference fed mmtok's own 16 kHz waveform.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast
from transformers.image_utils import load_image
from transformers.video_utils import VideoMetadata

WORDS = ["[UNK]", "<pad>", "<s>", "<bos>", "Describe", "this", "picture", "clip", "listen", ".", ":", "<", ">", "seconds",
         "00", "01", "02", "03", "04", "05", "06", "07"] + [str(d) for d in range(10)]


def tiny_tokenizer(specials: list[str], bos: str | None = None, sep: str | None = None,
                   extra: dict[str, str] | None = None) -> PreTrainedTokenizerFast:
    """A word-level tokenizer with the model's special tokens (``bos`` added first when given)."""
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    kw: dict = {}
    if bos:
        tk.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, WORDS.index(bos))])
        kw["bos_token"] = bos
    if sep:
        kw["sep_token"] = sep
    if extra:
        kw["extra_special_tokens"] = extra
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="<pad>",
                                  model_input_names=["input_ids", "attention_mask"], **kw)
    if specials:
        tok.add_special_tokens({"additional_special_tokens": specials})
    return tok


# --- each model: (processor, tokenizer, {input kind: placeholder}, extra call kwargs per kind) ---------------
QWEN_SPECIALS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]


def qwen(name: str):
    from transformers import (
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    qwen2 = dict(min_pixels=3136, max_pixels=12845056)  # Qwen/Qwen2-VL-7B-Instruct, Qwen/Qwen2.5-VL-7B-Instruct
    qwen3_image = dict(size={"shortest_edge": 65536, "longest_edge": 16777216}, patch_size=16,
                       image_mean=[0.5] * 3, image_std=[0.5] * 3)  # Qwen/Qwen3-VL-8B-Instruct
    qwen3_video = dict(size={"shortest_edge": 4096, "longest_edge": 25165824}, patch_size=16, image_mean=[0.5] * 3,
                       image_std=[0.5] * 3, fps=2, min_frames=4, max_frames=768, do_sample_frames=True)
    cls, image, video_cls, video, call = {
        "qwen2-vl": (Qwen2VLProcessor, qwen2, Qwen2VLVideoProcessor, qwen2, dict(do_sample_frames=True, fps=2)),
        "qwen2.5-vl": (Qwen2_5_VLProcessor, qwen2, Qwen2VLVideoProcessor, qwen2, dict(do_sample_frames=True, fps=2)),
        "qwen3-vl": (Qwen3VLProcessor, qwen3_image, Qwen3VLVideoProcessor, qwen3_video, {})}[name]
    tok = tiny_tokenizer(QWEN_SPECIALS)
    hf = cls(image_processor=Qwen2VLImageProcessor(**image), tokenizer=tok, video_processor=video_cls(**video))
    marks = {"image": "<|vision_start|><|image_pad|><|vision_end|>",
             "video": "<|vision_start|><|video_pad|><|vision_end|>"}
    return hf, tok, marks, {"video": {**call, "cap_pixels_per_frame": False}}


GEMMA4_MARKERS = {"image_token": "<|image|>", "boi_token": "<|image>", "eoi_token": "<image|>",
                  "audio_token": "<|audio|>", "boa_token": "<|audio>", "eoa_token": "<audio|>"}


def gemma4(name: str):
    from transformers.models.gemma4 import (
        Gemma4AudioFeatureExtractor,
        Gemma4ImageProcessor,
        Gemma4Processor,
        Gemma4VideoProcessor,
    )

    # google/gemma-4 processor_config.json (image_processor, video_processor, feature_extractor sections)
    image = dict(max_soft_tokens=280, patch_size=16, pooling_kernel_size=3, do_normalize=False,
                 rescale_factor=0.00392156862745098, resample=3)
    video = dict(max_soft_tokens=70, num_frames=32, do_sample_frames=True, do_normalize=True, patch_size=16,
                 pooling_kernel_size=3, image_mean=[0.0] * 3, image_std=[1.0] * 3, resample=3)
    audio = dict(feature_size=128, sampling_rate=16000, frame_length_ms=20.0, hop_length_ms=10.0, min_frequency=0.0,
                 max_frequency=8000.0, mel_floor=1e-3)
    tok = tiny_tokenizer([], extra=GEMMA4_MARKERS)
    hf = Gemma4Processor(Gemma4AudioFeatureExtractor(**audio), Gemma4ImageProcessor(**image), tok,
                         Gemma4VideoProcessor(**video), image_seq_length=280, audio_seq_length=750,
                         audio_ms_per_token=40)
    return hf, tok, {"image": "<|image|>", "video": "<|video|>", "audio": "<|audio|>"}, {}


GEMMA_EXTRA = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>",
               "boa_token": "<start_of_audio>", "eoa_token": "<end_of_audio>", "audio_token": "<audio_soft_token>"}


def gemma3(name: str):
    from transformers import Gemma3ImageProcessor, Gemma3Processor

    # google/gemma-3-4b-it preprocessor_config.json + processor_config.json (pan-and-scan off, as published)
    image = dict(size={"height": 896, "width": 896}, resample=2, rescale_factor=1 / 255, do_normalize=True,
                 image_mean=[0.5] * 3, image_std=[0.5] * 3)
    tok = tiny_tokenizer([], bos="<bos>", extra=GEMMA_EXTRA)
    hf = Gemma3Processor(image_processor=Gemma3ImageProcessor(**image), tokenizer=tok, image_seq_length=256)
    return hf, tok, {"image": "<start_of_image>"}, {}


def gemma3n(name: str):
    from transformers import Gemma3nAudioFeatureExtractor, Gemma3nProcessor, SiglipImageProcessor

    # google/gemma-3n-E4B-it preprocessor_config.json (the audio part: the extractor's defaults), processor_config
    image = dict(size={"height": 768, "width": 768}, resample=2, rescale_factor=1 / 255, do_normalize=False,
                 image_mean=[0.5] * 3, image_std=[0.5] * 3)
    tok = tiny_tokenizer([], bos="<bos>", extra=GEMMA_EXTRA)
    hf = Gemma3nProcessor(feature_extractor=Gemma3nAudioFeatureExtractor(), image_processor=SiglipImageProcessor(
        **image), tokenizer=tok, image_seq_length=256, audio_seq_length=188)
    return hf, tok, {"image": "<image_soft_token>", "audio": "<audio_soft_token>"}, {}


def chameleon(name: str):
    from transformers import ChameleonImageProcessor, ChameleonProcessor

    # facebook/chameleon-7b: processor_config.json and preprocessor_config.json (see mmtok.models.chameleon)
    image = dict(size={"shortest_edge": 512}, crop_size={"height": 512, "width": 512}, resample=1,
                 rescale_factor=0.0078, image_mean=[1.0, 1.0, 1.0], image_std=[1.0, 1.0, 1.0])
    tok = tiny_tokenizer(["<reserved08706>", "<image>", "<racm3:break>", "<eoss>"], bos="<s>", sep="<reserved08706>")
    hf = ChameleonProcessor(image_processor=ChameleonImageProcessor(**image), tokenizer=tok, image_seq_length=1024,
                            image_token="<image>")
    return hf, tok, {"image": "<image>"}, {}


class WhisperRef:
    """WhisperFeatureExtractor called as a user calls it: ``fe(wave, sampling_rate=16000, return_tensors="pt")``
    (the bundled sounds are under 30 s: one window)."""

    def __init__(self, n_mels: int) -> None:
        from transformers import WhisperFeatureExtractor

        self.fe = WhisperFeatureExtractor(feature_size=n_mels)  # openai/whisper-*: 80; large-v3: 128

    def __call__(self, text, audio, return_tensors="pt"):
        return {"input_features": self.fe(audio[0], sampling_rate=16000, return_tensors="pt")["input_features"]}


def whisper(name: str):
    tok = tiny_tokenizer(["<|startoftranscript|>", "<|notimestamps|>", "<|endoftext|>"])
    return WhisperRef(128 if name == "whisper-large-v3" else 80), tok, {"audio": ""}, {}


REFERENCES = {"qwen2-vl": qwen, "qwen2.5-vl": qwen, "qwen3-vl": qwen, "gemma-4": gemma4, "gemma-3": gemma3,
              "gemma-3n": gemma3n, "chameleon": chameleon, "whisper": whisper, "whisper-large-v3": whisper}
KINDS = {"qwen2-vl": ("image", "video"), "qwen2.5-vl": ("image", "video"), "qwen3-vl": ("image", "video"),
         "gemma-4": ("image", "video", "audio"), "gemma-3": ("image",), "gemma-3n": ("image", "audio"),
         "chameleon": ("image",), "whisper": ("audio",),
         "whisper-large-v3": ("audio",)}


# --- the inputs as a transformers user loads them --------------------------------------------------------------
def user_image(path: Path):
    return load_image(str(path))


def user_video(path: Path) -> tuple[np.ndarray, VideoMetadata]:
    """Every frame decoded by PyAV, uint8 [T, H, W, 3], with its metadata (frame count, stream average rate)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(stream)])
        fps = float(stream.average_rate)
    meta = VideoMetadata(total_num_frames=len(frames), fps=fps, width=frames.shape[2], height=frames.shape[1])
    return frames, meta


def user_audio(path: Path) -> np.ndarray:
    """float32 [S] mono at 16 kHz: PyAV decode, mean of the channels, torchaudio.functional.resample."""
    import torchaudio.functional as AF

    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        rate = stream.rate
        chunks = [f.to_ndarray() for f in c.decode(stream)]
    fmt = np.concatenate(chunks, axis=-1)  # packed s16: [1, S * channels]; planar: [channels, S]
    if fmt.shape[0] == 1 and stream.channels > 1:
        fmt = fmt.reshape(-1, stream.channels).T
    x = torch.from_numpy(fmt.astype(np.float32) / 32768.0).mean(0)
    return AF.resample(x, rate, 16000).numpy()
