"""Audio: reference equality (Whisper, Gemma 3n, Kaldi), chunked == unchunked, THE count, loading, errors."""

import struct

import av
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mmtok
from mmtok import AudioConfig, AudioTokenizer, log_mel
from mmtok.audio.frontends import KaldiFbank, MelPreset, UsmMel, WhisperMel
from mmtok.audio.presets import HOP_LENGTH, PRESETS, SAMPLE_RATE, min_samples, num_frames, register_preset
from mmtok.errors import ConfigError, DecodeError, InputError, LimitError, UnknownNameError
from mmtok.media.audioio import stream_audio
from sounds import ASSETS, FORMATS, tone, write_audio

SPEECH = ASSETS / "speech_en.wav"
MUSIC = ASSETS / "guit_em9.flac"


def _wave16k(path) -> torch.Tensor:
    return torch.from_numpy(np.concatenate(list(stream_audio(path, target_rate=SAMPLE_RATE, sample_rate=None,
                                                             max_duration=1e9, chunk_seconds=30))))


@pytest.mark.parametrize("n_mels", [80, 128])
@pytest.mark.parametrize("seconds", [0.3, 7.3, 30.0])
def test_whisper_reference_equality(n_mels, seconds):
    import whisper.audio

    x = torch.from_numpy(tone(seconds, SAMPLE_RATE)[0])
    ref = whisper.audio.log_mel_spectrogram(x, n_mels=n_mels).T
    ours = log_mel(x, f"whisper-{n_mels}")
    assert ours.shape == ref.shape == (int(seconds * SAMPLE_RATE) // HOP_LENGTH, n_mels)
    assert (ours - ref).abs().max() <= 1e-3


def test_whisper_reference_on_real_speech():
    import whisper.audio

    x = _wave16k(SPEECH)
    assert (log_mel(x, "whisper-80") - whisper.audio.log_mel_spectrogram(x, n_mels=80).T).abs().max() <= 1e-3


def test_usm_matches_gemma3n_feature_extractor():
    from transformers import Gemma3nAudioFeatureExtractor

    x = _wave16k(SPEECH).numpy()
    ref, _ = Gemma3nAudioFeatureExtractor()._extract_spectrogram(x[None], np.ones(len(x)))
    ours = log_mel(torch.from_numpy(x), "usm-128")
    assert ours.shape == ref.shape and np.abs(ours.numpy() - ref).max() <= 1e-3


def test_kaldi_preset_is_torchaudio_fbank():
    import torchaudio.compliance.kaldi as kaldi

    x = _wave16k(MUSIC)
    ref = kaldi.fbank(x[None] * 32768.0, num_mel_bins=80, sample_frequency=SAMPLE_RATE, dither=0.0)
    assert torch.allclose(log_mel(x, "kaldi-fbank-80"), ref, atol=1e-4)


def test_presets_are_front_end_objects_in_a_registry():
    assert PRESETS.list() == ["whisper-80", "whisper-128", "usm-128", "kaldi-fbank-80"]
    assert [type(PRESETS[n]) for n in PRESETS] == [WhisperMel, WhisperMel, UsmMel, KaldiFbank]
    with pytest.raises(UnknownNameError, match="whisper-99.*whisper-80, whisper-128, usm-128, kaldi-fbank-80"):
        AudioConfig(preset="whisper-99")
    with pytest.raises(UnknownNameError, match="usm-128"):
        log_mel(torch.zeros(SAMPLE_RATE), "usm-64")
    with pytest.raises(ConfigError, match="already registered"):
        register_preset(WhisperMel("whisper-80", 80, 400, 400, 0.0, 8000.0, "a second time"))
    with pytest.raises(ConfigError, match="must be a MelPreset"):
        register_preset("whisper-256")
    with pytest.raises(TypeError):
        MelPreset("abstract", 80, 400, 400, 0.0, 8000.0, "no formula")  # type: ignore[abstract]


@pytest.mark.parametrize("cls, bad", [(WhisperMel, {"n_mels": 0}), (WhisperMel, {"window": 300}),
                                      (UsmMel, {"f_max": 9000.0}), (UsmMel, {"n_fft": 256}),
                                      (KaldiFbank, {"n_fft": 400}), (KaldiFbank, {"f_min": -1.0})])
def test_bad_front_end_numbers_fail_at_construction(cls, bad):
    good = {"name": "x", "n_mels": 80, "window": 400, "n_fft": 512 if cls is KaldiFbank else 400, "f_min": 20.0,
            "f_max": 8000.0, "source": "test"}
    cls(**good)
    with pytest.raises(ConfigError, match=next(iter(bad))):
        cls(**good | bad)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_front_end_facts(preset):
    p = PRESETS[preset]
    assert p.filterbank.shape == (p.n_fft // 2 + 1, p.n_mels) and p.filterbank is p.filterbank  # built once
    assert num_frames(p.min_samples - 1, p) == 0 and num_frames(p.min_samples, p) >= 1
    assert 1000 - p.window // HOP_LENGTH <= p.num_frames(10 * SAMPLE_RATE) <= 1000  # 100 frames/s, less the edges


@pytest.mark.parametrize("preset", ["whisper-80", "whisper-128"])
@pytest.mark.parametrize("k", [1, 37, 511, 513, 1025, 3000])
def test_whisper_blocks_and_bands_give_the_plain_formula(preset, k):
    """WhisperMel.features works in equal blocks of frames, squares re and im in place and sums them with the
    filterbank's bands: within float32 rounding of the plain formula (all k frames at once, the power as
    .pow(2).sum(-1) and the dense filterbank, both in float64, on the same float32 FFT), and the same bits on one
    thread, on two, and into ``out``. (Against a float64 FFT both differ by up to 1e-4 on quiet bins: the FFT's
    float32 round-off, not the mel sum.)"""
    p = PRESETS[preset]
    x = torch.randn((k - 1) * HOP_LENGTH + p.window, generator=torch.Generator().manual_seed(k)) * 0.1
    spec = torch.view_as_real(torch.fft.rfft(x.unfold(0, p.window, HOP_LENGTH) * p.analysis_window, n=p.n_fft))
    plain = (spec.double().pow(2).sum(-1) @ p.filterbank.double()).clamp(min=1e-10).log10()
    ours = p.features(x, k)
    assert ours.dtype == torch.float32 and ours.shape == (k, p.n_mels)
    assert (ours.double() - plain).abs().max() <= 1e-6  # measured 2.6e-7 (the dense float32 formula: the same)
    out = torch.full((k + 2, p.n_mels), 7.0)
    assert p.features(x, k, out=out[1:-1], threads=2) is not None
    assert torch.equal(out[1:-1], ours) and (out[0] == 7).all() and (out[-1] == 7).all()
    assert torch.equal(p.features(x, k, threads=3), ours)


@pytest.mark.parametrize("src, rate", [("wave", 22050), (SPEECH, None), (MUSIC, None), ("mp3", None)],
                         ids=["waveform", "wav", "flac", "mp3"])
def test_encode_fills_one_buffer_sized_up_front(monkeypatch, tmp_path, src, rate):
    """encode() sizes the feature buffer from the waveform's length or the file's header before the first frame,
    and the features and tokens it returns are that buffer (never grown, not copied at the end)."""
    from mmtok.audio import tokenizer

    class Stream(tokenizer._MelStream):
        def reserve(self, n_samples):
            super().reserve(n_samples)
            self.reserved = self.feats

        def finish(self, pad_to=1):
            out = super().finish(pad_to)
            assert self.feats is self.reserved and out.data_ptr() == self.reserved.data_ptr()
            return out

    monkeypatch.setattr(tokenizer, "_MelStream", Stream)
    if src == "wave":
        src = torch.from_numpy(tone(7.3, rate)[0])
    elif src == "mp3":
        src = write_audio(tmp_path / "a.mp3", tone(3.3, 44100, 2), 44100, "mp3")
    t = AudioTokenizer(AudioConfig(stack=7)).encode(src, sample_rate=rate)
    assert t.tokens.data_ptr() == t.features.data_ptr() and t.padded_frames > 0


@pytest.mark.parametrize("rate", [8000, SAMPLE_RATE, 24000])
def test_media_streams_at_the_rate_it_is_given(tmp_path, rate):
    x = tone(1.0, 44100)
    path = write_audio(tmp_path / "a.wav", x, 44100, "wav")
    for src, kw in ((path, {"sample_rate": None}), (torch.from_numpy(x[0]), {"sample_rate": 44100})):
        chunks = list(stream_audio(src, target_rate=rate, max_duration=10, chunk_seconds=0.25, **kw))
        assert sum(map(len, chunks)) == rate and len(chunks[0]) == rate // 4
    with pytest.raises(ConfigError, match="target_rate"):
        list(stream_audio(path, target_rate=0, sample_rate=None, max_duration=10, chunk_seconds=1))


@pytest.mark.parametrize("preset", sorted(PRESETS))
@settings(max_examples=15)
@given(cuts=st.lists(st.integers(1, 9000), min_size=1, max_size=12), extra=st.integers(0, 5000))
def test_chunked_equals_unchunked(preset, cuts, extra):
    from mmtok.audio.tokenizer import _MelStream

    x = tone(0.2 + extra / SAMPLE_RATE + sum(cuts) / SAMPLE_RATE, SAMPLE_RATE)[0]
    whole = log_mel(torch.from_numpy(x), preset)
    s, i = _MelStream(PRESETS[preset]), 0
    for c in cuts:
        s.feed(x[i:i + c])
        i += c
    s.feed(x[i:], last=bool(extra % 2))  # the last piece said to be the last (log_mel, encode) or not
    assert torch.allclose(s.finish(), whole, atol=1e-5, rtol=0)


def test_chunk_size_does_not_change_file_results():
    a = AudioTokenizer(AudioConfig(chunk_seconds=1)).encode(MUSIC)
    b = AudioTokenizer(AudioConfig(chunk_seconds=600)).encode(MUSIC)
    assert a.num_samples == b.num_samples and torch.allclose(a.features, b.features, atol=1e-5)


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("stack", [1, 4, 7])
@settings(max_examples=25)
@given(n=st.integers(520, 60_000))
def test_num_tokens_matches_encode(preset, stack, n):
    tok = AudioTokenizer(AudioConfig(preset=preset, stack=stack))
    tokens = tok.encode(torch.zeros(n).uniform_(-0.1, 0.1), sample_rate=SAMPLE_RATE)
    assert len(tokens.tokens) == tok.num_tokens(tokens.duration) == -(-num_frames(n, PRESETS[preset]) // stack)
    assert tokens.tokens.shape[1] == stack * PRESETS[preset].n_mels
    assert tokens.padded_frames == (-len(tokens.features)) % stack
    spans = tokens.spans
    assert spans[0, 0] == 0 and spans[-1, 1] == tokens.duration and (spans[1:, 0] == spans[:-1, 1]).all()


def test_default_rate_is_25_tokens_per_second():
    tok = AudioTokenizer()
    assert tok.config.preset == "usm-128" and tok.config.tokens_per_second == 25
    assert tok.config == mmtok.LAYOUTS["gemini-like"].audio == mmtok.AudioConfig()  # one default, say the docs
    x = tone(1.0, SAMPLE_RATE)[0]
    assert torch.equal(log_mel(torch.from_numpy(x)), log_mel(torch.from_numpy(x), "usm-128"))
    assert tok.num_tokens(10.0) == 250 and tok.num_tokens(3600.0) == 90_000


def test_batch_equals_one_at_a_time():
    tok = AudioTokenizer()
    srcs = [SPEECH, MUSIC, SPEECH]
    for a, b in zip(tok.encode_batch(srcs), [tok.encode(s) for s in srcs]):
        assert torch.equal(a.tokens, b.tokens)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 192000])
def test_ffmpeg_and_torchaudio_resampling_agree(tmp_path, rate):
    x = tone(3.0, rate)
    path = write_audio(tmp_path / "a.f32.wav", x, rate, "f32.wav")
    a = _wave16k(path)
    b = torch.from_numpy(np.concatenate(list(stream_audio(torch.from_numpy(x[0]), target_rate=SAMPLE_RATE,
                                                          sample_rate=rate, max_duration=1e9, chunk_seconds=30))))
    assert len(a) == len(b) == 48000
    d = (a - b)[160:-160]
    assert d.pow(2).mean().sqrt() <= 2e-3  # stated tolerance: RMS difference <= 2e-3 of full scale
    assert (log_mel(a, "whisper-80") - log_mel(b, "whisper-80")).abs().mean() <= 0.025  # in Whisper's units


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_common_formats(tmp_path, kind):
    path = write_audio(tmp_path / f"a.{kind}", tone(2.0, 44100, 2), 44100, kind)
    tokens = AudioTokenizer().encode(path)
    assert abs(tokens.duration - 2.0) < 0.06 and tokens.sample_rate == SAMPLE_RATE and tokens.channels == 2


@pytest.mark.parametrize("channels, rate", [(1, 8000), (8, 48000), (2, 192000), (6, 44100)])
def test_odd_inputs_simply_work(tmp_path, channels, rate):
    path = write_audio(tmp_path / "a.wav", tone(1.5, rate, channels), rate, "wav")
    tokens = AudioTokenizer().encode(path)
    # usm-128 (the default): (24000 - 513) // 160 + 1 = 147 frames -> 37 tokens of 4
    assert tokens.channels == channels and tokens.source_rate == rate and len(tokens.tokens) == 37


@pytest.mark.parametrize("channels", [3, 12])
def test_wav_without_a_channel_layout(tmp_path, channels):
    import wave

    x = tone(1.5, 44100, channels)
    path = tmp_path / "plain.wav"  # plain PCM WAV: FFmpeg knows the channel count but no layout
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(np.round(x.T * 32767).astype("<i2").tobytes())
    ours = _wave16k(path)
    pcm = torch.from_numpy(np.round(x * 32767) / 32768).float()
    ref = torch.from_numpy(np.concatenate(list(stream_audio(pcm, target_rate=SAMPLE_RATE, sample_rate=44100,
                                                            max_duration=1e9, chunk_seconds=30))))
    assert len(ours) == len(ref) == 24000 and (ours - ref)[160:-160].pow(2).mean().sqrt() <= 2e-3


def test_mono_is_the_mean_of_channels():
    x = tone(1.0, SAMPLE_RATE, 2)
    a = AudioTokenizer().encode(torch.from_numpy(x), sample_rate=SAMPLE_RATE)
    b = AudioTokenizer().encode(torch.from_numpy(x.mean(0)), sample_rate=SAMPLE_RATE)
    assert torch.equal(a.features, b.features)


def test_encode_restores_torch_threads():
    before = torch.get_num_threads()
    AudioTokenizer().encode(MUSIC)
    with pytest.raises(LimitError):
        AudioTokenizer(AudioConfig(max_duration=5.0)).encode(MUSIC)
    assert torch.get_num_threads() == before


def test_silence_works():
    tokens = AudioTokenizer().encode(torch.zeros(SAMPLE_RATE), sample_rate=SAMPLE_RATE)
    assert len(tokens.tokens) == 25 and torch.isfinite(tokens.tokens).all()


def test_audio_track_of_a_video(tmp_path):
    from sounds import clip_with_sound

    tokens = AudioTokenizer().encode(clip_with_sound(tmp_path / "av.mp4", seconds=1.0))
    assert 0.9 < tokens.duration < 1.1


def test_real_speech_and_music():
    tok = AudioTokenizer()
    speech, music = tok.encode(SPEECH), tok.encode(MUSIC)
    assert speech.source_rate == 22050 and abs(speech.duration - 8.083) < 1e-3
    assert music.source_rate == 44100 and music.channels == 2 and abs(music.duration - 9.972) < 1e-3
    assert len(music.tokens) == tok.num_tokens(music.duration) == 249  # usm-128: 995 frames


def test_segment_in_a_sequence(vocab, text_tok):
    tok = AudioTokenizer()
    tokens = tok.encode(SPEECH)
    seg = tok.segment(tokens, vocab)
    seq = mmtok.pack([text_tok.segment(text_tok.encode("Listen:")), seg], vocab)
    assert torch.equal(seq.features["audio"], tokens.tokens)
    assert len(seg) == len(tokens.tokens) + 2 and seg.meta.tokens_per_second == 25
    assert seg.meta.duration == tokens.duration and seg.meta.preset == "usm-128"


# measured on the bundled speech (2026-11-22): whisper 0.042 / 0.034, usm 1.07 / 0.84, kaldi 2.35 / 1.39
@pytest.mark.parametrize("preset, bound, loud_bound", [("whisper-80", 0.08, 0.06), ("usm-128", 1.5, 1.2),
                                                       ("kaldi-fbank-80", 3.0, 2.0)])
def test_griffin_lim_round_trip_is_reported(preset, bound, loud_bound):
    tok = AudioTokenizer(AudioConfig(preset=preset))
    tokens = tok.encode(SPEECH)
    report = tok.roundtrip(tokens)
    assert report["waveform"].shape == (tokens.num_samples,) and report["units"] == tok.config.mel.units != ""
    assert report["mel_mean_abs"] <= bound and report["mel_mean_abs_loud"] <= loud_bound


# --- errors -------------------------------------------------------------------------------------------------
def _wav_claiming(path, seconds: float):
    write_audio(path, tone(0.5, SAMPLE_RATE), SAMPLE_RATE, "wav")
    data = bytearray(path.read_bytes())
    i = data.index(b"data")
    data[i + 4:i + 8] = struct.pack("<I", int(seconds * SAMPLE_RATE * 2))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("make, error, message", [
    (lambda d: d / "missing.wav", InputError, "no such audio file"),
    (lambda d: (d / "empty.wav").write_bytes(b"") == 0 and d / "empty.wav", DecodeError, "empty"),
    (lambda d: (d / "noise.mp3").write_bytes(np.random.default_rng(0).bytes(4000)) and d / "noise.mp3",
     DecodeError, "noise.mp3"),
    (lambda d: _wav_claiming(d / "ten_hours.wav", 36000), DecodeError, "ten_hours.wav is truncated"),
    (lambda d: torch.zeros(0), InputError, "0 samples"),
    (lambda d: torch.tensor([0.0, float("nan"), 0.0] * 400), InputError, "NaN or infinite.*sample 1"),
    (lambda d: torch.zeros(100), InputError, "too short"),
    (lambda d: torch.zeros(5, 2, 2), InputError, "must be"),
    (lambda d: torch.zeros(SAMPLE_RATE, dtype=torch.int16), InputError, "must be float"),
    (lambda d: 7, InputError, "cannot read audio"),
])
def test_bad_inputs(tmp_path, make, error, message):
    src = make(tmp_path)
    kw = {"sample_rate": SAMPLE_RATE} if isinstance(src, torch.Tensor) else {}
    with pytest.raises(error, match=message):
        AudioTokenizer().encode(src, **kw)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_a_float_wav_file(tmp_path, value):
    x = tone(1.0, SAMPLE_RATE)
    x[0, 5000] = value
    path = write_audio(tmp_path / "bad.f32.wav", x, SAMPLE_RATE, "f32.wav")
    with pytest.raises(InputError, match=r"bad.f32.wav holds NaN or infinite samples \(first at sample 5000, "
                                         rf"0.312 s at {SAMPLE_RATE} Hz\); replace them"):
        AudioTokenizer().encode(path)


@pytest.mark.parametrize("kind", ["wav", "flac"])
def test_truncated_files(tmp_path, kind):
    path = write_audio(tmp_path / f"a.{kind}", tone(4.0, 44100, 2), 44100, kind)
    data = path.read_bytes()
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="truncated"):
        AudioTokenizer().encode(cut)


def test_no_audio_stream(tmp_path):
    path = tmp_path / "silent.mp4"
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        for p in v.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")):
            out.mux(p)
        for p in v.encode(None):
            out.mux(p)
    with pytest.raises(DecodeError, match=r"silent.mp4 has no audio stream \(streams found: video\); it is a silent "
                                          r"video: tokenize it as video"):
        AudioTokenizer().encode(path)


def test_limits_and_config():
    with pytest.raises(LimitError, match="max_duration=1"):
        AudioTokenizer(AudioConfig(max_duration=1.0)).encode(torch.zeros(40000), sample_rate=SAMPLE_RATE)
    with pytest.raises(LimitError, match="max_duration=5"):
        AudioTokenizer(AudioConfig(max_duration=5.0)).encode(MUSIC)
    for kw in ({"preset": "whisper-99"}, {"stack": 0}, {"max_duration": -1}, {"chunk_seconds": 0.1}):
        with pytest.raises(ConfigError):
            AudioConfig(**kw)
    with pytest.raises(InputError, match="sample_rate is only for waveform"):
        AudioTokenizer().encode(MUSIC, sample_rate=SAMPLE_RATE)
    with pytest.raises(InputError, match="needs its sample_rate"):
        AudioTokenizer().encode(torch.zeros(SAMPLE_RATE))
    assert min_samples(PRESETS["whisper-80"]) == 201
