"""mmtok.models gemma-3 and gemma-3n against transformers' Gemma3Processor and Gemma3nProcessor themselves.

The reference processors are built from their classes with each model's published preprocessing values, written out
on their own in tests/published.py (not read from mmtok), so a wrong constant in mmtok fails the comparison; nothing
is downloaded. Properties: pan-and-scan crop counts equal the processor's over several hundred sizes;
``pixel_values`` equal on the bundled photos (with and without pan-and-scan);
``input_features``/``input_features_mask`` equal on the bundled sounds and on clips of 0.01 s to 10 min (the 30 s
cut reproduced and noted); the whole processor call (text + images + audio, with a small local tokenizer carrying
Gemma's special tokens) gives the same tensors; THE count is what ``hf_inputs`` writes; refused pieces raise typed
errors naming the model.
"""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from PIL import ImageOps
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import Gemma3nAudioFeatureExtractor, PreTrainedTokenizerFast

import mmtok
import published
from mmtok.errors import ConfigError, InputError
from mmtok.media.audioio import stream_audio
from mmtok.media.imageio import load_image
from mmtok.models.base import as_pieces
from mmtok.models.gemma3n import audio_features

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "assets" / "images").glob("*.png")) + sorted((ROOT / "assets" / "images").glob("*.jpg"))
SOUNDS = [ROOT / "assets" / "audio" / n for n in ("speech_en.wav", "speech_ja.wav", "guit_em9.flac")]
RATE = 16_000
G3_SEQ = published.GEMMA3_SEQ["image_seq_length"]  # 256
PAS = published.GEMMA3_PAN_AND_SCAN  # given to each call with pan-and-scan (on or off)


@pytest.fixture(scope="module")
def tok():
    """A tiny word-level tokenizer that keeps "\\n\\n" and spaces as tokens, with Gemma's image and audio tokens
    as special tokens (built here, nothing downloaded)."""
    words = ["[UNK]", "<bos>", "\n\n", " ", "Describe", "this", "picture", "and", "that", ".", "Here", "is", "the",
             "original", "image", "here", "are", "some", "crops", "to", "help", "you", "see", "better", "Listen"]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"\n\n|\n| |\w+|[^\w\s]"), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", bos_token="<bos>",
                                   extra_special_tokens=published.GEMMA_MARKERS)


@pytest.fixture(scope="module")
def g3_ip():
    return published.gemma3_image()


@pytest.fixture(scope="module")
def g3n(tok):
    return published.gemma3n_processor(tok)


def _decoded(photo) -> np.ndarray:
    """mmtok's decoded picture as HWC uint8 (what the processor is given: the same decoded RGB picture)."""
    return load_image(photo).pixels.permute(1, 2, 0).numpy()


def _wave(path) -> np.ndarray:
    return np.concatenate(list(stream_audio(path, target_rate=RATE, sample_rate=None, max_duration=1e9,
                                            chunk_seconds=30)))


def _sizes() -> list[tuple[int, int]]:
    """(height, width): edge cases, every pan-and-scan threshold, and log-uniform sizes up to 20000 pixels."""
    edge = [(1, 1), (1, 10000), (10000, 1), (1, 2), (896, 896), (895, 897), (255, 512), (256, 512), (256, 511),
            (256, 513), (256, 308), (256, 307), (300, 451), (400, 600), (427, 640), (2988, 5312), (5312, 2988),
            (100, 20000), (20000, 100), (20000, 20000), (256, 1024), (256, 1280), (256, 1279), (257, 1280),
            (1000, 1199), (1000, 1200), (1000, 1201), (1000, 2499), (1000, 2500), (1000, 2501), (512, 2048),
            (512, 4096), (300, 1030), (257, 1030)]
    rng = np.random.default_rng(3)
    rand = [tuple(int(v) for v in np.exp(rng.uniform(0, math.log(20000), 2)).round().clip(1)) for _ in range(200)]
    ratios = [(h, int(h * r)) for h in (200, 256, 300, 999) for r in (1.19, 1.2, 1.21, 1.5, 2.49, 2.5, 3.5, 4.5, 9)]
    return edge + rand + ratios + [(w, h) for h, w in ratios]


SIZES = _sizes()


def test_registry_and_options():
    assert {"gemma-3", "gemma-3n"} <= set(mmtok.list_models())
    assert mmtok.models.MODELS["gemma-3"].options[0] == "pan_and_scan" and mmtok.models.MODELS["gemma-3n"].options == ()
    default = mmtok.ModelProcessor("gemma-3")
    assert default.spec.config.pan_and_scan is False and default.num_tokens((300, 1200)) == 256
    pas = mmtok.ModelProcessor("gemma-3", pan_and_scan=True)
    assert pas.num_tokens((300, 1200)) == 256 * 5 and pas.options == {"pan_and_scan": True}
    assert mmtok.ModelProcessor("gemma-3", pan_and_scan=True, pan_and_scan_max_num_crops=2).num_tokens(
        (300, 1200)) == 256 * 3
    with pytest.raises(ConfigError, match="gemma-3 takes no option crops; its options are: pan_and_scan, "):
        mmtok.ModelProcessor("gemma-3", crops=2)
    with pytest.raises(ConfigError, match="qwen2-vl takes no option pan_and_scan; its options are: none"):
        mmtok.ModelProcessor("qwen2-vl", pan_and_scan=True)
    with pytest.raises(ConfigError, match="gemma-3n takes no option pan_and_scan"):
        mmtok.ModelProcessor("gemma-3n", pan_and_scan=True)
    with pytest.raises(ConfigError, match="pan_and_scan must be True or False"):
        mmtok.ModelProcessor("gemma-3", pan_and_scan="yes")
    with pytest.raises(ConfigError, match="max_num_crops must be at least 2"):
        mmtok.ModelProcessor("gemma-3", pan_and_scan=True, pan_and_scan_max_num_crops=1)
    assert len(SIZES) >= 300


def test_pan_and_scan_counts_equal_the_processor(g3_ip):
    """THE count from the size alone: the crops (number and shapes) Gemma3ImageProcessor cuts, over 300+ sizes;
    without pan-and-scan every picture is 256."""
    off, on = mmtok.ModelProcessor("gemma-3"), mmtok.ModelProcessor("gemma-3", pan_and_scan=True)
    cut, newlines = 0, off._impl.text.count("\n\n")
    for h, w in SIZES:
        picture = torch.zeros(1, 1, 1, 1, dtype=torch.uint8).expand(1, 3, h, w)  # no memory: only shapes count
        crops = g3_ip.pan_and_scan_batched(picture, **PAS)
        ours = mmtok.models.gemma.pan_and_scan_crops(on._impl.cfg, h, w)
        assert [c.shape[-2:] for c in crops] == [(b - t, r - left) for t, left, b, r in ours], (h, w)
        assert on.num_tokens((h, w)) == G3_SEQ * (1 + len(crops)), (h, w)
        assert off.num_tokens((h, w)) == G3_SEQ and off.segment_length((h, w)) == G3_SEQ + 2 + 2 * newlines
        cut += bool(crops)
    assert 60 <= cut <= len(SIZES) - 60  # both branches are exercised
    assert on.num_tokens((1, 10000)) == on.num_tokens((10000, 1)) == 256  # the short side is under a crop
    assert on.num_tokens((256, 10000)) == on.num_tokens((10000, 256)) == 256 * 5


@pytest.mark.parametrize("pan_and_scan", [False, True])
@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_gemma3_pixel_values_on_the_bundled_photos(g3_ip, photo, pan_and_scan):
    ref = g3_ip(images=[_decoded(photo)], return_tensors="pt", do_pan_and_scan=pan_and_scan, **PAS)
    proc = mmtok.ModelProcessor("gemma-3", pan_and_scan=pan_and_scan)
    ours = proc.hf_inputs(mmtok.Image(photo))
    assert ours["pixel_values"].dtype == torch.float32 and ours["pixel_values"].shape == ref["pixel_values"].shape
    assert (ours["pixel_values"] - ref["pixel_values"]).abs().max().item() <= 1e-5  # measured: 0.0
    assert proc.num_tokens(mmtok.Image(photo)) == G3_SEQ * (1 + int(ref["num_crops"][0])) == int(
        ours["token_type_ids"].sum())


NOISE_SIZES = [(1, 1), (3, 7), (1, 10000), (10000, 1), (255, 257), (256, 700), (896, 896),
               (900, 300), (257, 1030)]


@pytest.mark.parametrize("h,w", NOISE_SIZES)
def test_pixel_values_on_noise(g3_ip, g3n, h, w):
    """Random noise (the hardest picture for a resize filter), from 1x1 up, through both image processors (gemma-3
    with pan-and-scan: some of these sizes are cut): same shapes, same values."""
    picture = np.random.default_rng(h * 10007 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    ref = g3_ip(images=[PILImage.fromarray(picture)], return_tensors="pt", do_pan_and_scan=True, **PAS)
    ours = mmtok.ModelProcessor("gemma-3", pan_and_scan=True).hf_inputs(mmtok.Image(picture))
    assert ours["pixel_values"].shape == ref["pixel_values"].shape
    assert (ours["pixel_values"] - ref["pixel_values"]).abs().max().item() <= 1e-5  # measured: 0.0
    ref = g3n.image_processor(images=[PILImage.fromarray(picture)], return_tensors="pt")["pixel_values"]
    ours = mmtok.ModelProcessor("gemma-3n").hf_inputs(mmtok.Image(picture))["pixel_values"]
    assert ours.shape == ref.shape and (ours - ref).abs().max().item() <= 1e-5  # measured: 0.0


@pytest.mark.parametrize("pan_and_scan", [False, True])
def test_gemma3_whole_processor_call(g3_ip, tok, pan_and_scan):
    """Text + two pictures (one cut by pan-and-scan) through Gemma3Processor: every key, every value."""
    hf = published.gemma3_processor(tok, g3_ip)
    a, b = PHOTOS[1], PHOTOS[3]  # chelsea.png (not cut), rocket.jpg (2 crops)
    ref = hf(text=["Describe this <start_of_image> and that <start_of_image>."], images=[_decoded(a), _decoded(b)],
             return_tensors="pt", do_pan_and_scan=pan_and_scan, **PAS)
    proc = mmtok.ModelProcessor("gemma-3", tokenizer=tok, pan_and_scan=pan_and_scan)
    ours = proc.hf_inputs(["Describe this ", mmtok.Image(a), " and that ", mmtok.Image(b), "."])
    assert list(ours) == list(ref)
    for key in ref:
        assert ours[key].dtype == ref[key].dtype and torch.equal(ours[key], ref[key]), key
    inner = sum(proc.segment_length(mmtok.Image(p)) for p in (a, b))  # the text next to it splits where it does
    assert ours["input_ids"].shape[1] == inner + proc.num_tokens("Describe this  and that .")


@pytest.mark.parametrize("name", ["gemma-3", "gemma-3n"])
def test_count_is_what_hf_inputs_writes(name):
    """Without a tokenizer (mmtok's SentencePiece, each text part on its own): the prompt is the sum of its
    pieces' segment_length, and the soft tokens are the sum of num_tokens."""
    options = {"pan_and_scan": True} if name == "gemma-3" else {}
    proc = mmtok.ModelProcessor(name, **options)
    prompt = ["Describe: ", mmtok.Image(PHOTOS[3]), " then ", mmtok.Image(PHOTOS[0])]
    if name == "gemma-3n":
        prompt += [" and ", mmtok.Audio(SOUNDS[2])]
    out = proc.hf_inputs(prompt)
    assert out["input_ids"].shape[1] == sum(proc.segment_length(p) for p in prompt) == out["attention_mask"].sum()
    soft = sum(proc.num_tokens(p) for p in prompt if not isinstance(p, str))
    assert int((out["token_type_ids"] > 0).sum()) == soft
    text_ids = proc._impl.text
    assert proc.segment_length(mmtok.Image(PHOTOS[0])) == 256 + 2 + 2 * text_ids.count("\n\n")


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_gemma3n_pixel_values_on_the_bundled_photos(g3n, photo):
    ref = g3n.image_processor(images=[_decoded(photo)], return_tensors="pt")["pixel_values"]
    ours = mmtok.ModelProcessor("gemma-3n").hf_inputs(mmtok.Image(photo))["pixel_values"]
    assert ours.dtype == torch.float32 and ours.shape == ref.shape == (1, 3, 768, 768)
    assert (ours - ref).abs().max().item() <= 1e-5  # measured: 0.0


def test_gemma3n_whole_processor_call(g3n, tok):
    """Text, two pictures and the three bundled sounds (different lengths: padded to the longest) through
    Gemma3nProcessor, given mmtok's 16 kHz waveforms: every key, every value."""
    a, b = PHOTOS[1], PHOTOS[4]
    text = ("Describe this <image_soft_token> and that<image_soft_token>. Listen <audio_soft_token>"
            "<audio_soft_token> and <audio_soft_token>")
    ref = g3n(text=[text], images=[_decoded(a), _decoded(b)], audio=[_wave(s) for s in SOUNDS], return_tensors="pt")
    proc = mmtok.ModelProcessor("gemma-3n", tokenizer=tok)
    ours = proc.hf_inputs(["Describe this ", mmtok.Image(a), " and that", mmtok.Image(b), ". Listen ",
                           mmtok.Audio(SOUNDS[0]), mmtok.Audio(SOUNDS[1]), " and ", mmtok.Audio(SOUNDS[2])])
    assert list(ours) == list(ref) and proc.notes == ()
    for key in ref:
        assert ours[key].dtype == ref[key].dtype and ours[key].shape == ref[key].shape, key
        assert torch.equal(ours[key], ref[key]), (key, (ours[key].float() - ref[key].float()).abs().max())
    assert int((ours["token_type_ids"] == 3).sum()) == 3 * 188 == 3 * proc.num_tokens(mmtok.Audio(SOUNDS[0]))
    assert proc.segment_length(mmtok.Audio(SOUNDS[0])) == 188 + 2 + 2  # "\n\n" is one token here


DURATIONS = [0.01, 0.0321, 0.1, 0.5, 1.0, 2.345, 7.3, 29.99, 30.0, 30.01, 45.5, 600.0]


def test_audio_features_equal_the_extractor_for_any_duration():
    """Clips of 0.01 s to 10 min, one at a time and all in one batch: the same features and mask (exact), the
    extractor's cut at 30 s included."""
    fe, cfg = Gemma3nAudioFeatureExtractor(**published.GEMMA3N_AUDIO), mmtok.models.gemma3n.GEMMA_3N
    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(round(s * RATE))).astype(np.float32) for s in DURATIONS]
    for wave in waves:
        ref = fe(wave, return_tensors="pt")
        feats, mask = audio_features(cfg, [wave])
        assert feats.shape == ref["input_features"].shape and torch.equal(feats, ref["input_features"])
        assert mask.dtype == torch.bool and torch.equal(mask, ref["input_features_mask"])
    ref = fe(waves[:9], return_tensors="pt")  # up to 30 s: a padded batch
    feats, mask = audio_features(cfg, waves[:9])
    assert torch.equal(feats, ref["input_features"]) and torch.equal(mask, ref["input_features_mask"])
    assert feats.shape == (9, 2997, 128) and mask.sum(1).tolist()[-1] == 2997  # (480000 - 513) // 160 + 1


def test_audio_counts_and_the_30s_cut(g3n, tok):
    """Every duration is 188 audio soft tokens in the processor's prompt; over 30 s the clip is cut as the extractor
    cuts it, and ModelProcessor.notes says so (nothing raised)."""
    proc = mmtok.ModelProcessor("gemma-3n", tokenizer=tok)
    audio_id = tok.convert_tokens_to_ids("<audio_soft_token>")
    rng = np.random.default_rng(1)
    for seconds in (0.01, 0.1, 7.3, 30.0, 30.01, 600.0):  # the features of all DURATIONS: the test above
        wave = (0.1 * rng.standard_normal(round(seconds * RATE))).astype(np.float32)
        ref = g3n(text=["Listen <audio_soft_token>"], audio=[wave], return_tensors="pt")
        clip = mmtok.Audio(torch.from_numpy(wave), sample_rate=RATE)
        ours = proc.hf_inputs(["Listen ", clip])
        assert int((ref["input_ids"] == audio_id).sum()) == proc.num_tokens(clip) == 188
        assert torch.equal(ours["input_ids"], ref["input_ids"])
        assert torch.equal(ours["input_features"], ref["input_features"])
        assert torch.equal(ours["input_features_mask"], ref["input_features_mask"])
        assert len(proc.notes) == (seconds > 30)
        if seconds > 30:
            assert "more than 30 s" in proc.notes[0] and "first 480000 samples" in proc.notes[0]
        info = proc._impl.audio_info(as_pieces(clip)[0])
        assert (info.tokens, info.samples, info.kept_samples) == (188, len(wave), min(len(wave), 480000))
        assert info.truncated == (seconds > 30) and info.dropped_seconds == max(0.0, (len(wave) - 480000) / RATE)
    assert proc.hf_inputs("just text") and proc.notes == ()


def test_pieces_the_models_do_not_take(tok):
    g3, g3n_ = mmtok.ModelProcessor("gemma-3"), mmtok.ModelProcessor("gemma-3n")
    with pytest.raises(InputError, match="gemma-3 takes no audio"):
        g3.num_tokens(mmtok.Audio(SOUNDS[0]))
    with pytest.raises(InputError, match="gemma-3 takes no audio"):
        g3.hf_inputs(["Listen ", mmtok.Audio(SOUNDS[0])])
    for proc, name in ((g3, "gemma-3"), (g3n_, "gemma-3n")):
        with pytest.raises(InputError, match=f"{name} takes no video"):
            proc.num_tokens(mmtok.Video("clip.mp4"))
        with pytest.raises(InputError, match=f"{name} takes no video"):
            proc.hf_inputs([mmtok.Video("clip.mp4")])
        with pytest.raises(InputError, match=f"{name} reads pictures but does not write VQ codes"):
            proc.segment_length(mmtok.Image(PHOTOS[0], as_="codes"))
        with pytest.raises(InputError, match="not only its size"):
            proc.hf_inputs([(300, 400)])
    with pytest.raises(InputError, match="marker"):
        mmtok.ModelProcessor("gemma-3n", tokenizer=tok).hf_inputs("this <audio_soft_token>")
    bare = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]")))
    with pytest.raises(ConfigError, match="no <start_of_image>"):
        mmtok.ModelProcessor("gemma-3", tokenizer=bare)


def test_fast_keeps_counts_within_the_stated_tolerance():
    """fast=True: the bundled 5312x2988 JPEG decodes at 1/2 scale without its refinement scans: same counts and
    shapes, pixel values within the measured figures (gemma-3: max 0.110, mean 0.0038 on [-1, 1]; gemma-3n: max
    0.039, mean 0.0018 on [0, 1]); the smaller rocket.jpg and a photo cut by pan-and-scan decode in full (exact)."""
    big, small = PHOTOS[-1], PHOTOS[-2]
    for name, options, bound, mean in (("gemma-3", {}, 0.115, 0.004), ("gemma-3n", {}, 0.042, 0.002),
                                       ("gemma-3", {"pan_and_scan": True}, 0.0, 0.0)):
        exact = mmtok.ModelProcessor(name, **options).hf_inputs([mmtok.Image(big), mmtok.Image(small)])
        fast = mmtok.ModelProcessor(name, fast=True, **options).hf_inputs([mmtok.Image(big), mmtok.Image(small)])
        assert torch.equal(fast["input_ids"], exact["input_ids"])
        diff = (fast["pixel_values"] - exact["pixel_values"]).abs()
        assert diff.max().item() <= bound and diff.mean().item() <= mean, (name, options, diff.max(), diff.mean())
        assert (diff.max().item() > 0) == (bound > 0)
        assert torch.equal(fast["pixel_values"][-1], exact["pixel_values"][-1])


def test_photos_as_a_user_hands_them():
    """The processor's own decoding (PIL, EXIF applied) gives the same picture as mmtok's on the bundled photos."""
    for photo in PHOTOS:
        picture = np.asarray(ImageOps.exif_transpose(PILImage.open(photo)).convert("RGB"))
        assert np.array_equal(picture, _decoded(photo))
