"""mmtok.multimodal.pictures draws what tokenization did; the pictures have the right sizes and mark what they claim."""

import numpy as np
import pytest
import torch

import mmtok
from mmtok import ImageConfig
from mmtok.multimodal import pictures


def test_patch_grid_outlines_and_highlights():
    img = torch.zeros(3, 32, 48, dtype=torch.uint8)
    boxes = torch.tensor([[0, 0, 16, 16], [16, 0, 32, 16], [float("nan")] * 4], dtype=torch.float64)
    out = np.asarray(pictures.patch_grid(img, boxes, torch.tensor([False, True, False])))
    assert out.shape == (32, 48, 3)
    assert out[8, 24].sum() > 0 and out[8, 8].sum() == 0  # inside the highlighted box filled, the other not
    assert out[0, 0].sum() > 0  # outlines drawn
    assert out[24, 40].sum() == 0  # outside every box untouched


CHELSEA = "assets/images/chelsea.png"  # 451 x 300


@pytest.mark.parametrize("config", [ImageConfig(resize="dynamic"), ImageConfig(), ImageConfig(aspect="pad"),
                                    ImageConfig(aspect="crop"), ImageConfig(resize="tiles")],
                         ids=["dynamic", "fixed-squash", "fixed-pad", "fixed-crop", "tiles"])
def test_image_boxes_from_the_tokenizer_cover_the_original(config):
    """patch_grid of the tokenizer's boxes, every box filled, covers every pixel of the part of the photo each view
    shows exactly once: no gap, no overlap (all of it, or for fixed-crop the centred 300 x 300 square).

    Each view's boxes are drawn in four calls, one per (row, column) parity, so that two neighbouring boxes are
    never drawn by the same call: a pixel two boxes cover is counted twice, one none covers is counted zero times.
    """
    tok = mmtok.ImageTokenizer(config)
    tokens = tok.encode(CHELSEA)
    boxes = tok.patch_boxes(tokens)
    black = torch.zeros(3, 300, 451, dtype=torch.uint8)
    assert pictures.patch_grid(black, boxes).size == (451, 300)
    want = np.ones((300, 451), np.int64)
    if config.aspect == "crop":  # the centred square of side 300: columns (451 - 300) // 2 = 75 .. 374
        want[:, :75] = want[:, 375:] = 0
    start = 0
    for view in tokens.plan.views:
        rows, cols = view.canvas[0] // 16, view.canvas[1] // 16
        assert view.tiles == (1, 1)  # one block per view: the boxes are row-major
        r, c = np.divmod(np.arange(rows * cols), cols)
        vb = boxes[start:start + rows * cols]
        start += rows * cols
        count = np.zeros((300, 451), np.int64)
        for parity in [(0, 0), (0, 1), (1, 0), (1, 1)]:
            lit = torch.from_numpy((r % 2 == parity[0]) & (c % 2 == parity[1]))
            drawn = pictures.patch_grid(black, vb[lit], torch.ones(int(lit.sum()), dtype=torch.bool))
            count += np.asarray(drawn).any(-1)
        assert np.array_equal(count, want), f"pixels covered 0/1/2 times: {np.bincount(count.ravel(), minlength=3)}"
    assert start == len(boxes)


def test_frame_strip_waveform_mel_and_code_map():
    frames = torch.randint(0, 255, (16, 3, 90, 160), dtype=torch.uint8)
    strip = pictures.frame_strip(frames, [i / 2 for i in range(16)], [196] * 16, highlight=3)
    assert strip.size == (8 * 164, 2 * (90 + 22))
    wave = torch.sin(torch.arange(16000) / 10.0)
    assert pictures.waveform(wave, 16000, span=(0.25, 0.5)).size == (900, 140)
    mel = pictures.mel_picture(torch.randn(400, 128), stack=4, highlight=(10, 20))
    assert mel.size == (400, 256)
    codes = torch.tensor([[0, 1], [1, 4095]])
    cmap = np.asarray(pictures.code_map(codes, cell=4))
    assert cmap.shape == (8, 8, 3)
    assert (cmap[0, 4] == cmap[4, 0]).all() and not (cmap[0, 0] == cmap[0, 4]).all()  # same code, same colour


def test_timeline_one_entry_per_span():
    tok = mmtok.MultimodalTokenizer("gemini-like")
    seq = tok.encode(["hello", mmtok.Image("assets/images/chelsea.png")])
    tl = pictures.timeline(seq)
    assert [m for _, m in tl] == ["control", "text", "image"]
    assert tl[2][0] == f"image · {seq.spans[2].length}"
