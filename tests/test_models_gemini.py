"""The Gemini rows of mmtok.models: the Gemini API's published rule and mmtok's reading of the Gemini 1.0 report.

No processor exists to compare with, so the rules are checked against the page's own worked numbers and against
mmtok's own audio tokenizer (the reading's audio rule is mmtok's usm-128 preset stacked by 4: its count must be the
number of tokens that tokenizer makes); every count is a ModelProcessor call on real files."""

import math
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import mmtok
from mmtok import Audio, Image, Video
from mmtok.errors import InputError, UnknownNameError
from mmtok.models.gemini import ASSUMPTIONS, GEMINI_1_0_READING, GEMINI_API
from mmtok.models.probe import clip_info

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "assets/video/cityCC0.mpg"
SPEECH = ROOT / "assets/audio/speech_en.wav"
READING = "gemini-1.0-mmtok-reading"


@pytest.fixture(scope="module")
def api():
    return mmtok.ModelProcessor("gemini-api")


@pytest.fixture(scope="module")
def reading():
    return mmtok.ModelProcessor(READING)


def test_registered_and_the_old_name_is_gone():
    assert {"gemini-api", READING} <= set(mmtok.list_models())
    with pytest.raises(UnknownNameError, match="gemini-1.0-mmtok-reading"):
        mmtok.ModelProcessor("gemini-1.0-report")  # renamed: its numbers were mmtok's, not the report's


def test_api_pictures_match_the_pages_examples(api):
    # "both dimensions <= 384 pixels": 258; else 768x768 tiles of 258 each (Gemini by Example: 600x400 -> 258)
    for (h, w), n in {(1, 1): 258, (384, 384): 258, (300, 384): 258, (400, 600): 258 * 1 * 1, (385, 1): 258,
                      (768, 769): 258 * 2, (1000, 2000): 258 * 2 * 3, (2988, 5312): 258 * 4 * 7}.items():
        assert api.num_tokens((h, w)) == api.segment_length((h, w)) == n, (h, w)
    photo = ROOT / "assets/images/seeding_by_Clements_Engelhardt.jpg"  # 5312x2988 as displayed
    assert api.num_tokens(Image(photo)) == 258 * 7 * 4


@given(h=st.integers(1, 30000), w=st.integers(1, 30000), dh=st.integers(0, 5000), dw=st.integers(0, 5000))
def test_api_picture_count_never_falls_as_the_picture_grows(h, w, dh, dw):
    small, big = GEMINI_API.image(h, w), GEMINI_API.image(h + dh, w + dw)
    assert big >= small and small % 258 == 0
    assert GEMINI_1_0_READING.image(h, w) == 196


def test_api_sound_and_video_rates(api):
    assert api.num_tokens(Audio(torch.zeros(160_000), sample_rate=16_000)) == 320  # the page: 32 per second
    assert api.num_tokens(Audio(torch.zeros(1_600), sample_rate=16_000)) == 4  # 3.2 rounded up (assumed)
    assert api.num_tokens(Audio(torch.zeros(48_000), sample_rate=48_000)) == 32  # resampled: still one second
    seconds = clip_info(CLIP).seconds
    assert 7 < seconds < 8.5
    assert api.num_tokens(Video(CLIP)) == api.segment_length(Video(CLIP)) == math.ceil(263 * seconds)
    assert api.num_tokens(Video(CLIP, audio=True)) == math.ceil(263 * seconds)  # the rate covers the sound too


def test_reading_audio_is_mmtoks_usm_preset_by_four(reading):
    """The assumed rate is a real tokenizer's: the count equals the tokens mmtok's usm-128 x4 audio path makes."""
    tokens = mmtok.AudioTokenizer(GEMINI_1_0_READING.sound).encode(SPEECH)
    assert reading.num_tokens(Audio(SPEECH)) == len(tokens.tokens) > 0
    assert reading.num_tokens(Video(CLIP)) == 16 * 196 == reading.segment_length(Video(CLIP))


def test_text_codes_and_tensors(api, reading):
    for proc in (api, reading):
        assert proc.num_tokens("Describe this picture.") == mmtok.TextTokenizer.default().num_tokens(
            "Describe this picture.")
        with pytest.raises(InputError, match="as_='codes'.*output"):
            proc.num_tokens(Image(ROOT / "assets/images/coffee.png", as_="codes"))
        with pytest.raises(InputError, match="not an open model"):
            proc.hf_inputs(["hi", Image(ROOT / "assets/images/coffee.png")])


def test_every_assumption_is_listed():
    """Each piece kind of the reading names what is assumed; the API's rounding and text are marked too."""
    kinds = {(m, k) for m, k, _ in ASSUMPTIONS}
    assert {(READING, k) for k in ("image", "video", "audio", "text", "markers")} <= kinds
    assert {("gemini-api", k) for k in ("video", "audio", "text")} <= kinds
    doc = mmtok.models.gemini.__doc__
    assert "https://ai.google.dev/gemini-api/docs/tokens" in doc and "2026-11-30" in doc
    assert doc.count("ASSUMPTION") >= 6


@given(seconds=st.floats(0, 7200), more=st.floats(0, 600))
def test_rates_never_fall_with_duration(seconds, more):
    for rule in (GEMINI_API, GEMINI_1_0_READING):
        assert rule.audio(seconds + more) >= rule.audio(seconds) >= 0
        assert rule.video(seconds + more) >= rule.video(seconds) >= 0
    assert GEMINI_API.audio(seconds) == math.ceil(32 * seconds) and GEMINI_1_0_READING.video(seconds) == 16 * 196
