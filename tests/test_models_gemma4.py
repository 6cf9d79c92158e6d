"""mmtok.models' gemma-4 against transformers' Gemma4Processor and its image, audio and video processors.

The reference classes are built with Gemma 4's published processor_config.json values written out in
tests/published.py (not read from mmtok); nothing is downloaded. A tiny word-level tokenizer carries Gemma 4's
marker tokens. Properties: counts equal over several hundred sizes for each budget and over 0.1 s .. 10 min of
audio; the tensors of the whole processor call equal (max abs 0.0) on the bundled photos, sounds and clip given the
same decoded input; the refusals are typed errors.
"""

import math
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from transformers.video_utils import VideoMetadata

import mmtok
import published
from local_tokenizers import word_tokenizer
from mmtok.errors import ConfigError, InputError
from mmtok.media.audioio import stream_audio
from mmtok.models.gemma4_media import audio_count

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "assets" / "images").glob("*.png")) + sorted((ROOT / "assets" / "images").glob("*.jpg"))
SOUNDS = [ROOT / "assets" / "audio" / n for n in ("speech_en.wav", "speech_ja.wav", "guit_em9.flac")]
CLIP = ROOT / "assets" / "video" / "cityCC0.mpg"
BUDGETS = (70, 140, 280, 560, 1120)


def _tokenizer():
    return word_tokenizer(["<pad>", "Describe", "this", "picture", "and", "listen", ".", ":", "00", "01", "02", "03"],
                          pad_token="<pad>", extra_special_tokens=published.GEMMA4_MARKERS)


@pytest.fixture(scope="module")
def hf():
    """The transformers Gemma4Processor with the published values (it adds <|video|> to the tokenizer itself)."""
    return published.gemma4_processor(_tokenizer())


def _sizes() -> list[tuple[int, int]]:
    edge = [(1, 1), (1, 10000), (10000, 1), (1, 2), (2, 1), (1, 47), (1, 48), (47, 1), (48, 48), (47, 49), (16, 16),
            (1, 20000), (20000, 20000), (3, 5000), (5000, 3), (10, 1000), (1000, 10), (100, 100000), (768, 768),
            (5312, 2988), (2988, 5312), (480, 640), (1080, 1920), (1920, 1080), (224, 224), (896, 896)]
    rng = np.random.default_rng(4)
    rand = [tuple(int(v) for v in np.exp(rng.uniform(0, math.log(20000), 2)).round().clip(1)) for _ in range(300)]
    return edge + rand


SIZES = _sizes()


def test_registry_and_options():
    assert "gemma-4" in mmtok.list_models()
    assert mmtok.ModelProcessor("gemma-4", max_soft_tokens=1120)._impl.cfg.max_soft_tokens == 1120
    with pytest.raises(ConfigError, match="max_soft_tokens"):
        mmtok.ModelProcessor("gemma-4", max_soft_tokens=300)
    with pytest.raises(ConfigError, match="its options are: max_soft_tokens, video_max_soft_tokens"):
        mmtok.ModelProcessor("gemma-4", min_pixels=5)
    with pytest.raises(ConfigError, match="options are: none"):
        mmtok.ModelProcessor("qwen2-vl", max_soft_tokens=280)


@pytest.mark.parametrize("budget", BUDGETS)
def test_image_counts_equal_the_processor(hf, budget):
    """THE count from the size alone equals _get_num_multimodal_tokens for every size and budget."""
    proc = mmtok.ModelProcessor("gemma-4", max_soft_tokens=budget)
    want = hf._get_num_multimodal_tokens(image_sizes=SIZES, images_kwargs={"max_soft_tokens": budget})
    got = [proc.num_tokens(hw) for hw in SIZES]
    assert got == want["num_image_tokens"]
    assert all(0 < n <= budget for n in got)
    assert proc.segment_length((1, 1)) == proc.num_tokens((1, 1)) + 2
    assert len(SIZES) >= 300


@pytest.mark.parametrize("budget", BUDGETS)
def test_image_counts_equal_what_the_image_processor_makes(budget):
    """On real (small and extreme) pictures the processor's num_soft_tokens_per_image is THE count."""
    ip = published.gemma4_image(max_soft_tokens=budget)
    proc = mmtok.ModelProcessor("gemma-4", max_soft_tokens=budget)
    for h, w in [(1, 1), (1, 3000), (3000, 1), (33, 77), (500, 333)]:
        out = ip(torch.zeros(3, h, w, dtype=torch.uint8), input_data_format="channels_first", return_tensors="pt")
        assert out["num_soft_tokens_per_image"].tolist() == [proc.num_tokens((h, w))], (h, w)


def _hf_call(hf, prompt, **media):
    return hf(text=[prompt], return_tensors="pt", **media)


def _assert_same(got: dict, want, keys=None):
    want = {k: v for k, v in want.items()}
    assert list(got) == list(keys or want), (list(got), list(want))
    for k, v in want.items():
        v = torch.as_tensor(v)
        assert got[k].shape == v.shape and got[k].dtype == v.dtype, (k, got[k].shape, v.shape, got[k].dtype, v.dtype)
        assert float((got[k].double() - v.double()).abs().max()) == 0.0, k


def test_image_tensors_equal_the_processor(hf):
    """The whole call on the bundled photos (decoded as PIL RGB): every key equal, max abs 0.0."""
    tok = hf.tokenizer
    proc = mmtok.ModelProcessor("gemma-4", tokenizer=tok)
    for path in PHOTOS:
        pil = PILImage.open(path).convert("RGB")
        want = _hf_call(hf, "Describe <|image|> .", images=[[pil]])
        got = proc.hf_inputs(["Describe ", mmtok.Image(path), " ."])
        _assert_same(got, want)
        n = proc.num_tokens(mmtok.Image(path))
        assert int((got["mm_token_type_ids"] == 1).sum()) == n
        assert got["input_ids"].shape[1] == 2 + proc.segment_length(mmtok.Image(path))
    # two pictures, another budget: stacked [2, 1120 * 9, 768]
    big = published.gemma4_image(max_soft_tokens=1120)
    pics = [PILImage.open(p).convert("RGB") for p in PHOTOS[:2]]
    want = big(pics, return_tensors="pt")
    got = mmtok.ModelProcessor("gemma-4", max_soft_tokens=1120).hf_inputs([mmtok.Image(p) for p in PHOTOS[:2]])
    assert got["pixel_values"].shape == (2, 1120 * 9, 768)
    assert torch.equal(got["pixel_values"], want["pixel_values"])
    assert torch.equal(got["image_position_ids"], want["image_position_ids"])


def test_fast_counts_exact_pixels_close(hf):
    """fast=True: the same counts and shapes; a big JPEG decoded at a reduced DCT scale differs by a bounded amount."""
    jpg = [p for p in PHOTOS if p.suffix == ".jpg"]
    ip = published.gemma4_image()
    fast = mmtok.ModelProcessor("gemma-4", fast=True)
    for path in jpg:
        want = ip([PILImage.open(path).convert("RGB")], return_tensors="pt")
        got = fast.hf_inputs(mmtok.Image(path))
        assert got["pixel_values"].shape == want["pixel_values"].shape
        assert torch.equal(got["image_position_ids"], want["image_position_ids"])
        diff = (got["pixel_values"] - want["pixel_values"]).abs()
        assert float(diff.max()) <= 0.15 and float(diff.mean()) <= 0.005, (path.name, diff.max(), diff.mean())


def _wave(path) -> np.ndarray:
    return np.concatenate(list(stream_audio(path, target_rate=16000, sample_rate=None, max_duration=3600.0,
                                            chunk_seconds=30.0)))


def test_audio_counts_per_duration(hf):
    """0.1 s .. 10 min: THE count equals what the processor writes (its mask after two stride-2 convs) and its
    _compute_audio_num_tokens; past 30 s the processor truncates, and the count says so."""
    fe = hf.feature_extractor
    durations = sorted({round(float(s), 4) for s in np.geomspace(0.1, 600, 200)} | {0.01, 0.0101, 29.99, 30, 30.01})
    for s in durations:
        n = int(round(s * 16000))
        c = audio_count(n)
        assert c.tokens == hf._compute_audio_num_tokens(np.zeros(n), 16000), s
        assert c.truncated == (n > 480000) and c.tokens <= 750
        if n <= 960000:  # the extractor itself on the longer ones (beyond 60 s it only truncates more)
            mask = fe([np.zeros(n, dtype=np.float32)], return_tensors="np")["input_features_mask"][0]
            assert c.tokens == int(mask[::4].sum()), s
    assert audio_count(600 * 16000).tokens == 750 and audio_count(600 * 16000).dropped_seconds == 570.0
    assert audio_count(160).tokens == 0 and audio_count(161).tokens == 1


def test_audio_tensors_equal_the_processor(hf):
    """input_features / mask equal given the same 16 kHz waveform (mmtok's decoder), one and several sounds."""
    proc = mmtok.ModelProcessor("gemma-4", tokenizer=hf.tokenizer)
    waves = [_wave(p) for p in SOUNDS]
    for path, wave in zip(SOUNDS, waves):
        want = _hf_call(hf, "listen <|audio|> .", audio=[wave])
        got = proc.hf_inputs(["listen ", mmtok.Audio(path), " ."])
        _assert_same(got, want)
        info = proc._impl.audio_info(as_piece(mmtok.Audio(path)))
        assert int((got["mm_token_type_ids"] == 3).sum()) == info.tokens == proc.num_tokens(mmtok.Audio(path))
    want = _hf_call(hf, "<|audio|> and <|audio|>", audio=waves[:2])
    got = proc.hf_inputs([mmtok.Audio(SOUNDS[0]), " and ", mmtok.Audio(SOUNDS[1])])
    _assert_same(got, want)
    # a 40 s waveform: truncated to 30 s by both
    long = np.tile(waves[0], int(40 * 16000 // len(waves[0])) + 1)[:40 * 16000]
    want = _hf_call(hf, "<|audio|>", audio=[long])
    got = proc.hf_inputs(mmtok.Audio(torch.from_numpy(long), sample_rate=16000))
    _assert_same(got, want)
    assert proc.num_tokens(mmtok.Audio(torch.from_numpy(long), sample_rate=16000)) == 750


def as_piece(content):
    from mmtok.models.base import as_pieces

    return as_pieces(content)[0]


def _all_frames(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_video_equals_the_processor(hf):
    """The clip's 190 frames (PyAV, presentation order) with metadata (190 frames, 25 fps), as torchcodec would give
    them: the processor samples 32 and writes their mm:ss; mmtok (packet index + FrameDecoder) gives the same ids and
    tensors, max abs 0.0."""
    frames = _all_frames(CLIP)
    meta = VideoMetadata(total_num_frames=len(frames), fps=25.0, width=frames.shape[2], height=frames.shape[1])
    want = hf(text=["Describe <|video|> ."], videos=[frames], video_metadata=[meta], return_tensors="pt")
    proc = mmtok.ModelProcessor("gemma-4", tokenizer=hf.tokenizer)
    got = proc.hf_inputs(["Describe ", mmtok.Video(CLIP), " ."])
    _assert_same(got, want)
    clip = proc._impl._video(mmtok.Video(CLIP))
    assert clip.plan.total_frames == 190 and clip.plan.fps == 25.0
    assert clip.plan.labels[:3] == ["00:00", "00:00", "00:00"] and clip.plan.labels[-1] == "00:07"
    n = proc.num_tokens(mmtok.Video(CLIP))
    assert int((got["mm_token_type_ids"] == 2).sum()) == n == 32 * 66
    assert got["input_ids"].shape[1] == 2 + proc.segment_length(mmtok.Video(CLIP))
    # without a Hugging Face tokenizer: the same tensors, mmtok's text ids
    plain = mmtok.ModelProcessor("gemma-4").hf_inputs(mmtok.Video(CLIP))
    assert torch.equal(plain["pixel_values_videos"], want["pixel_values_videos"])


def test_refusals(tmp_path):
    proc = mmtok.ModelProcessor("gemma-4")
    with pytest.raises(InputError, match="gemma-4.*VQ codes"):
        proc.num_tokens(mmtok.Image(PHOTOS[0], as_="codes"))
    with pytest.raises(InputError, match="gemma-4.*sound track"):
        proc.num_tokens(mmtok.Video(CLIP, audio=True))
    with pytest.raises(InputError, match="gemma-4.*picture itself"):
        proc.hf_inputs([(10, 10)])
    short = tmp_path / "short.mp4"
    with av.open(str(short), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for _ in range(20):
            for p in s.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with pytest.raises(InputError, match="gemma-4 samples 32 frames.*20 frames"):
        proc.num_tokens(mmtok.Video(short))


def test_a_rotated_clip_counts_its_displayed_frames(tmp_path):
    """A 160x96 clip with 90 degree display rotation is seen as 96x160 frames: the count from the index and the
    first frame's rotation equals the soft tokens hf_inputs writes for the decoded, rotated frames."""
    from videos import make_clip

    path = tmp_path / "rotated.mp4"
    make_clip(path, "mp4", n=40, rotation=90, size=(160, 96))
    proc = mmtok.ModelProcessor("gemma-4")
    got = proc.hf_inputs(mmtok.Video(path))
    n = proc.num_tokens(mmtok.Video(path))
    assert int((got["mm_token_type_ids"] == 2).sum()) == n
    assert got["input_ids"].shape[1] == proc.segment_length(mmtok.Video(path))
    assert got["pixel_values_videos"].shape[0] == 32  # frames sampled
    info = mmtok.models.probe.clip_info(path)
    assert (info.height, info.width) == (160, 96)  # as displayed
