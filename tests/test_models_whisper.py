"""mmtok.models.whisper against transformers' WhisperFeatureExtractor / WhisperProcessor themselves.

The reference extractors are built from the class with each model's published values written out in
tests/published.py (feature_size 80 for openai/whisper-tiny .. large-v2, 128 for large-v3; the rest the class
defaults, as in the published preprocessor_config.json); nothing is downloaded. Both sides get the same 16 kHz
waveform, decoded by mmtok.media.audioio.stream_audio. Properties: the filterbank is transformers' to the bit; every
30 s window equals the extractor called on that slice (max abs 0.0) on the bundled sounds and synthetic clips; up to
30 s it also equals the extractor with truncation=False; the count is the encoder length of each window over many
durations; text is the decoder prompt (labels); pictures and video are refused.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor
from transformers import WhisperProcessor as HFWhisperProcessor
from transformers.models.whisper.modeling_whisper import WhisperPreTrainedModel

import mmtok
import published
from local_tokenizers import word_tokenizer
from mmtok.errors import InputError
from mmtok.models.base import TextIds
from mmtok.models.whisper import decode_audio, mel_filters

ROOT = Path(__file__).resolve().parents[1]
SOUNDS = [ROOT / "assets" / "audio" / f for f in ("speech_en.wav", "speech_ja.wav", "guit_em9.flac")]
SR, WINDOW = 16_000, 480_000
SPECIALS = published.WHISPER_SPECIALS


@pytest.fixture(scope="module", params=list(published.WHISPER))
def whisper(request):
    """(name, transformers extractor, mmtok ModelProcessor) of one Whisper model."""
    name = request.param
    return name, published.whisper_extractor(name), mmtok.ModelProcessor(name)


def _noise(seconds: float, seed: int = 0) -> torch.Tensor:
    """A synthetic clip: quiet noise with a louder tone in it (float32 [S] at 16 kHz)."""
    n = max(1, round(seconds * SR))
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    x = 0.02 * rng.standard_normal(n) + 0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 0.1 * t) > 0)
    return torch.from_numpy(x.astype(np.float32))


def _reference(fe: WhisperFeatureExtractor, wave: torch.Tensor) -> torch.Tensor:
    """The extractor called on each 30 s slice of the clip, the windows stacked: float32 [W, n_mels, 3000]."""
    slices = [wave[i:i + WINDOW].numpy() for i in range(0, len(wave), WINDOW)]
    return torch.cat([fe(s, sampling_rate=SR, return_tensors="pt")["input_features"] for s in slices])


def _encoder_length(fe: WhisperFeatureExtractor, n_samples: int) -> int:
    """The encoder positions the model computes for a clip: per 30 s slice the extractor's frames through the
    encoder's convolutions (WhisperPreTrainedModel._get_feat_extract_output_lengths)."""
    frames = fe.nb_max_frames  # each slice is padded to n_samples (480000) samples: 3000 frames
    per = int(WhisperPreTrainedModel._get_feat_extract_output_lengths(None, torch.tensor(frames)))
    return max(1, len(range(0, n_samples, WINDOW))) * per


def test_registry_and_filterbank():
    assert {"whisper", "whisper-large-v3"} <= set(mmtok.list_models())
    for name in published.WHISPER:
        fe = published.whisper_extractor(name)
        assert torch.equal(mel_filters(fe.feature_size), torch.from_numpy(fe.mel_filters).float()), name
        assert (fe.n_samples, fe.nb_max_frames, fe.hop_length, fe.n_fft, fe.return_attention_mask) == \
            (480000, 3000, 160, 400, False)


@pytest.mark.parametrize("sound", SOUNDS, ids=lambda p: p.name)
def test_features_on_the_bundled_sounds(whisper, sound):
    """A file through hf_inputs == the extractor on the same decoded waveform, bit for bit (<= 30 s: also with
    truncation=False, the long-form call)."""
    name, fe, proc = whisper
    wave = decode_audio(sound)
    out = proc.hf_inputs(mmtok.Audio(sound))
    ref = fe(wave.numpy(), sampling_rate=SR, return_tensors="pt")
    assert set(out) == set(ref) == {"input_features"}
    assert out["input_features"].dtype == torch.float32
    assert out["input_features"].shape == (1, fe.feature_size, 3000)
    assert (out["input_features"] - ref["input_features"]).abs().max().item() == 0.0
    long = fe(wave.numpy(), sampling_rate=SR, truncation=False, return_tensors="pt")["input_features"]
    assert torch.equal(out["input_features"], long)
    assert proc.num_tokens(mmtok.Audio(sound)) == 1500 == proc.segment_length(mmtok.Audio(sound))


@pytest.mark.parametrize("seconds", [0.0001, 0.07, 0.1, 29.9, 29.99, 30.0, 30.01, 75.3, 600.0])
def test_every_window_equals_the_extractor_on_its_slice(whisper, seconds):
    """Longer clips give every 30 s window; each equals the extractor called on that slice (and the extractor
    called on the list of slices); nothing is dropped. The 128-mel model reads 10 min as 3 min (one 10 min clip,
    the 80-mel model's, is enough to keep the suite short)."""
    name, fe, proc = whisper
    if seconds == 600.0 and name == "whisper-large-v3":
        seconds = 180.0
    wave = _noise(seconds, seed=int(seconds * 100))
    out = proc.hf_inputs(mmtok.Audio(wave, sample_rate=SR))["input_features"]
    ref = _reference(fe, wave)
    assert out.shape == ref.shape == (-(-len(wave) // WINDOW), fe.feature_size, 3000)
    assert (out - ref).abs().max().item() == 0.0
    if len(ref) <= 3:
        slices = [wave[i:i + WINDOW].numpy() for i in range(0, len(wave), WINDOW)]
        batch = fe(slices, sampling_rate=SR, return_tensors="pt")["input_features"]
        assert torch.equal(out, batch)
    assert proc.num_tokens(mmtok.Audio(wave, sample_rate=SR)) == 1500 * len(ref)


def test_counts_over_many_durations(whisper):
    """THE count == the encoder length over durations 0.1 s .. 10 min, every window boundary on both sides."""
    name, fe, proc = whisper
    sizes = {1, 159, 160, 1600, WINDOW - 1, WINDOW, WINDOW + 1, 2 * WINDOW, 2 * WINDOW + 1, 20 * WINDOW,
             20 * WINDOW - 1, 20 * WINDOW + 1}
    rng = np.random.default_rng(19)
    sizes |= {int(v) for v in np.exp(rng.uniform(np.log(1600), np.log(600 * SR), 60))}
    for n in sorted(sizes):
        wave = torch.zeros(n)
        assert proc.num_tokens(mmtok.Audio(wave, sample_rate=SR)) == _encoder_length(fe, n), (name, n)
    assert len(sizes) >= 70


def test_other_rates_and_files_count_after_decoding(whisper):
    """The count reads the clip at 16 kHz, as decoded: a 44.1 kHz waveform and the bundled files."""
    name, fe, proc = whisper
    wave = torch.zeros(int(44_100 * 45.5))
    assert proc.num_tokens(mmtok.Audio(wave, sample_rate=44_100)) == 3000
    for sound in SOUNDS:
        assert proc.num_tokens(mmtok.Audio(sound)) == _encoder_length(fe, len(decode_audio(sound)))


@pytest.fixture(scope="module")
def hf_tokenizer():
    """A tiny word-level tokenizer that writes Whisper's prefix and <|endoftext|> (built here, nothing
    downloaded)."""
    return word_tokenizer(["hello", "world", "the", "cat", "."], SPECIALS,
                          template="<|startoftranscript|> <|notimestamps|> $A <|endoftext|>",
                          model_input_names=["input_ids", "attention_mask"])


def test_text_is_the_decoder_prompt(hf_tokenizer):
    """Text with audio: labels, as WhisperProcessor(audio=..., text=...) returns them; text alone: the tokenizer's
    output; counts are the text's own tokens."""
    fe = published.whisper_extractor("whisper")
    proc = mmtok.ModelProcessor("whisper", tokenizer=hf_tokenizer)
    wave = decode_audio(SOUNDS[0])
    hf = HFWhisperProcessor(feature_extractor=fe, tokenizer=hf_tokenizer)
    ref = hf(audio=wave.numpy(), text="hello world .", sampling_rate=SR, return_tensors="pt")
    out = proc.hf_inputs([mmtok.Audio(SOUNDS[0]), "hello world ."])
    assert set(out) == set(ref) == {"input_features", "labels"}
    assert torch.equal(out["labels"], ref["labels"]) and torch.equal(out["input_features"], ref["input_features"])
    ref_text = hf(text="the cat", return_tensors="pt")
    out_text = proc.hf_inputs("the cat")
    assert set(out_text) == {"input_ids", "attention_mask"}
    assert all(torch.equal(out_text[k], ref_text[k]) for k in out_text)
    assert proc.num_tokens("hello world .") == 3 == proc.segment_length("hello world .")
    plain = mmtok.ModelProcessor("whisper")  # mmtok's SentencePiece ids between the default prefix and the end
    labels = plain.hf_inputs([mmtok.Audio(SOUNDS[1]), "hello world"])["labels"]
    n = TextIds(None, SPECIALS).count("hello world")
    assert plain.num_tokens("hello world") == n and labels.shape == (1, n + 3)


def test_pieces_the_model_does_not_take():
    proc = mmtok.ModelProcessor("whisper-large-v3")
    photo = ROOT / "assets" / "images" / "chelsea.png"
    for piece in (mmtok.Image(photo), photo, (224, 224), mmtok.Image(photo, as_="codes"),
                  mmtok.Video(ROOT / "assets" / "video" / "cityCC0.mpg")):
        for call in (proc.num_tokens, proc.segment_length, proc.hf_inputs):
            with pytest.raises(InputError, match=r"whisper-large-v3 takes no (pictures|VQ codes|video) \(Whisper reads audio and text\); give mmtok.Audio"):
                call(piece)


def test_fast_is_the_exact_path():
    exact, fast = mmtok.ModelProcessor("whisper"), mmtok.ModelProcessor("whisper", fast=True)
    a, b = exact.hf_inputs(mmtok.Audio(SOUNDS[2])), fast.hf_inputs(mmtok.Audio(SOUNDS[2]))
    assert torch.equal(a["input_features"], b["input_features"])
    assert fast.num_tokens(mmtok.Audio(SOUNDS[2])) == 1500
