"""A newcomer's first hour (issue 22): settings by keyword, every tokenizer built with no arguments, reprs that
show the config, decoded contents that save themselves."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

import mmtok
from mmtok.errors import ConfigError
from mmtok.media.audioio import stream_audio
from mmtok.media.contents import DecodedAudio, DecodedImage, DecodedVideo

ROOT = Path(__file__).resolve().parent.parent
PHOTO, CLIP = ROOT / "assets/images/chelsea.png", ROOT / "assets/video/cityCC0.mpg"


def test_settings_by_keyword_land_in_their_configs():
    tok = mmtok.MultimodalTokenizer.default(max_length=500, num_frames=4, image_size=112, audio_preset="whisper-80")
    lay = tok.layout
    assert (lay.name, lay.max_length, lay.video.num_frames, lay.image.size, lay.video.image.size,
            lay.audio.preset) == ("gemini-like", 500, 4, 112, 112, "whisper-80")
    seq = tok(["a", mmtok.Image(PHOTO), mmtok.Video(CLIP)])
    assert seq.max_length == 500
    assert [s.length for s in seq.spans[2:]] == [2 + 7 * 7, 2 + 4 * (2 + 7 * 7)]  # 112 px: 7x7 patches, 4 frames
    assert mmtok.MultimodalTokenizer.default("dynamic").layout == mmtok.LAYOUTS["dynamic"]
    assert mmtok.MultimodalTokenizer.default().layout == mmtok.LAYOUTS["gemini-like"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(layout="gemini"), "unknown layout 'gemini'; use one of: gemini-like"),
    (dict(max_length=0), "max_length must be a positive int"),
    (dict(max_length=1.5), "max_length must be a positive int"),
    (dict(num_frames=0), "num_frames must be a positive int"),
    (dict(image_size=100), "ImageConfig.size=100 is not a multiple of patch_size=16"),
    (dict(layout="tiles", image_size=256), "layout 'tiles' resizes pictures by 'tiles'"),
    (dict(audio_preset="usm"), "unknown audio preset 'usm'; use one of"),
])
def test_bad_settings_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        mmtok.MultimodalTokenizer.default(**kwargs)
    with pytest.raises(TypeError):
        mmtok.MultimodalTokenizer.default(frames=8)  # keywords only, no typo passes


@pytest.mark.parametrize("cls", [mmtok.TextTokenizer, mmtok.ImageTokenizer, mmtok.VideoTokenizer,
                                 mmtok.AudioTokenizer, mmtok.VQImageTokenizer, mmtok.MultimodalTokenizer])
def test_every_tokenizer_is_built_with_no_arguments_and_with_default(cls):
    a, b = cls(), cls.default()
    assert type(a) is type(b) is cls and repr(a) == repr(b)
    assert f"{cls.__name__}(" in repr(a) and " object at 0x" not in repr(a) and len(repr(a)) < 300


def test_reprs_show_what_differs_from_the_defaults():
    assert repr(mmtok.ImageTokenizer()) == "ImageTokenizer(ImageConfig())"
    assert repr(mmtok.ImageTokenizer(mmtok.ImageConfig(resize="dynamic", max_tokens=64))) == \
        "ImageTokenizer(ImageConfig(resize='dynamic', max_tokens=64))"
    assert repr(mmtok.VideoTokenizer(mmtok.VideoConfig(num_frames=8))) == "VideoTokenizer(VideoConfig(num_frames=8))"
    tok = mmtok.MultimodalTokenizer.default(num_frames=8)
    assert "layout='gemini-like'" in repr(tok) and "num_frames=8" in repr(tok)
    text = mmtok.TextTokenizer()
    assert repr(text) == f"TextTokenizer(source='mmtok-text-32k.model', vocab_size=32768, model_id={text.model_id!r})"
    assert "weights='vq-f8-4096.safetensors'" in repr(mmtok.VQImageTokenizer())
    assert "none (layout only)" in repr(mmtok.VQImageTokenizer.without_weights())


def test_decoded_contents_save_themselves(tmp_path):
    rgb = torch.from_numpy(np.asarray(PILImage.open(PHOTO).convert("RGB"))).permute(2, 0, 1).contiguous()
    p = DecodedImage(rgb, "patches").save(tmp_path / "x.png")
    assert torch.equal(torch.from_numpy(np.asarray(PILImage.open(p))).permute(2, 0, 1), rgb)
    t = torch.linspace(0, 1, 16000)
    wave = 0.5 * torch.sin(2 * torch.pi * 440 * t)
    w = DecodedAudio(wave, 16000).save(tmp_path / "x.wav")
    back = np.concatenate(list(stream_audio(w, target_rate=16000, sample_rate=None, max_duration=10,
                                            chunk_seconds=30)))
    assert len(back) == 16000 and np.abs(np.asarray(back) - wave.numpy()).max() < 1 / 32767 + 1e-6
    with pytest.warns(UserWarning, match="2 of 3 samples lie beyond full scale"):
        DecodedAudio(torch.tensor([1.5, 0.0, -2.0]), 16000).save(tmp_path / "loud.wav")
    v = DecodedVideo(rgb[None].repeat(2, 1, 1, 1), [0.0, 0.5], audio=wave).save(tmp_path / "clip")
    assert sorted(f.name for f in v.iterdir()) == ["audio.wav", "frame_00.png", "frame_01.png", "timestamps.json"]
    assert json.loads((v / "timestamps.json").read_text()) == [0.0, 0.5]


def test_a_sequence_prints_short_and_its_table_is_public():
    """repr(seq): length, context share, spans by modality — short however many spans (it was 8,466 characters
    for a 405-token prompt); seq.table() is the table the CLI prints."""
    tok = mmtok.MultimodalTokenizer.default()
    pieces = []
    for k in range(40):
        pieces += [f"picture {k}: ", mmtok.Image(PHOTO)]
    seq = tok(pieces + [mmtok.Video(CLIP)])
    text = repr(seq)
    assert text.startswith(f"TokenSequence({len(seq):,} tokens, ") and len(text) < 400, text
    n_text = sum(s.modality.label == "text" for s in seq.spans)
    assert f"text {n_text} (" in text and "image 40 (7,920)" in text and "video 1 (3,170)" in text
    table = seq.table().splitlines()
    assert table[0].split() == ["#", "modality", "tokens", "shape", "seconds", "source"]
    assert len(table) == len(seq.spans) + 2 and table[-1].startswith(f"total: {len(seq):,} tokens")
    from mmtok.cli import summary_table

    assert summary_table(seq) == seq.table()


def test_one_default_audio_preset_everywhere():
    """AudioTokenizer(), AudioConfig(), log_mel() and the default layout read audio with one front end (usm-128),
    and a round trip says in which units its mel distances are."""
    assert mmtok.AudioTokenizer().config == mmtok.AudioConfig() == mmtok.MultimodalTokenizer().layout.audio
    assert mmtok.AudioConfig().preset == mmtok.audio.DEFAULT_PRESET == "usm-128"
    wave = torch.from_numpy(np.concatenate(list(stream_audio(ROOT / "assets/audio/speech_en.wav", target_rate=16000,
                                                             sample_rate=None, max_duration=60, chunk_seconds=30))))
    tokens = mmtok.AudioTokenizer().encode(wave, sample_rate=16000)
    assert torch.equal(tokens.features, mmtok.log_mel(wave)) and tokens.features.shape[1] == 128
    seq = mmtok.MultimodalTokenizer()([mmtok.Audio(wave, sample_rate=16000)])
    assert torch.equal(seq.features["audio"], tokens.rows)
    report = mmtok.AudioTokenizer().roundtrip(tokens)
    assert report["units"] == "natural log of mel magnitude"


def test_one_name_for_feature_rows_and_torch_outputs(vocab):
    """``rows`` is what a sequence holds for every token type; the library's arrays are torch tensors
    (``sample_frames`` too, like ``VideoTokens.timestamps``); ``vocab`` is an attribute on both tokenizers."""
    image = mmtok.ImageTokenizer().encode(PHOTO)
    video = mmtok.VideoTokenizer(mmtok.VideoConfig(num_frames=2)).encode(CLIP)
    audio = mmtok.AudioTokenizer().encode(ROOT / "assets/audio/speech_en.wav")
    for tokens, tok, label in ((image, mmtok.ImageTokenizer(), "image"),
                               (video, mmtok.VideoTokenizer(mmtok.VideoConfig(num_frames=2)), "video"),
                               (audio, mmtok.AudioTokenizer(), "audio")):
        seq = mmtok.pack([tok.segment(tokens, vocab)], vocab)
        assert torch.equal(seq.features[label], tokens.rows), label
    frames, seconds = mmtok.sample_frames(CLIP, 2)
    assert isinstance(frames, torch.Tensor) and frames.dtype == torch.uint8 and frames.shape[0] == 2
    assert isinstance(seconds, torch.Tensor) and torch.equal(seconds, video.timestamps)
    text = mmtok.TextTokenizer()
    assert text.vocab == mmtok.MultimodalTokenizer().vocab == text.make_vocab()
    assert text.make_vocab(image_codes=8).image_codes == 8
