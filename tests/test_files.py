"""Files in the library (mmtok.File, pathlib.Path) and the errors a path can earn: each case gets its own message."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

import mmtok
from blocking import raises_without_blocking
from mmtok.errors import DecodeError, InputError
from mmtok.media.files import FileAsTextWarning

ROOT = Path(__file__).resolve().parent.parent
PHOTO, CLIP = ROOT / "assets/images/chelsea.png", ROOT / "assets/video/cityCC0.mpg"
SPEECH, TEXT = ROOT / "assets/audio/speech_ja.wav", ROOT / "assets/examples/multilingual.txt"


@pytest.fixture(scope="module")
def tok():
    return mmtok.MultimodalTokenizer.default()


@pytest.mark.parametrize("path, piece", [
    (PHOTO, mmtok.Image(PHOTO)), (CLIP, mmtok.Video(CLIP)), (SPEECH, mmtok.Audio(SPEECH)),
    (TEXT, TEXT.read_text(encoding="utf-8")),
])
def test_file_and_path_are_the_piece_their_content_is(tok, path, piece):
    """mmtok.File(p) and pathlib.Path(p) make the same ids as the explicit piece, in the tokenizer, a model
    processor's count and the budget."""
    want = tok([piece])
    for given in (mmtok.File(path), Path(path), mmtok.File(str(path))):
        got = tok([given])
        assert torch.equal(got.input_ids, want.input_ids)
        assert got.spans[1].meta.source == str(path)  # a text file's span names its file too
    model = "gemma-4"  # reads text, pictures, clips and sound
    proc = mmtok.ModelProcessor(model)
    assert proc.num_tokens(mmtok.File(path)) == proc.num_tokens(Path(path)) == proc.num_tokens(piece)
    rows = mmtok.budget([Path(path)], ["mmtok", model], tok)
    assert rows == mmtok.budget([piece], ["mmtok", model], tok)


def test_a_str_naming_a_file_stays_text_with_a_warning(tok):
    with pytest.warns(FileAsTextWarning, match=r"mmtok.File\(") as caught:
        seq = tok([str(PHOTO)])
    assert caught[0].filename == __file__  # points at the caller's line, not inside mmtok
    assert [s.modality.label for s in seq.spans][1:] == ["text"] and seq.spans[1].length == tok.text.num_tokens(
        str(PHOTO))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tok(["a plain sentence / not a file"])  # no warning for ordinary text
    with pytest.warns(FileAsTextWarning):
        mmtok.ModelProcessor("qwen2-vl").num_tokens(str(PHOTO))


def test_utf16_and_utf32_text_with_a_byte_order_mark_is_text(tmp_path, tok):
    text = "Grüße, 世界 — tokens\n"
    want = tok([text]).input_ids
    for codec, name in (("utf-16", "u16.txt"), ("utf-32", "u32.txt"), ("utf-8-sig", "u8bom.txt"),
                        ("utf-16-be", "be.txt")):
        data = text.encode(codec)
        if codec == "utf-16-be":
            data = b"\xfe\xff" + data
        (tmp_path / name).write_bytes(data)
        seq = tok([mmtok.File(tmp_path / name)])
        assert torch.equal(seq.input_ids, want), codec  # the byte-order mark is not part of the text


@pytest.mark.parametrize("piece", [mmtok.Image, mmtok.Video, mmtok.Audio, mmtok.File])
def test_a_path_that_is_not_a_regular_file_says_what_it_is(tmp_path, tok, piece):
    fifo, zero, folder = tmp_path / "pipe.wav", tmp_path / "zero.jpg", tmp_path / "a_folder.jpg"
    os.mkfifo(fifo)
    os.symlink("/dev/zero", zero)
    folder.mkdir()
    raises_without_blocking(lambda: tok([piece(fifo)]), InputError, r"pipe.wav is a FIFO \(named pipe\), not a "
                                                                     r"regular file")
    raises_without_blocking(lambda: tok([piece(zero)]), InputError, "zero.jpg is a character device")
    raises_without_blocking(lambda: tok([piece(folder)]), InputError, "a_folder.jpg is a folder")
    with pytest.raises(InputError, match="no such .*file: .*missing.jpg"):
        tok([piece(tmp_path / "missing.jpg")])


def test_a_picture_given_as_a_clip_or_a_sound_is_named_a_picture(tmp_path, tok):
    with pytest.raises(InputError, match=r"chelsea.png is a picture \(PNG\), not a clip; give it as mmtok.Image"):
        tok([mmtok.Video(PHOTO)])
    with pytest.raises(InputError, match=r"is a picture \(PNG\), not a sound"):
        tok([mmtok.Audio(PHOTO)])
    jpeg = tmp_path / "photo.jpg"
    PILImage.open(PHOTO).convert("RGB").save(jpeg)
    with pytest.raises(InputError, match=r"<\d+ bytes> is a picture \(JPEG\), not a clip"):
        mmtok.VideoTokenizer().encode(jpeg.read_bytes())
    frames = [PILImage.new("RGB", (32, 24), (40 * i, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    assert len(mmtok.VideoTokenizer().encode(tmp_path / "anim.gif").frames) > 0  # an animated GIF is a clip


def test_arrays_in_either_layout_and_errors_in_their_own_words():
    rgb = np.asarray(PILImage.open(PHOTO).convert("RGB"))  # (300, 451, 3)
    want = mmtok.ImageTokenizer().encode(rgb).patches
    for given in (torch.from_numpy(rgb), torch.from_numpy(rgb).permute(2, 0, 1), rgb.transpose(2, 0, 1)):
        assert torch.equal(mmtok.ImageTokenizer().encode(given).patches, want), tuple(given.shape)
    with pytest.raises(InputError, match=r"got shape \(100, 200, 5\)"):
        mmtok.ImageTokenizer().encode(torch.zeros(100, 200, 5, dtype=torch.uint8))
    with pytest.raises(InputError, match="got numpy int16; divide int16 audio by 32768"):
        mmtok.AudioTokenizer().encode(np.zeros(1600, np.int16), sample_rate=16000)
    with pytest.raises(DecodeError, match="empty"):
        mmtok.ImageTokenizer().encode(b"")
