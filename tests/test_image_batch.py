"""ImageTokenizer.encode_batch: each picture exactly as encode, on parallel threads of one torch thread each."""

import threading

import pytest
import torch

from blocking import raises_without_blocking
from images import PHOTOS, gradient
from mmtok import ImageConfig, ImageTokenizer
from mmtok.errors import ConfigError, DecodeError

ROCKET = next(p for p in PHOTOS if p.name == "rocket.jpg")
TOKS = [ImageTokenizer(c) for c in (ImageConfig(), ImageConfig(aspect="crop"), ImageConfig(aspect="pad"),
                                    ImageConfig(resize="dynamic"), ImageConfig(resize="tiles"))]


@pytest.mark.parametrize("threads", [None, 1, 3])
def test_batch_equals_one_at_a_time(threads):
    for tok in TOKS:
        srcs = [PHOTOS[0], ROCKET, gradient(50, 30), ROCKET.read_bytes(), PHOTOS[0]]
        got = tok.encode_batch(srcs, threads=threads)
        assert len(got) == len(srcs)
        for a, b in zip(got, [tok.encode(s) for s in srcs]):
            assert torch.equal(a.patches, b.patches) and a.grid == b.grid and a.original_size == b.original_size
            assert a.source == b.source


def test_batch_runs_on_parallel_threads_of_one_torch_thread_each(monkeypatch):
    """Two pictures are tokenized at the same time (a barrier for two: a serial batch breaks it), each worker runs
    torch on one thread, and the caller's count comes back; an error is the first failing item's typed error."""
    barrier, seen = threading.Barrier(2, timeout=20), []
    real = ImageTokenizer.tokenize_views

    def spy(self, *a):
        seen.append((threading.get_ident(), torch.get_num_threads()))
        barrier.wait()
        return real(self, *a)

    monkeypatch.setattr(ImageTokenizer, "tokenize_views", spy)
    before = torch.get_num_threads()
    ImageTokenizer().encode_batch([PHOTOS[0], PHOTOS[1]], threads=2)
    assert len({t for t, _ in seen}) == 2 and all(n == 1 for _, n in seen)
    assert torch.get_num_threads() == before
    monkeypatch.setattr(ImageTokenizer, "tokenize_views", real)
    with pytest.raises(DecodeError, match="not an image"):
        ImageTokenizer().encode_batch([PHOTOS[0], b"\x00garbage" * 10, b""], threads=2)
    assert torch.get_num_threads() == before
    with pytest.raises(ConfigError, match="threads"):
        ImageTokenizer().encode_batch([PHOTOS[0]], threads=0)


def test_a_jpeg_as_a_memoryview_or_bytearray_is_the_jpeg_and_a_fifo_path_is_named(tmp_path):
    """The plain-JPEG path (no PIL header parse) takes every bytes-like input PIL's path takes (here one with an
    EXIF orientation, whose block the header walk reads), and a path that is not a regular file is refused by name
    before anything opens it (opening a FIFO would block)."""
    import io
    import os

    from PIL import Image

    from mmtok.errors import InputError

    im = Image.open(ROCKET)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=exif)
    data = buf.getvalue()
    tok = ImageTokenizer()
    want = tok.encode(data)
    assert want.original_size == (im.width, im.height)  # (height, width) after the EXIF turn
    for given in (memoryview(data), bytearray(data)):
        assert torch.equal(tok.encode(given).patches, want.patches), type(given)
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    raises_without_blocking(lambda: tok.encode(fifo), InputError, "pipe.jpg is a FIFO")
