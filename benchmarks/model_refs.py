"""The transformers references of benchmarks/bench_models.py: each model's processor class built with its published
preprocessing values (tests/published.py, the tests' references: nothing read from mmtok, nothing downloaded) and
a tiny local word-level tokenizer carrying the model's special tokens; and the inputs as a transformers user loads
them on this machine.

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

import sys
from pathlib import Path

import av
import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast
from transformers.image_utils import load_image
from transformers.video_utils import VideoMetadata

# The published values and the reference processors built from them live in tests/published.py, one copy for the
# tests and this benchmark. A benchmark runs as a script with only benchmarks/ on the path: the tests directory is
# appended (after everything else, so none of its helper modules can shadow another module).
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
import published  # noqa: E402  (needs the path above)

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
def qwen(name: str):
    tok = tiny_tokenizer(published.QWEN_SPECIALS)
    marks = {"image": "<|vision_start|><|image_pad|><|vision_end|>",
             "video": "<|vision_start|><|video_pad|><|vision_end|>"}
    call = {**published.QWEN_CALL[name], "cap_pixels_per_frame": False}
    return published.qwen_processor(name, tok), tok, marks, {"video": call}


def gemma4(name: str):
    tok = tiny_tokenizer([], extra=published.GEMMA4_MARKERS)
    return published.gemma4_processor(tok), tok, {"image": "<|image|>", "video": "<|video|>", "audio": "<|audio|>"}, {}


def gemma3(name: str):
    tok = tiny_tokenizer([], bos="<bos>", extra=published.GEMMA_MARKERS)  # pan-and-scan off, as published
    return published.gemma3_processor(tok), tok, {"image": "<start_of_image>"}, {}


def gemma3n(name: str):
    tok = tiny_tokenizer([], bos="<bos>", extra=published.GEMMA_MARKERS)
    return published.gemma3n_processor(tok), tok, {"image": "<image_soft_token>", "audio": "<audio_soft_token>"}, {}


def chameleon(name: str):
    tok = tiny_tokenizer(published.CHAMELEON_SPECIALS, bos="<s>", sep="<reserved08706>")
    return published.chameleon_processor(tok), tok, {"image": "<image>"}, {}


class WhisperRef:
    """WhisperFeatureExtractor called as a user calls it: ``fe(wave, sampling_rate=16000, return_tensors="pt")``
    (the bundled sounds are under 30 s: one window)."""

    def __init__(self, name: str) -> None:
        self.fe = published.whisper_extractor(name)

    def __call__(self, text, audio, return_tensors="pt"):
        return {"input_features": self.fe(audio[0], sampling_rate=16000, return_tensors="pt")["input_features"]}


def whisper(name: str):
    return WhisperRef(name), tiny_tokenizer(published.WHISPER_SPECIALS), {"audio": ""}, {}


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
