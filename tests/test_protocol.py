"""The one face of every modality (mmtok.ModalityTokenizer): each tokenizer satisfies it, segment and
from_segment are exact inverses, provenance dispatches through it, and the registry helper behaves."""

import dataclasses
from pathlib import Path

import pytest
import torch

import mmtok
from mmtok.core.registry import Registry
from mmtok.errors import ConfigError, UnknownNameError

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "assets/images/chelsea.png"
SPEECH = ROOT / "assets/audio/speech_en.wav"


def _same(a, b) -> bool:
    """Field-by-field equality of token dataclasses (tensors bit for bit, nested tokens too)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from videos import make_clip

    path = tmp_path_factory.mktemp("clip") / "c.mp4"
    make_clip(path, "mp4", n=20)
    return path


def cases(clip):
    small = mmtok.ImageConfig(size=64)
    text = mmtok.TextTokenizer.default()
    yield text, text.encode("Hello, wörld ▁ 🙂")
    for cfg in (small, mmtok.ImageConfig(resize="tiles", tile_side=32), mmtok.ImageConfig(resize="dynamic",
                                                                                           max_tokens=20)):
        image = mmtok.ImageTokenizer(cfg)
        yield image, image.encode(PHOTO)
    video = mmtok.VideoTokenizer(mmtok.VideoConfig(num_frames=3, image=small))
    yield video, video.encode(clip)
    audio = mmtok.AudioTokenizer()
    yield audio, audio.encode(SPEECH)
    vq = mmtok.VQImageTokenizer.default().at_size(64)
    yield vq, vq.encode(PHOTO)


def test_every_tokenizer_satisfies_the_protocol_and_inverts_its_segment(clip):
    seen = set()
    for tok, tokens in cases(clip):
        seen.add(type(tok).__name__)
        assert isinstance(tok, mmtok.ModalityTokenizer), type(tok)
        seg = tok.segment(tokens)
        assert isinstance(seg, mmtok.Segment)
        back = tok.from_segment(seg)
        assert _same(back, tokens), type(tok)
        assert tok.segment(back) == seg  # and once more
        for i in (0, len(seg) // 2, -1):
            row = tok.provenance(seg, i)
            assert isinstance(row, dict)
    assert seen == {"TextTokenizer", "ImageTokenizer", "VideoTokenizer", "AudioTokenizer", "VQImageTokenizer"}


def test_segment_length_is_the_segment(clip):
    text, image, video, audio, vq = (mmtok.TextTokenizer.default(), mmtok.ImageTokenizer(),
                                     mmtok.VideoTokenizer(mmtok.VideoConfig(num_frames=3)), mmtok.AudioTokenizer(),
                                     mmtok.VQImageTokenizer.without_weights())
    assert text.segment_length("a b c") == len(text.segment(text.encode("a b c")))
    t = image.encode(PHOTO)
    assert image.segment_length(*t.original_size) == len(image.segment(t))
    v = video.encode(clip)
    assert video.segment_length(*v.frames[0].original_size) == len(video.segment(v))
    a = audio.encode(SPEECH)
    assert audio.segment_length(a.duration) == len(audio.segment(a))
    assert vq.segment_length(300, 451) == len(vq.segment(torch.zeros(32, 32, dtype=torch.long)))


def test_not_a_tokenizer():
    assert not isinstance(object(), mmtok.ModalityTokenizer)
    assert not isinstance(mmtok.MultimodalTokenizer.default(), mmtok.ModalityTokenizer)


def test_a_wrong_config_object_is_a_config_error():
    for cls in (mmtok.ImageTokenizer, mmtok.VideoTokenizer, mmtok.AudioTokenizer):
        with pytest.raises(ConfigError, match="config must be"):
            cls(object())


def test_from_segment_refuses_another_modality_or_config():
    image = mmtok.ImageTokenizer()
    seg = image.segment(image.encode(PHOTO))
    with pytest.raises(mmtok.SequenceError, match="another ImageConfig"):
        mmtok.ImageTokenizer(mmtok.ImageConfig(size=64)).from_segment(seg)
    with pytest.raises(mmtok.SequenceError, match="expected an audio segment"):
        mmtok.AudioTokenizer().from_segment(seg)


def test_provenance_dispatches_through_the_protocol(clip):
    """A sequence's provenance equals what each segment's own tokenizer says (core imports no modality)."""
    tok = mmtok.MultimodalTokenizer.default()
    seq = tok(["look", mmtok.Image(PHOTO), mmtok.Audio(SPEECH)])
    k = 2
    span, seg = seq.spans[k], seq.segment(k)
    for i in (span.start + 1, span.start + 100):
        assert seq.provenance(i)["box"] == tok.image.provenance(seg, i - span.start)["box"]
    assert seq.provenance(-1) == seq.provenance(len(seq) - 1)
    with pytest.raises(mmtok.SequenceError, match="outside"):
        seq.provenance(len(seq))


def test_registry_register_list_get():
    r: Registry[int] = Registry("widget")
    r.register("a", 1)
    r.register("b", 2)
    assert r.list() == ["a", "b"] and r.get("a") == 1 and r["b"] == 2 and "a" in r and len(r) == 2
    with pytest.raises(UnknownNameError, match=r"unknown widget 'c'; use one of: a, b"):
        r.get("c")
    with pytest.raises(KeyError):  # a mapping, as a dict would be
        r["c"]
    assert r.get("c", None) is None
    with pytest.raises(ConfigError, match="already registered"):
        r.register("a", 3)


def test_presets_live_in_registries():
    for registry in (mmtok.LAYOUTS, mmtok.VQ_PRESETS, mmtok.audio.PRESETS):
        assert isinstance(registry, Registry) and registry.list()
        with pytest.raises(UnknownNameError, match="use one of"):
            registry.get("no-such-name")


# every name of mmtok 0.1's mmtok.__all__ (commit 4990e00), which code outside the project imports
ALL_0_1 = [
    "AssetError", "Audio", "AudioConfig", "AudioTokenizer", "AudioTokens", "ConfigError", "ContextLengthError",
    "DEFAULT_MAX_LENGTH", "DecodeError", "DecodedAudio", "DecodedImage", "DecodedVideo", "DecoderConfig", "Image",
    "ImageConfig", "ImagePlan", "ImageTokenizer", "ImageTokens", "InputError", "Kind", "LAYOUTS", "LayoutPreset",
    "LimitError", "MODEL_PRESETS", "ManifestError", "MmtokError", "Modality", "MultimodalTokenizer", "PLACEHOLDERS",
    "SPECIAL_TOKENS", "Segment", "SequenceError", "Span", "TextError", "TextTokenizer", "TinyDecoder",
    "TokenSequence", "VQConfig", "VQImageTokenizer", "VQ_PRESETS", "Video", "VideoConfig", "VideoTokenizer",
    "VideoTokens", "Vocab", "VocabError", "budget", "collate", "document_attention_mask", "format_budget",
    "grid_positions", "log_mel", "pack", "pack_rows", "plan_image", "roundtrip", "sample_frames",
    "sequential_positions", "uncollate", "unpack_rows",
]


def test_every_0_1_name_still_imports_from_mmtok():
    for name in ALL_0_1:
        assert name in mmtok.__all__, name
        exec(f"from mmtok import {name}", {})
    assert callable(mmtok.roundtrip.decoder_roundtrip) and callable(mmtok.roundtrip.image_report)


def test_typed_metadata_round_trips_and_refuses_what_it_does_not_know():
    from mmtok.core.meta import META_TYPES, AudioMeta, ImageMeta

    for cls in META_TYPES.values():
        meta = cls(source="x.bin")
        assert cls.from_dict(meta.to_dict()) == meta and meta.to_dict()["kind"] == cls.kind
    image = ImageMeta(grid=[14, 14], original_size=(300, 451), image_config={"size": 224})
    assert image.grid == (14, 14) and ImageMeta.from_dict(image.to_dict()) == image
    with pytest.raises(mmtok.SequenceError, match="no field"):
        ImageMeta.from_dict({"grid": [1, 1], "colour": "red"})
    with pytest.raises(mmtok.SequenceError, match="does not fit"):
        ImageMeta.from_dict(AudioMeta().to_dict())
    with pytest.raises(mmtok.SequenceError, match="must be int"):
        AudioMeta(stack=2.5)
