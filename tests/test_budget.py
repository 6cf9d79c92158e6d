"""Token budgets across models: the mmtok row equals what the tokenizer produces (on the bundled media and on any
generated prompt); the Qwen-VL rows are the model processors' counts (on the bundled photos and on any size), and
what those refuse is listed unsupported with the processor's reason; each formula spot-checked; each grows with the
picture or the duration where its rule says so."""

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

import mmtok
from images import PHOTOS, gradient, png_header_only
from mmtok import Audio, Image, Video
from mmtok.errors import ConfigError, InputError, LimitError
from mmtok.multimodal.budget import MODEL_PRESETS, _Media, _mmtok, budget_models

ROOT = Path(__file__).resolve().parent.parent
QWEN = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")  # the rows counted by mmtok.models


@pytest.fixture(scope="module")
def tok():
    t = mmtok.MultimodalTokenizer.default()
    t._vq = mmtok.VQImageTokenizer.from_config("vq-f8-4096", seed=0)
    return t


@pytest.mark.parametrize("layout", ["gemini-like", "dynamic", "tiles", "whisper-audio"])
def test_mmtok_row_equals_the_tokenizer(layout, tmp_path):
    t = mmtok.MultimodalTokenizer(layout)
    t._vq = mmtok.VQImageTokenizer.from_config("vq-f8-4096", seed=0)
    contents = ["Look ", Image(ROOT / "assets/images/seeding_by_Clements_Engelhardt.jpg"), Image(gradient(50, 20)),
                Video(ROOT / "assets/video/cityCC0.mpg"), Audio(ROOT / "assets/audio/guit_em9.flac"),
                Audio(torch.zeros(12345), sample_rate=22050), Image(ROOT / "assets/images/coffee.png", as_="codes")]
    row = mmtok.budget(contents, ["mmtok"], tokenizer=t)[0]
    seq = t(contents)
    assert row["total"] == len(seq)
    per = {m: 0 for m in ("text", "image", "video", "audio")}
    for s in seq.spans:
        key = {"control": "text", "image_codes": "image"}.get(s.modality.label, s.modality.label)
        per[key] += s.length
    assert {k: row[k] for k in per} == per


def test_spot_values():
    img = lambda h, w: _Media("image", height=h, width=w)  # noqa: E731
    assert MODEL_PRESETS["qwen2-vl"](img(224, 224)) == 8 * 8 + 2
    # the published max_pixels 12845056 (not the class default 28*28*1280): 10000 / sqrt(1e8 / 12845056) / 28 is
    # 128.0 in exact arithmetic and 127.99... in floats, floored as transformers' smart_resize does
    assert MODEL_PRESETS["qwen2-vl"](img(10000, 10000)) == 127 * 127 + 2
    assert MODEL_PRESETS["qwen3-vl"](img(1, 1)) == 8 * 8 + 2  # min_pixels 65536: 256x256 pixels, 32 per token
    assert MODEL_PRESETS["gemini-api"](img(1000, 2000)) == 258 * 2 * 3


def test_rows_are_mmtok_and_every_registered_model(tok):
    """The default rows: mmtok's layout, then each model of the registry, each counted by its ModelProcessor."""
    assert budget_models() == ["mmtok", *mmtok.list_models()]
    contents = ["Watch ", Video(ROOT / "assets/video/cityCC0.mpg"), Image(PHOTOS[0]),
                Audio(ROOT / "assets/audio/speech_ja.wav")]
    rows = mmtok.budget(contents, tokenizer=tok)
    assert [r["model"] for r in rows] == budget_models()
    for r in rows[1:]:
        proc = mmtok.ModelProcessor(r["model"])
        expected, unsupported = {"text": 0, "image": 0, "video": 0, "audio": 0}, []
        for i, piece in enumerate(contents):
            kind = "text" if isinstance(piece, str) else type(piece).__name__.lower()
            try:
                n = tok.text.num_tokens(piece) if kind == "text" else proc.segment_length(piece)
            except InputError as e:
                unsupported.append(f"piece {i} ({kind}): {e}")
            else:
                expected[kind] += n
        assert {k: r[k] for k in expected} == expected and r["unsupported"] == unsupported, r["model"]
        assert r["total"] == sum(expected.values())


@pytest.mark.parametrize("name", QWEN)
def test_qwen_rows_are_the_model_processor_on_the_bundled_photos(tok, name):
    proc = mmtok.ModelProcessor(name)
    for photo in PHOTOS:
        row = mmtok.budget(["Describe ", Image(photo)], [name], tokenizer=tok)[0]
        assert row["image"] == proc.segment_length(Image(photo)) == proc.num_tokens(Image(photo)) + 2, photo
        assert row["total"] == tok.text.num_tokens("Describe ") + row["image"] and row["unsupported"] == []


# (height, width): the smallest, the thinnest accepted (ratio 200) and refused (201, 5000), rounding ties, each
# model's min/max pixels and beyond
SIZES = [(1, 1), (1, 200), (200, 1), (1, 201), (10, 2000), (10, 2010), (10, 5000), (5000, 10), (14, 14), (42, 70),
         (56, 56), (224, 224), (256, 256), (300, 451), (1080, 1920), (2988, 5312), (3584, 3584), (4096, 4096),
         (4097, 4097), (9999, 9999)]


@pytest.mark.parametrize("name", QWEN)
def test_qwen_rows_are_the_model_processor_for_any_size(tok, name):
    """A picture known by its header (a PNG with no pixel data): the row is ``segment_length((h, w))``, or, when
    the processor refuses that size, the piece is unsupported with the processor's message."""
    proc = mmtok.ModelProcessor(name)
    for h, w in SIZES:
        row = mmtok.budget([Image(png_header_only(w, h))], [name], tokenizer=tok)[0]
        try:
            n = proc.segment_length((h, w))
        except InputError as e:
            assert (row["image"], row["unsupported"]) == (0, [f"piece 0 (image): {e}"]), (h, w)
            assert max(h, w) > 200 * min(h, w), (h, w)
        else:
            assert (row["image"], row["unsupported"]) == (n, []), (h, w)


def test_a_picture_qwen_refuses_is_unsupported_with_its_reason(tok):
    """10x5000 (aspect ratio 500): each Qwen-VL row lists it with the model's rule, the rows that read pictures
    count it."""
    rows = mmtok.budget(["Read this banner: ", Image(gradient(5000, 10))], tokenizer=tok)
    for r in rows:
        if r["model"] in QWEN:
            assert r["image"] == 0 and len(r["unsupported"]) == 1, r
            assert r["unsupported"][0].startswith(f"piece 1 (image): {r['model']} refuses a 5000x10 picture")
            assert "aspect ratio 500.0 is over 200" in r["unsupported"][0]
            assert r["total"] == r["text"] > 0
        elif r["unsupported"]:  # a model that takes no pictures at all (whisper) says so
            assert r["unsupported"][0].startswith(f"piece 1 (image): {r['model']}") and "aspect" not in r["unsupported"][0]
        else:
            assert r["image"] > 0 and r["total"] == r["text"] + r["image"], r
    text = mmtok.format_budget(rows)
    for name in QWEN:
        assert f"{name} refuses a 5000x10 picture" in text


def test_qwen_rows_count_the_clip_and_list_audio_and_codes_as_unsupported(tok):
    """A clip is counted by the processor's video path (2 frames/s, 2 frames per temporal patch); no audio input,
    no VQ codes to write: each listed with the processor's reason, and the row's total leaves them out."""
    clip = Video(ROOT / "assets/video/cityCC0.mpg")
    contents = ["Watch ", clip, Audio(ROOT / "assets/audio/speech_ja.wav"),
                Image(ROOT / "assets/images/coffee.png", as_="codes")]
    for r in mmtok.budget(contents, QWEN, tokenizer=tok):
        name = r["model"]
        assert r["unsupported"] == [
            f"piece 2 (audio): {name} takes no audio (a Qwen-VL model reads text, images and video); give the sound "
            "to a model that reads audio (whisper, gemma-3n, gemma-4)",
            f"piece 3 (codes): {name} reads pictures but does not write VQ codes; give mmtok.Image(src) (as_='patches')"]
        assert r["video"] == mmtok.ModelProcessor(name).segment_length(clip) > 0
        assert (r["image"], r["audio"]) == (0, 0) and r["total"] == r["text"] + r["video"]


LAYOUTS = ["gemini-like", "dynamic", "tiles", "whisper-audio"]
SIDE = st.integers(1, 30000)  # pixels
SECONDS = st.floats(0.01, 7200)


@pytest.fixture(scope="module")
def layouts():
    return {name: mmtok.MultimodalTokenizer(name) for name in LAYOUTS}


@given(h=SIDE, w=SIDE)
def test_every_row_counts_or_refuses_any_picture_size(layouts, h, w):
    """A picture of any size: each row gives a positive int, or the processor's refusal naming the model."""
    header = png_header_only(w, h)  # a picture known by its header: no pixels
    for m in (_Media("image", height=h, width=w, content=Image(header)),
              _Media("codes", height=h, width=w, content=Image(header, as_="codes"))):
        for name, f in MODEL_PRESETS.items():
            if name == "mmtok":
                counts = [_mmtok(m, t) for t in layouts.values()]
            else:
                try:
                    counts = [f(m)]
                except LimitError as e:  # a header over PIL's decompression-bomb limit, read for the codes
                    assert m.kind == "codes" and h * w > PILImage.MAX_IMAGE_PIXELS, (name, m, e)
                    continue
                except InputError as e:
                    assert str(e).startswith(name), (name, m, e)
                    continue
            assert all(isinstance(n, int) and n > 0 for n in counts), (name, m, counts)


def _img(h: int, w: int) -> _Media:
    return _Media("image", height=h, width=w)


@given(h=SIDE, w=SIDE, dh=st.integers(0, 5000), dw=st.integers(0, 5000))
def test_image_counts_follow_each_rule(layouts, h, w, dh, dw):
    small, big = _img(h, w), _img(h + dh, w + dw)
    for name in ("gemini-1.0-mmtok-reading", "gemini-api"):  # never fewer for more
        assert MODEL_PRESETS[name](big) >= MODEL_PRESETS[name](small), name
    # the Qwen-VL rows: smart_resize keeps the picture within each model's published [min_pixels, max_pixels],
    # 28x28 pixels per token (32x32 for Qwen3-VL), or refuses an aspect ratio over 200
    for name, (least, most) in {"qwen2-vl": (4, 16384), "qwen2.5-vl": (4, 16384), "qwen3-vl": (64, 16384)}.items():
        if max(h + dh, w + dw) <= 200 * min(h + dh, w + dw):
            assert least + 2 <= MODEL_PRESETS[name](big) <= most + 2, name
        else:
            with pytest.raises(InputError, match=f"^{name} refuses .* aspect ratio"):
                MODEL_PRESETS[name](big)
    fixed, dynamic, tiles = (layouts[n] for n in ("gemini-like", "dynamic", "tiles"))
    assert _mmtok(small, fixed) == _mmtok(big, fixed) == 196 + 2  # one 224x224 square whatever the size
    plan = dynamic.image.plan(h, w)  # the aspect ratio decides the grid: no order in size, but bounds
    cfg = dynamic.layout.image
    assert plan.clamped or cfg.min_tokens <= plan.num_patches <= cfg.max_tokens
    assert _mmtok(small, dynamic) == plan.num_patches + 2
    # tiles: ceil(H/768) x ceil(W/768) tiles + a thumbnail grows with the picture, past max_tiles too (the capped
    # grid is the largest within the cap, so a bigger picture never gets fewer tiles)
    assert _mmtok(big, tiles) >= _mmtok(small, tiles)


@given(seconds=SECONDS, more=st.floats(0, 600))
def test_audio_and_video_counts_grow_with_duration(layouts, seconds, more):
    short, long = seconds, seconds + more
    audio = lambda s: _Media("audio", seconds=s, samples16k=round(s * 16000))  # noqa: E731
    for has_audio in (False, True):
        clip = lambda s, has_audio=has_audio: _Media(  # noqa: E731
            "video", height=360, width=640, seconds=s, frames=int(s * 25) + 1, has_audio=has_audio,
            samples16k=round(s * 16000), with_sound=has_audio)
        for t in layouts.values():  # 16 frames whatever the length; the interleaved sound grows with it
            grows = _mmtok(clip(long), t) >= _mmtok(clip(short), t)
            assert grows and (has_audio or _mmtok(clip(long), t) == _mmtok(clip(short), t))
    for t in layouts.values():  # the audio preset's rate, give or take the last partial token and the markers
        n = _mmtok(audio(long), t)
        assert n >= _mmtok(audio(short), t)
        assert abs(n - 2 - long * t.audio.config.tokens_per_second) <= 2, (t.layout.name, long, n)


def _random_picture(h: int, w: int, seed: int, codes: bool) -> Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image(pixels, as_="codes" if codes else "patches")


def _random_sound(seconds: float, rate: int, seed: int) -> Audio:
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, round(seconds * rate)).astype(np.float32)
    return Audio(torch.from_numpy(x), sample_rate=rate)


SEED = st.integers(0, 2**32 - 1)
PIECES = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
                   st.builds(_random_picture, st.integers(1, 600), st.integers(1, 600), SEED, st.booleans()),
                   st.builds(_random_sound, st.floats(0.05, 3.0), st.sampled_from([8000, 16000, 22050, 44100, 48000]),
                             SEED))


@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=10)
@given(contents=st.lists(PIECES, min_size=1, max_size=4))
def test_mmtok_row_is_the_tokenizer_for_any_prompt(layouts, layout, contents):
    t = layouts[layout]
    t._vq = t._vq or mmtok.VQImageTokenizer.from_config("vq-f8-4096", seed=0)
    assert mmtok.budget(contents, ["mmtok"], tokenizer=t)[0]["total"] == len(t(contents))


def test_errors(tok):
    with pytest.raises(ConfigError, match="unknown model preset"):
        mmtok.budget(["x"], ["gpt-5"], tokenizer=tok)
    with pytest.raises(InputError, match="cannot budget"):
        mmtok.budget([3], tokenizer=tok)


def test_format_budget(tok):
    rows = mmtok.budget(["hi", Audio(ROOT / "assets/audio/speech_ja.wav")], ["mmtok", "qwen2-vl"], tokenizer=tok)
    text = mmtok.format_budget(rows)
    assert text.splitlines()[0].split()[:6] == ["model", "text", "image", "video", "audio", "total"]
    assert "piece 1 (audio)" in text
    assert rows[1]["unsupported"] == ["piece 1 (audio): qwen2-vl takes no audio (a Qwen-VL model reads text, "
                                      "images and video); give the sound to a model that reads audio (whisper, "
                                      "gemma-3n, gemma-4)"]
    lines = text.splitlines()
    assert lines[2].endswith("  piece 1 (audio)") and lines[3] == ""  # the table, then the reasons
    assert lines[4].split()[:6] == ["qwen2-vl", "piece", "1", "(audio):", "qwen2-vl", "takes"]
    assert "\n\n" not in mmtok.format_budget(mmtok.budget(["hi"], ["mmtok", "qwen2-vl"], tokenizer=tok))


def test_segment_length_of_each_module_equals_its_segment(tok):
    """Each module's segment_length (what the budget adds up) is the length of the segment it builds."""
    vocab = tok.vocab
    photo = ROOT / "assets/images/seeding_by_Clements_Engelhardt.jpg"
    for image in (tok.image, mmtok.ImageTokenizer(mmtok.ImageConfig(resize="tiles"))):
        tokens = image.encode(photo)
        assert image.segment_length(*tokens.original_size) == len(image.segment(tokens, vocab).input_ids)
    clip = tok.video.encode(ROOT / "assets/video/cityCC0.mpg")
    h, w = clip.frames[0].original_size
    assert tok.video.segment_length(h, w) == len(tok.video.segment(clip, vocab).input_ids)
    sound = tok.audio.encode(ROOT / "assets/audio/guit_em9.flac")
    assert tok.audio.segment_length(sound.duration) == len(tok.audio.segment(sound, vocab).input_ids)
    codes = torch.zeros(32, 32, dtype=torch.int64)
    assert mmtok.vq.codes_segment_length(32 * 32) == len(tok.vq.segment(codes, vocab).input_ids)
