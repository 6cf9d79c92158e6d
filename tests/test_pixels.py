"""mmtok.models.pixels.normalized: the processors' float32 rescale-and-normalize, written block by block into one
buffer on Python threads, bit for bit the plain formula (no tolerance)."""

from __future__ import annotations

import pytest
import torch

from mmtok.models import pixels

GEMMA = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1 / 255)
CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711), 1 / 255)
CHAMELEON = ((1.0, 1.0, 1.0), (1.0, 1.0, 1.0), 0.0078)


def _pictures(n: int, h: int, w: int, channels_last: bool) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(n * 1000 + h)
    x = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=g)
    if channels_last:  # decoded pictures and their resize are laid out so
        x = x.contiguous(memory_format=torch.channels_last)
    return list(x)


@pytest.mark.parametrize(("mean", "std", "rescale"), [GEMMA, CLIP, CHAMELEON])
@pytest.mark.parametrize(("n", "h", "w"), [(1, 896, 896), (3, 64, 40), (2, 300, 5000), (1, 4, 20000)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("torch_threads", [1, 2])
def test_normalized_equals_the_formula(mean, std, rescale, n, h, w, channels_last, torch_threads, monkeypatch):
    monkeypatch.setattr(pixels, "BLOCK", 1 << 14)  # several blocks per channel, and one row wider than a block
    pics = _pictures(n, h, w, channels_last)
    before = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        got = pixels.normalized(pics, mean, std, rescale)
        assert torch.get_num_threads() == torch_threads
    finally:
        torch.set_num_threads(before)
    m = (torch.tensor(mean) * (1.0 / rescale)).view(-1, 1, 1)
    s = (torch.tensor(std) * (1.0 / rescale)).view(-1, 1, 1)
    want = torch.stack([(x.to(torch.float32) - m) / s for x in pics])
    assert got.dtype == torch.float32 and got.is_contiguous() and torch.equal(got, want)


@pytest.mark.parametrize("rescale", [1 / 255, 0.0078])
def test_rescale_only_equals_the_formula(rescale):
    pics = _pictures(2, 768, 768, True)
    got = pixels.normalized(pics, (), None, rescale)
    assert torch.equal(got, torch.stack([x * rescale for x in pics]))


def test_no_pictures_is_an_error():
    with pytest.raises(ValueError, match="at least one picture"):
        pixels.normalized([], (), None, 1 / 255)
