"""mmtok.models.chameleon against transformers' ChameleonProcessor / ChameleonImageProcessor themselves.

The reference processor is built from its classes with the values transformers' conversion script gives
facebook/chameleon-7b (the class defaults: shortest edge 512, crop 512, LANCZOS -> BICUBIC under torchvision < 0.27,
rescale 0.0078, mean = std = 1.0, 1024 image tokens), written out in tests/published.py, and a tiny local tokenizer
carrying Chameleon's special tokens; nothing is downloaded. Properties: the count and markers equal the processor's
over 230 sizes; pixel_values equal on the bundled photos and noise pictures; the whole processor call gives the same
tensors; VQ codes to write count as the same layout; other pieces are refused.
"""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from transformers import ChameleonImageProcessor

import mmtok
import published
from local_tokenizers import word_tokenizer
from mmtok.errors import InputError, LimitError
from mmtok.media.imageio import load_image
from mmtok.models.base import TextIds

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "assets" / "images").glob("*.png")) + sorted((ROOT / "assets" / "images").glob("*.jpg"))
BIG_JPEG = ROOT / "assets" / "images" / "seeding_by_Clements_Engelhardt.jpg"
SPECIALS = published.CHAMELEON_SPECIALS


@pytest.fixture(scope="module")
def hf_tokenizer():
    """A tiny word-level tokenizer with Chameleon's markers, <s> added first as LlamaTokenizerFast adds it."""
    return word_tokenizer(["<s>", "Describe", "this", "picture", "and", "that", "."], SPECIALS, template="<s> $A",
                          bos_token="<s>", sep_token="<reserved08706>")


@pytest.fixture(scope="module")
def reference(hf_tokenizer):
    ip = published.chameleon_image()
    return ip, published.chameleon_processor(hf_tokenizer, ip)


def _sizes() -> list[tuple[int, int]]:
    """(height, width): edge cases around 512, extreme aspect ratios and log-uniform sizes up to 20000 pixels."""
    edge = [(1, 1), (1, 2), (2, 1), (1, 10000), (10000, 1), (1, 511), (511, 1), (511, 512), (512, 511), (512, 512),
            (513, 512), (512, 513), (513, 513), (1023, 1024), (1024, 1024), (20000, 20000), (5312, 2988),
            (2988, 5312), (3, 700), (700, 3), (300, 451), (427, 640)]
    rng = np.random.default_rng(19)
    rand = [tuple(int(v) for v in np.exp(rng.uniform(0, math.log(20000), 2)).round().clip(1)) for _ in range(208)]
    return edge + rand


SIZES = _sizes()


def _pixels(x: torch.Tensor, ip: ChameleonImageProcessor) -> torch.Tensor:
    return ip(images=[x], return_tensors="pt", input_data_format="channels_first")["pixel_values"]


def test_registry():
    assert "chameleon" in mmtok.list_models()


def test_counts_and_markers_over_sizes(reference):
    """THE count (1024) and the segment (1026) equal the processor's _get_num_multimodal_tokens at every size."""
    _, hf = reference
    proc = mmtok.ModelProcessor("chameleon")
    ref = hf._get_num_multimodal_tokens(image_sizes=SIZES).num_image_tokens
    assert len(SIZES) >= 230
    for size, n in zip(SIZES, ref):
        assert proc.segment_length(size) == n == 1026, size
        assert proc.num_tokens(size) == hf.image_seq_length == 1024, size


@pytest.mark.parametrize("h, w", [(1, 1), (1, 2), (2, 1), (5, 300), (300, 5), (40, 1200), (511, 513), (512, 512),
                                  (513, 511), (999, 37), (2, 150)])
def test_pixel_values_on_noise(reference, h, w):
    ip, _ = reference
    x = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(h * 7919 + w))
    out = mmtok.ModelProcessor("chameleon").hf_inputs(x)["pixel_values"]
    ref = _pixels(x, ip)
    assert out.shape == ref.shape == (1, 3, 512, 512) and out.dtype == ref.dtype == torch.float32
    assert (out - ref).abs().max().item() == 0.0


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_pixel_values_on_the_bundled_photos(reference, photo):
    """Given mmtok's decoded picture (max abs 0.0), and also the processor's own decoding of the file."""
    ip, _ = reference
    out = mmtok.ModelProcessor("chameleon").hf_inputs(mmtok.Image(photo))["pixel_values"]
    assert (out - _pixels(load_image(photo).pixels, ip)).abs().max().item() == 0.0
    with PILImage.open(photo) as im:
        assert torch.equal(out, ip(images=[im], return_tensors="pt")["pixel_values"])


def test_the_whole_processor_call(reference, hf_tokenizer):
    ip, hf = reference
    a, b = PHOTOS[0], PHOTOS[-1]
    proc = mmtok.ModelProcessor("chameleon", tokenizer=hf_tokenizer)
    out = proc.hf_inputs(["Describe this ", mmtok.Image(a), " picture and that .", mmtok.Image(b)])
    ref = hf(text="Describe this <image> picture and that .<image>",
             images=[load_image(a).pixels, load_image(b).pixels], return_tensors="pt",
             input_data_format="channels_first")
    assert set(out) == set(ref) == {"input_ids", "attention_mask", "pixel_values"}
    for k in out:
        assert out[k].dtype == ref[k].dtype and torch.equal(out[k], ref[k]), k
    ids = out["input_ids"][0].tolist()
    image_id, boi, eoi, sep = (hf_tokenizer.convert_tokens_to_ids(t) for t in SPECIALS[1:] + SPECIALS[:1])
    assert ids.count(image_id) == 2048 and ids.count(boi) == ids.count(eoi) == 2 and ids[-1] == sep
    assert ids[0] == hf_tokenizer.bos_token_id
    assert len(ids) == 2 + sum(proc.segment_length(p) for p in ["Describe this ", a, " picture and that .", b])


def test_default_text_ids():
    """Without a tokenizer: mmtok's SentencePiece ids, <s> first and the separator last, the same layout."""
    proc = mmtok.ModelProcessor("chameleon")
    text = "Describe this picture."
    out = proc.hf_inputs([text, mmtok.Image(PHOTOS[1])])
    n = TextIds(None, ["x"]).count(text)
    assert proc.num_tokens(text) == n
    assert out["input_ids"].shape == out["attention_mask"].shape == (1, 1 + n + 1026 + 1)
    assert out["pixel_values"].shape == (1, 3, 512, 512)


def test_codes_to_write_count_as_the_same_layout():
    proc = mmtok.ModelProcessor("chameleon")
    codes = mmtok.Image(PHOTOS[0], as_="codes")
    assert proc.num_tokens(codes) == 1024 and proc.segment_length(codes) == 1026
    with pytest.raises(InputError, match="Chameleon's own VQ codes, not mmtok's"):
        proc.hf_inputs(codes)


def test_pieces_the_model_does_not_take():
    proc = mmtok.ModelProcessor("chameleon")
    for piece in (mmtok.Audio(ROOT / "assets" / "audio" / "speech_en.wav"),
                  mmtok.Video(ROOT / "assets" / "video" / "cityCC0.mpg")):
        for call in (proc.num_tokens, proc.segment_length, proc.hf_inputs):
            with pytest.raises(InputError, match=r"chameleon takes no (audio|video) \(Chameleon reads text and pictures\); give text"):
                call(piece)
    with pytest.raises(InputError, match="no such image file"):
        proc.num_tokens(mmtok.Image(ROOT / "assets" / "images" / "missing.png"))
    with pytest.raises(InputError, match="no such file: .*missing.png; check the path"):  # a Path is mmtok.File
        proc.num_tokens(ROOT / "assets" / "images" / "missing.png")
    with pytest.raises(InputError, match="chameleon: hf_inputs needs the picture itself"):
        proc.hf_inputs((300, 400))
    thin = np.zeros((1, 10000, 3), dtype=np.uint8)  # resized to 512x5120000 before the crop
    assert proc.num_tokens(thin) == 1024
    with pytest.raises(LimitError, match="chameleon.*10000x1 picture.*5120000x512"):
        proc.hf_inputs(thin)


def test_fast_keeps_counts_and_measured_tolerance(reference):
    ip, _ = reference
    exact, fast = mmtok.ModelProcessor("chameleon"), mmtok.ModelProcessor("chameleon", fast=True)
    for photo in PHOTOS:
        assert fast.num_tokens(mmtok.Image(photo)) == 1024 == exact.num_tokens(mmtok.Image(photo))
    for photo in PHOTOS[:3]:  # small enough to decode whole: exact
        assert torch.equal(fast.hf_inputs(photo)["pixel_values"], exact.hf_inputs(photo)["pixel_values"])
    d = (fast.hf_inputs(BIG_JPEG)["pixel_values"] - _pixels(load_image(BIG_JPEG).pixels, ip)).abs()
    assert 0 < d.max().item() <= 0.15 and d.mean().item() <= 0.009  # measured 0.140, mean 0.0082 (no refinement scans)
