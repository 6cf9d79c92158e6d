"""Token budgets across models: the mmtok row equals what the tokenizer produces; each formula spot-checked."""

from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import mmtok
from mmtok import Audio, Image, Video
from mmtok.budget import MODEL_PRESETS, _Media
from mmtok.errors import ConfigError, InputError

from images import gradient

ROOT = Path(__file__).resolve().parent.parent


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
    assert MODEL_PRESETS["gemini-api"](img(384, 300)) == 258
    assert MODEL_PRESETS["gemini-api"](img(1000, 2000)) == 258 * 2 * 3
    assert MODEL_PRESETS["gemini-api"](_Media("audio", seconds=10.0)) == 320
    assert MODEL_PRESETS["gemini-api"](_Media("video", seconds=7.6, has_audio=True)) == 258 * 8 + 244
    assert MODEL_PRESETS["gemini-1.0-report"](img(5, 5000)) == 196
    assert MODEL_PRESETS["gemini-1.0-report"](_Media("video", seconds=60)) == 16 * 196
    assert MODEL_PRESETS["qwen2-vl"](img(224, 224)) == 8 * 8 + 2
    assert MODEL_PRESETS["qwen2-vl"](img(10000, 10000)) == (980 // 28) ** 2 + 2  # sqrt(28*28*1280) = 1001.8 -> 980
    assert MODEL_PRESETS["gemma-3"](img(10, 10)) == 258 and MODEL_PRESETS["gemma-3"](_Media("audio")) is None
    assert MODEL_PRESETS["gemma-3n"](_Media("audio", seconds=10.0)) == 63
    assert MODEL_PRESETS["chameleon"](img(10, 10)) == 1026


@given(h=st.integers(1, 30000), w=st.integers(1, 30000), seconds=st.floats(0.01, 7200))
def test_formulas_hold_for_any_size(h, w, seconds):
    for name, f in MODEL_PRESETS.items():
        if name == "mmtok":
            continue
        for m in (_Media("image", height=h, width=w), _Media("video", height=h, width=w, seconds=seconds,
                                                           frames=int(seconds * 25) + 1),
                  _Media("audio", seconds=seconds)):
            n = f(m)
            assert n is None or (isinstance(n, int) and n > 0)


def test_errors(tok):
    with pytest.raises(ConfigError, match="unknown model preset"):
        mmtok.budget(["x"], ["gpt-5"], tokenizer=tok)
    with pytest.raises(InputError, match="cannot budget"):
        mmtok.budget([3], tokenizer=tok)


def test_format_budget(tok):
    rows = mmtok.budget(["hi", Audio(ROOT / "assets/audio/speech_ja.wav")], ["mmtok", "chameleon"], tokenizer=tok)
    text = mmtok.format_budget(rows)
    assert text.splitlines()[0].split()[:6] == ["model", "text", "image", "video", "audio", "total"]
    assert "piece 1 (audio)" in text
