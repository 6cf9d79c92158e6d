"""MultimodalTokenizer: one front door (native and Hugging Face style), exact decode, per-token provenance."""

from pathlib import Path

import pytest
import torch

import mmtok
from mmtok import Audio, Image, Modality, MultimodalTokenizer, Video
from mmtok.errors import ConfigError, InputError

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "assets/images/chelsea.png"
CLIP = ROOT / "assets/video/cityCC0.mpg"
SPEECH = ROOT / "assets/audio/speech_en.wav"


@pytest.fixture(scope="module")
def tok():
    t = MultimodalTokenizer.default()
    t._vq = mmtok.VQImageTokenizer.from_config("vq-f8-4096", seed=0)  # the shipped weights are tested elsewhere
    return t


@pytest.fixture(scope="module")
def mixed(tok):
    contents = ["Describe 👋 ", Image(PHOTO), " and ", Video(CLIP), Audio(SPEECH), Image(PHOTO, as_="codes"), " now."]
    return contents, tok(contents)


def test_lengths_are_the_sum_of_each_module_count(tok, mixed):
    contents, seq = mixed
    text = tok.text
    want = 1  # <bos>
    want += text.num_tokens("Describe 👋 ") + text.num_tokens(" and ") + text.num_tokens(" now.")
    want += tok.image.num_tokens(300, 451) + tok.image.plan(300, 451).num_markers
    want += tok.video.num_tokens(405, 720) + 16 * 2 + 2
    audio_seconds = seq.spans[5].meta.duration
    want += tok.audio.num_tokens(audio_seconds) + 2
    want += tok.vq.num_tokens(300, 451) + 2
    assert len(seq) == want
    assert [s.modality for s in seq.spans] == [Modality.CONTROL, Modality.TEXT, Modality.IMAGE, Modality.TEXT,
                                              Modality.VIDEO, Modality.AUDIO, Modality.IMAGE_CODES, Modality.TEXT]


def test_decode_gives_the_contents_back(tok, mixed):
    contents, seq = mixed
    out = tok.decode(seq)
    assert out[0] == contents[0] and out[2] == contents[2] and out[6] == contents[6]
    assert torch.equal(out[1].pixels, tok.image.preprocess(PHOTO)) and out[1].as_ == "patches"
    video = tok.video.encode(CLIP)
    assert torch.equal(out[3].frames, tok.video.decode(video)) and out[3].timestamps == video.timestamps.tolist()
    assert out[4].waveform.shape == (round(seq.spans[5].meta.duration * 16000),)
    codes = tok.vq.encode(PHOTO)
    assert out[5].as_ == "codes" and torch.equal(out[5].pixels, tok.vq.decode(codes))


def test_save_load_decode(tok, mixed, tmp_path):
    _, seq = mixed
    seq.save(tmp_path)
    back = mmtok.TokenSequence.load(tmp_path)
    assert back.equals(seq)
    assert torch.equal(tok.decode(back)[1].pixels, tok.decode(seq)[1].pixels)


def test_hugging_face_style_equals_native(tok):
    hf = tok(text=["Describe <image> then <audio>.", "Only text"], images=[PHOTO], audio=[SPEECH],
             return_tensors="pt")
    native = [tok(["Describe ", Image(PHOTO), " then ", Audio(SPEECH), "."]), tok(["Only text"])]
    for row, seq in enumerate(native):
        n = len(seq)
        assert torch.equal(hf["input_ids"][row, :n], seq.input_ids)
        assert torch.equal(hf["positions_3d"][row, :, :n], seq.positions_3d)
        assert int(hf["attention_mask"][row].sum()) == n
    assert torch.equal(hf["features"]["image"], native[0].features["image"])
    assert torch.equal(hf["features"]["audio"], native[0].features["audio"])
    assert hf["grids"]["image"].tolist() == [[14, 14]] and "video" not in hf["grids"]
    # the batch gives back the sequences the native call makes, and is the same Batch collate makes
    assert isinstance(hf, mmtok.Batch) and list(hf) == list(mmtok.collate(native))
    back = mmtok.uncollate(hf)
    assert len(back) == 2 and all(a.equals(b) for a, b in zip(back, native))
    # labels, from each native sequence: its ids but -100 at its first token and at placeholders; -100 on padding
    ph = {tok.vocab.placeholder(m) for m in (Modality.IMAGE, Modality.VIDEO, Modality.AUDIO)}
    for row, seq in enumerate(native):
        want = [t if j and t not in ph else -100 for j, t in enumerate(seq.input_ids.tolist())]
        want += [-100] * (hf["labels"].shape[1] - len(seq))
        assert hf["labels"][row].tolist() == want
    clip = tok(text="<video>", videos=[CLIP], return_tensors="pt")
    assert clip["grids"]["video"].tolist() == [[14, 14]] * 16
    assert len(clip["features"]["video"]) == 16 * 14 * 14
    lists = tok(text="Hi <image>", images=[PHOTO])
    assert isinstance(lists["input_ids"], list) and isinstance(lists["features"]["image"], list)
    assert lists["labels"] == tok(text="Hi <image>", images=[PHOTO], return_tensors="pt")["labels"].tolist()


def test_grids_cover_the_feature_rows_of_tiles():
    """``grids``: one (rows, cols) per block of a tiled picture (thumbnail and tiles), covering its feature rows."""
    seq = MultimodalTokenizer("tiles")([Image(PHOTO)])
    grids = mmtok.collate([seq])["grids"]["image"]
    meta = seq.spans[1].meta
    assert meta.blocks > 1 and grids.tolist() == [list(meta.grid)] * meta.blocks
    assert int(grids.prod(1).sum()) == len(seq.features["image"])


@pytest.mark.parametrize("kw, message", [
    ({"text": "<image> <image>", "images": [PHOTO]}, r"2 <image> placeholder\(s\) but 1 image"),
    ({"text": "no placeholder", "audio": [SPEECH]}, r"0 <audio> placeholder\(s\) but 1 audio"),
    ({"text": "x", "return_tensors": "np"}, "return_tensors"),
])
def test_hugging_face_style_errors(tok, kw, message):
    with pytest.raises(InputError, match=message):
        tok(**kw)


def test_batch_and_bad_pieces(tok):
    seqs = tok([["a", Image(PHOTO)], ["b"]])
    assert len(seqs) == 2 and seqs[1].unpack()[1].modality == Modality.TEXT
    with pytest.raises(InputError, match="piece 0 is a int"):
        tok([3])
    with pytest.raises(ConfigError, match="as_="):
        Image(PHOTO, as_="pixels")
    with pytest.raises(ConfigError, match="unknown layout"):
        MultimodalTokenizer("gemini-2")
    with pytest.raises(ConfigError, match="already registered"):
        mmtok.multimodal.tokenizer.register_layout(mmtok.LayoutPreset("gemini-like"))


def test_every_token_has_provenance(tok, mixed):
    contents, seq = mixed
    tab = seq.provenance_table()
    assert (tab["span"] >= 0).all() and len(tab["span"]) == len(seq)
    spans = seq.spans
    # text: character spans cover the string in order
    s = spans[1]
    ch = tab["chars"][s.start:s.end]
    assert ch[0, 0] == 0 and ch[-1, 1] == len(contents[0]) and (ch[1:, 0] >= ch[:-1, 0]).all()
    # image patches: boxes tile the original picture
    s = spans[2]
    b = tab["box"][s.start:s.end]
    b = b[~torch.isnan(b[:, 0])]
    assert len(b) == 196 and torch.isclose(((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).sum(),
                                           torch.tensor(451.0 * 300, dtype=torch.float64))
    # video: every patch knows its frame and time, 196 per frame
    s = spans[4]
    f = tab["frame"][s.start:s.end]
    assert torch.equal(torch.bincount(f[f >= 0]), torch.full((16,), 196))
    # audio: time spans tile [0, duration)
    s = spans[5]
    t = tab["time"][s.start + 1:s.end - 1]
    assert t[0, 0] == 0 and t[-1, 1] == s.meta.duration and torch.equal(t[1:, 0], t[:-1, 1])
    # image codes: cells tile the centre square of the original
    s = spans[6]
    b = tab["box"][s.start + 1:s.end - 1]
    assert torch.isclose(((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).sum(), torch.tensor(300.0 * 300, dtype=torch.float64))
    one = seq.provenance(spans[4].start + 1 + 1)
    assert one["modality"] == "video" and one["frame"] == 0 and "box" in one and "time" in one


def test_a_clip_with_its_sound_is_one_span_interleaved_by_time(tok, tmp_path):
    """Video(src, audio=True) is ONE video span (one table row) holding 16 frame blocks, each followed by the audio
    tokens that start in its frame's sampling interval; the slices keep their own intervals; the tensors, the
    round trips (pack, save, decode), the budget and the HF-style grids agree with it."""
    from mmtok.cli import summary_table
    from mmtok.core.meta import VideoAudioMeta
    from sounds import clip_with_sound

    path = clip_with_sound(tmp_path / "av.mp4", seconds=2.0)  # 2 s at 25 fps (a frame lasts 0.04 s), a tone
    seq = tok(["clip:", Video(path, audio=True), "done"])
    assert [s.modality for s in seq.spans] == [Modality.CONTROL, Modality.TEXT, Modality.VIDEO, Modality.TEXT]
    clip = seq.spans[2]
    m = clip.meta
    assert isinstance(m, VideoAudioMeta) and m.num_frames == 16 and m.duration == 2.0
    rows = summary_table(seq).splitlines()
    assert len(rows) == 1 + 4 + 1 and sum("av.mp4" in r for r in rows) == 1 and "video+audio" in rows[3]
    audio, video = tok.audio.encode(path), tok.video.encode(path)
    assert clip.sound_features == len(audio.tokens) == tok.audio.num_tokens(audio.duration) == sum(m.slice_tokens)
    assert clip.num_features == 16 * 196 and m.sound == tok.audio.segment(audio).meta
    assert torch.equal(seq.features["audio"], audio.tokens) and torch.equal(seq.features["video"], video.patches)
    # layout: frame i's block, then its slice's audio run; the runs (markers too) are audio tokens
    ids, mod = seq.input_ids[clip.start:clip.end], seq.modality[clip.start:clip.end]
    v = tok.vocab
    frame_ends = (ids == v.special("<end_of_frame>")).nonzero()[:, 0]
    run_starts, run_ends = ((ids == v.special(n)).nonzero()[:, 0] for n in ("<start_of_audio>", "<end_of_audio>"))
    assert torch.equal(run_starts, frame_ends + 1)
    assert torch.equal(run_ends - run_starts - 1, torch.tensor(m.slice_tokens))
    in_run = torch.zeros(len(ids), dtype=torch.bool)
    for a, b in zip(run_starts.tolist(), run_ends.tolist()):
        in_run[a:b + 1] = True
    assert (mod[in_run] == int(Modality.AUDIO)).all() and (mod[~in_run] == int(Modality.VIDEO)).all()
    # each slice keeps its own interval; its tokens start inside it (the last slice also takes those past the end)
    assert m.slices[0] == (0.0, 0.125) and m.slices[-1] == (1.875, 2.0)
    first = 0
    for (lo, hi), n in zip(m.slices, m.slice_tokens):
        starts = audio.spans[first:first + n, 0]
        assert (starts >= lo - 1e-9).all() and (starts < hi).all() or (lo, hi) == m.slices[-1]
        first += n
    # provenance: an audio token's own time span, a patch its frame's display interval (0.04 s at 25 fps)
    tab = seq.provenance_table()
    sound = (seq.input_ids == v.placeholder(Modality.AUDIO))
    assert torch.equal(tab["time"][sound], audio.spans.double())
    patches = seq.input_ids == v.placeholder(Modality.VIDEO)
    t, f = tab["time"][patches], tab["frame"][patches]
    assert torch.allclose(t[:, 1] - t[:, 0], torch.full((len(t),), 0.04, dtype=torch.float64))
    assert torch.equal(t[:, 0], video.timestamps[f]) and torch.equal(torch.bincount(f), torch.full((16,), 196))
    p = seq.provenance(int(sound.nonzero()[0, 0]))
    assert p["modality"] == "audio" and p["placeholder"] and p["span"] == 2 and "box" not in p
    # round trips
    assert mmtok.pack(seq.unpack(), seq.vocab).equals(seq)
    seq.save(tmp_path / "seq")
    assert mmtok.TokenSequence.load(tmp_path / "seq").equals(seq)
    out = tok.decode(seq)
    assert len(out) == 3 and out[0] == "clip:" and out[2] == "done"
    assert torch.equal(out[1].frames, tok.video.decode(video)) and out[1].audio.shape == (audio.num_samples,)
    assert mmtok.budget(["clip:", Video(path, audio=True), "done"], ["mmtok"], tokenizer=tok)[0]["total"] == len(seq)
    grids = mmtok.collate([seq])["grids"]  # one grid per frame, none for <end_of_video> (it has no rows)
    assert grids["video"].tolist() == [[14, 14]] * 16 and "audio" not in grids
    hf = tok(text="clip: <video>", videos=[Video(path, audio=True)], return_tensors="pt")
    assert hf["grids"]["video"].tolist() == [[14, 14]] * 16 and hf["features"]["audio"].shape == audio.tokens.shape
    tab = seq.provenance_table()
    frames = tab["frame"][tab["frame"] >= 0]
    assert frames.min() == 0 and frames.max() == 15 and (frames[1:] >= frames[:-1]).all()
    t = tab["time"][seq.modality == int(Modality.AUDIO)]
    t = t[~torch.isnan(t[:, 0])]
    assert t[0, 0] == 0 and torch.equal(t[1:, 0], t[:-1, 1]) and t[-1, 1] == audio.duration


def test_text_far_past_the_context_is_refused_before_tokenizing(tok, monkeypatch):
    """10 MB of text cannot fit in 32,768 tokens: refused from a cheap lower bound, with no pieces made."""
    calls = []
    encode = tok.text.encode
    monkeypatch.setattr(tok.text, "encode", lambda t: calls.append(len(t)) or encode(t))
    big = "lorem ipsum dolor sit amet " * 400_000
    with pytest.raises(mmtok.ContextLengthError, match=r"exceeds the context limit of 32,768: contents\[1\], text "
                                                        r"of 10,800,000 characters, needs at least [\d,]+ .*split"):
        tok(["a caption", big])
    assert calls == [len("a caption")]
    # near the limit the bound does not fire: the exact check in pack names the crossing segment
    near = "word " * 40_000  # ~40,000 tokens, bound ~4,200
    with pytest.raises(mmtok.ContextLengthError, match="segment 1"):
        tok([near])
    # truncate=True keeps what fits and records the rest, as before (the exact length of what was dropped)
    seq = tok(["a caption", near], truncate=True)
    assert seq.input_ids.tolist() == tok(["a caption"]).input_ids.tolist()
    assert seq.truncation["kept_segments"] == 2 and seq.truncation["original_segments"] == 3
    assert seq.truncation["original_length"] == len(seq) + tok.text.num_tokens(near)
