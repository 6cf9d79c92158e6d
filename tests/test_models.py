"""mmtok.models against the transformers processors themselves.

The reference processors are built from their classes with each model's published preprocessing values, written out
on their own in tests/published.py (not read from mmtok), so a wrong constant in mmtok fails the comparison; nothing
is downloaded. Properties: counts and grids equal the processor's over several hundred sizes, the edge cases and
each model's limits; the pictures the processor refuses are refused; ``pixel_values`` equal on the bundled photos
and on noise pictures; the whole processor call (text + images, with a small local tokenizer carrying Qwen's special
tokens) gives the same tensors; THE count is the number of placeholders ``hf_inputs`` writes.
"""

import ast
import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from PIL import ImageOps
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast, Qwen2VLImageProcessor
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as hf_smart_resize

import mmtok
import published
from local_tokenizers import word_tokenizer
from mmtok.errors import ConfigError, InputError, UnknownNameError
from mmtok.models.base import as_pieces
from mmtok.models.qwen import QWEN2_VL, QwenVLProcessor

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "assets" / "images").glob("*.png")) + sorted((ROOT / "assets" / "images").glob("*.jpg"))
QWEN = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")


@pytest.fixture(scope="module", params=QWEN)
def qwen(request):
    """(name, transformers image processor, mmtok ModelProcessor) of one Qwen-VL model."""
    name = request.param
    return name, published.qwen_image(name), mmtok.ModelProcessor(name)


@pytest.fixture(scope="module")
def hf_tokenizer():
    """A tiny word-level tokenizer with Qwen's vision tokens as special tokens (built here, nothing downloaded)."""
    return word_tokenizer(["Describe", "this", "picture", "and", "that", ".", ":"], published.QWEN_SPECIALS)


def _sizes() -> list[tuple[int, int]]:
    """(height, width): edge cases, rounding ties, both models' limits, and log-uniform sizes up to 20000 pixels."""
    edge = [(1, 1), (1, 2), (2, 1), (1, 200), (200, 1), (2, 400), (400, 2), (1, 199), (3, 3), (7, 5), (13, 14),
            (14, 14), (15, 16), (16, 16), (27, 28), (28, 28), (29, 28), (31, 33), (32, 32), (55, 57), (56, 56),
            (57, 57), (63, 64), (64, 64), (255, 257), (256, 256), (257, 255), (10, 2000), (2000, 10)]
    ties = [(k * f + f // 2, j * f + f // 2) for f in (28, 32) for k in (0, 1, 2, 5, 40) for j in (1, 3, 60)]
    limits = [(3584, 3584), (3585, 3584), (3584, 3612), (3583, 3585), (4096, 4096), (4097, 4096), (4096, 4112),
              (4095, 4097), (1792, 7168), (7168, 1792), (2048, 8192), (8192, 2048), (20000, 20000), (100, 20000),
              (20000, 100), (12000, 9000), (5312, 2988), (2988, 5312)]
    rng = np.random.default_rng(19)
    rand = []
    while len(rand) < 240:
        h, w = (int(v) for v in np.exp(rng.uniform(0, math.log(20000), 2)).round().clip(1))
        if max(h, w) / min(h, w) <= 200:
            rand.append((h, w))
    return edge + ties + limits + rand


SIZES = _sizes()
REFUSED = [(1, 10000), (10000, 1), (1, 201), (201, 1), (10, 2001), (5000, 10), (3, 700)]


def test_registry_names_and_errors():
    assert set(QWEN) <= set(mmtok.list_models())
    assert all(name in mmtok.models.MODELS for name in QWEN)
    with pytest.raises(UnknownNameError, match="qwen2-vl"):
        mmtok.ModelProcessor("qwen9-vl")
    with pytest.raises(ConfigError, match="fast"):
        mmtok.ModelProcessor("qwen2-vl", fast="yes")
    with pytest.raises(ConfigError, match="tokenizer"):
        mmtok.ModelProcessor("qwen2-vl", tokenizer="tokenizer.json")
    assert len(SIZES) >= 300


def test_the_published_values_stand_apart_from_mmtok():
    """tests/published.py, the reference side of every test_models* comparison, imports transformers only: a value
    taken from mmtok there would make a wrong constant compare equal to itself."""
    tree = ast.parse(Path(published.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "." for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {name.split(".")[0] for name in names} == {"__future__", "transformers"}, names


def test_counts_and_grids_equal_the_processor(qwen):
    """THE count and the grid, from the size alone, equal transformers' smart_resize and its patch count."""
    name, ip, proc = qwen
    p, m = ip.patch_size, ip.merge_size
    for h, w in SIZES:
        rh, rw = hf_smart_resize(h, w, factor=p * m, min_pixels=ip.size["shortest_edge"],
                                 max_pixels=ip.size["longest_edge"])
        grid = mmtok.models.qwen.image_grid(proc.spec.config, h, w)
        assert grid == (1, rh // p, rw // p), (name, h, w)
        n = ip.get_number_of_image_patches(h, w, {}) // m**2
        assert proc.num_tokens((h, w)) == n, (name, h, w)
        assert proc.segment_length((h, w)) == n + 2


def test_limits(qwen):
    """Each model's token range: 4..16384 (Qwen2/2.5-VL) or 64..16384 (Qwen3-VL), reached at 1x1 and at large
    pictures; the published max_pixels (not the class default 28*28*1280) decides the large ones."""
    name, ip, proc = qwen
    small = 4 if name != "qwen3-vl" else 64
    assert proc.num_tokens((1, 1)) == small == ip.get_number_of_image_patches(1, 1, {}) // 4
    assert max(proc.num_tokens(s) for s in SIZES) == 16384
    side = 3584 if name != "qwen3-vl" else 4096  # sqrt(max_pixels): exactly at the limit, kept as is
    assert proc.num_tokens((side, side)) == 16384
    assert proc.num_tokens((side + 1, side)) == 16384  # rounds back to the limit
    assert proc.num_tokens((side + 2 * ip.patch_size, side)) < 16384  # one merged row more: shrunk to fit
    assert proc.num_tokens((2000, 2000)) > 1280  # over the class default's cap: the published values are in use


def test_refused_as_the_processor_refuses(qwen):
    """Aspect ratio over 200: transformers raises ValueError; mmtok raises an InputError naming model and rule."""
    name, ip, proc = qwen
    for h, w in REFUSED:
        with pytest.raises(ValueError, match="aspect ratio"):
            ip.get_number_of_image_patches(h, w, {})
        with pytest.raises(InputError, match=rf"{name} refuses a {w}x{h} picture.*over 200"):
            proc.num_tokens((h, w))
    for h, w in [(1, 10000), (10000, 1)]:  # the real pictures, through the whole call
        picture = np.zeros((h, w, 3), dtype=np.uint8)
        with pytest.raises(ValueError, match="aspect ratio"):
            ip(images=[PILImage.fromarray(picture)], return_tensors="pt")
        with pytest.raises(InputError, match=name):
            proc.hf_inputs(mmtok.Image(picture))
    assert proc.num_tokens((1, 200)) == ip.get_number_of_image_patches(1, 200, {}) // 4  # 200 itself is taken


NOISE_SIZES = [(1, 1), (1, 2), (2, 1), (1, 200), (200, 1), (3, 7), (14, 14), (27, 29), (55, 57), (56, 56),
               (100, 3), (255, 257), (300, 451), (333, 500), (224, 224), (480, 640), (17, 1900), (700, 260)]


@pytest.mark.parametrize("h,w", NOISE_SIZES)
def test_pixel_values_on_noise(qwen, h, w):
    """Random noise (the hardest picture for a resize filter), from 1x1 up: same grid, same pixel values."""
    name, ip, proc = qwen
    picture = np.random.default_rng(h * 10007 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    ref = ip(images=[PILImage.fromarray(picture)], return_tensors="pt")
    ours = proc.hf_inputs(mmtok.Image(picture))
    assert torch.equal(ours["image_grid_thw"], ref["image_grid_thw"])
    assert ours["pixel_values"].dtype == torch.float32 and ours["pixel_values"].shape == ref["pixel_values"].shape
    assert (ours["pixel_values"] - ref["pixel_values"]).abs().max().item() <= 1e-5  # measured: 0.0
    assert proc.num_tokens((h, w)) == int(ours["mm_token_type_ids"].sum())


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_pixel_values_on_the_bundled_photos(qwen, photo):
    """The bundled photos (PNG and JPEG, up to 5312x2988), decoded as a user would hand them to transformers."""
    name, ip, proc = qwen
    picture = ImageOps.exif_transpose(PILImage.open(photo)).convert("RGB")
    ref = ip(images=[picture], return_tensors="pt")
    ours = proc.hf_inputs(mmtok.Image(photo))
    assert torch.equal(ours["image_grid_thw"], ref["image_grid_thw"])
    assert ours["pixel_values"].shape == ref["pixel_values"].shape
    assert (ours["pixel_values"] - ref["pixel_values"]).abs().max().item() <= 1e-5  # measured: 0.0
    assert proc.num_tokens(mmtok.Image(photo)) == int(ref["image_grid_thw"].prod()) // 4


def test_the_whole_processor_call(qwen, hf_tokenizer):
    """Text + two pictures through the model's own processor class and a local tokenizer: every key, every value."""
    name, ip, _ = qwen
    processor_cls, video_cls = published.qwen_classes(name)  # no clip: the video processor's class defaults
    hf = processor_cls(image_processor=ip, tokenizer=hf_tokenizer, video_processor=video_cls())
    a, b = PHOTOS[1], PHOTOS[3]  # chelsea.png, rocket.jpg
    image = "<|vision_start|><|image_pad|><|vision_end|>"
    ref = hf(text=[f"Describe this {image} and that {image}."],
             images=[PILImage.open(a).convert("RGB"), PILImage.open(b).convert("RGB")], return_tensors="pt")
    proc = mmtok.ModelProcessor(name, tokenizer=hf_tokenizer)
    ours = proc.hf_inputs(["Describe this ", mmtok.Image(a), " and that ", mmtok.Image(b), "."])
    assert sorted(ours) == sorted(ref)
    for key in ref:
        assert ours[key].dtype == ref[key].dtype and torch.equal(ours[key], ref[key]), key
    pads = int((ours["input_ids"] == hf_tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum())
    assert pads == proc.num_tokens(mmtok.Image(a)) + proc.num_tokens(mmtok.Image(b))
    assert proc.num_tokens("Describe this picture") == 3


def test_default_text_ids(text_tok):
    """Without a tokenizer: mmtok's SentencePiece ids for text, the model's markers right after its pieces."""
    proc = mmtok.ModelProcessor("qwen3-vl")
    out = proc.hf_inputs(["Describe: ", mmtok.Image(PHOTOS[1])])
    n = proc.num_tokens(mmtok.Image(PHOTOS[1]))
    text = text_tok.encode("Describe: ")
    start, end, pad = (text_tok.vocab_size + i for i in range(3))
    assert out["input_ids"][0].tolist() == text + [start] + [pad] * n + [end]
    assert out["attention_mask"].sum() == out["input_ids"].shape[1] and out["mm_token_type_ids"].sum() == n
    assert proc.segment_length(mmtok.Image(PHOTOS[1])) == n + 2
    assert proc.num_tokens("Describe: ") == len(text)
    assert set(proc.hf_inputs("just text")) == {"input_ids", "attention_mask", "mm_token_type_ids"}


def test_pieces_the_model_does_not_take(hf_tokenizer):
    proc = mmtok.ModelProcessor("qwen2-vl")
    with pytest.raises(InputError, match="qwen2-vl takes no audio"):
        proc.num_tokens(mmtok.Audio("speech.wav"))
    with pytest.raises(InputError, match="takes no audio"):  # clips are read (test_models_qwen_video.py), sound not
        proc.hf_inputs([mmtok.Video("clip.mp4", audio=True)])
    with pytest.raises(InputError, match="VQ codes"):
        proc.num_tokens(mmtok.Image(PHOTOS[0], as_="codes"))
    with pytest.raises(InputError, match="not only its size"):
        proc.hf_inputs([(300, 400)])
    with pytest.raises(InputError, match="height, width"):
        proc.num_tokens((0, 5))
    with pytest.raises(InputError, match="empty"):
        proc.hf_inputs([])
    with pytest.raises(InputError, match="marker"):
        mmtok.ModelProcessor("qwen2-vl", tokenizer=hf_tokenizer).hf_inputs("this <|image_pad|>")
    bare = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]")))
    with pytest.raises(ConfigError, match=re.escape("no <|vision_start|>")):
        mmtok.ModelProcessor("qwen2-vl", tokenizer=bare)


def test_fast_keeps_counts_and_grids():
    """fast=True decodes a progressive JPEG without its refinement scans (mmtok.media.jpeg_scans, drop="all") and,
    when the resized picture is at most half its size, at a reduced DCT scale. At the published limits the
    5312x2988 photo keeps its scale: same grid, pixel values within 0.59 (max abs, measured 0.583; mean 0.0265) of
    the processor's on the normalized scale; at the class default max_pixels (28*28*1280) it decodes at 1/2 scale:
    within 0.56 (measured 0.555; mean 0.0190). The baseline JPEG is exact either way."""
    cfg = dataclasses.replace(QWEN2_VL, max_pixels=28 * 28 * 1280)
    photo = PHOTOS[-1]
    ref = Qwen2VLImageProcessor()(images=[PILImage.open(photo).convert("RGB")], return_tensors="pt")
    fast = QwenVLProcessor(cfg, fast=True).hf_inputs(as_pieces(mmtok.Image(photo)))
    assert torch.equal(fast["image_grid_thw"], ref["image_grid_thw"])
    diff = (fast["pixel_values"] - ref["pixel_values"]).abs()
    assert 0 < diff.max().item() <= 0.56 and diff.mean().item() <= 0.02
    got = mmtok.ModelProcessor("qwen2-vl", fast=True).hf_inputs(mmtok.Image(photo))
    exact = mmtok.ModelProcessor("qwen2-vl").hf_inputs(mmtok.Image(photo))
    assert torch.equal(got["image_grid_thw"], exact["image_grid_thw"])
    diff = (got["pixel_values"] - exact["pixel_values"]).abs()
    assert 0 < diff.max().item() <= 0.59 and diff.mean().item() <= 0.028
    baseline = PHOTOS[-2]  # rocket.jpg, a baseline JPEG small enough to keep its scale
    assert torch.equal(mmtok.ModelProcessor("qwen2-vl", fast=True).hf_inputs(mmtok.Image(baseline))["pixel_values"],
                       mmtok.ModelProcessor("qwen2-vl").hf_inputs(mmtok.Image(baseline))["pixel_values"])
