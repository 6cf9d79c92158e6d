"""save / load: exact round trips, and every tampered manifest is refused with a ManifestError."""

import json
import os
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import mmtok
from mmtok import Modality, TokenSequence, pack
from mmtok.errors import ManifestError
from strategies import segment_lists

VOCAB = mmtok.TextTokenizer.default().vocab


@given(segment_lists(VOCAB))
def test_save_load_exact(tmp_path_factory, segs):
    seq = pack(segs, VOCAB)
    d = tmp_path_factory.mktemp("seq")
    seq.save(d)
    back = TokenSequence.load(d)
    assert back.equals(seq)
    assert back.unpack() == segs
    json.dumps(seq.to_manifest())  # JSON-serializable, no tensors


@pytest.fixture
def saved(tmp_path, text_tok, vocab):
    img = vocab.placeholder(Modality.IMAGE)
    segs = [text_tok.segment(text_tok.encode("look:"), source="prompt"),
            mmtok.Segment(Modality.IMAGE, torch.tensor([img] * 4), mmtok.grid_positions(1, 2, 2),
                          torch.randn(4, 6), {"grid": [2, 2], "source": "x.png"}),
            text_tok.segment(text_tok.encode(" done"))]
    seq = pack(segs, vocab, max_length=64)
    seq.save(tmp_path)
    return tmp_path, seq


def _edit(d, fn):
    m = json.loads((d / "manifest.json").read_text())
    fn(m)
    (d / "manifest.json").write_text(json.dumps(m))


def test_vocab_must_match(saved, text_tok):
    d, seq = saved
    assert TokenSequence.load(d, vocab=seq.vocab).equals(seq)
    with pytest.raises(ManifestError, match="was made with"):
        TokenSequence.load(d, vocab=text_tok.make_vocab(image_codes=8))


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(length=m["length"] + 1), "lengths disagree"),
    (lambda m: m["input_ids"].append(5), "lengths disagree"),
    (lambda m: m["input_ids"].__setitem__(0, 10**7), "outside the unified vocabulary"),
    (lambda m: m["input_ids"].__setitem__(0, -3), "outside the unified vocabulary"),
    (lambda m: m["input_ids"].__setitem__(0, 1.5), "list of ints"),
    (lambda m: m["input_ids"].__setitem__(0, m["input_ids"][3]), "placeholders of another modality"),
    (lambda m: m["modality"].__setitem__(0, 3), "stored modality disagree"),
    (lambda m: m["positions_3d"][1].__setitem__(0, 1), "read one after another"),
    (lambda m: [m["positions_3d"][a].__setitem__(0, 1) for a in range(3)], "offset 0 does not match"),
    (lambda m: m["positions"].__setitem__(2, 9), "stored positions disagree"),
    (lambda m: m["spans"][1].update(num_features=3), "stored but spans use|placeholder ids but"),
    (lambda m: m["spans"][1].update(start=0), "must tile"),
    (lambda m: m["spans"].pop(), "spans cover tokens"),
    (lambda m: m["spans"][0].update(meta=[1]), "meta must be a dict"),
    (lambda m: m["spans"][0].update(modality="smell"), "unknown modality"),
    (lambda m: m["features"]["image"].update(shape=[5, 6]), "the manifest says"),
    (lambda m: m["features"].pop("image"), "declares features"),
    (lambda m: m.update(max_length=2), "max_length"),
    (lambda m: m.update(format="other/9"), "not an mmtok sequence manifest"),
    (lambda m: m["vocab"].update(special_tokens=["<pad>"]), "other special tokens"),
    (lambda m: m.update(truncation=[1]), "truncation"),
    (lambda m: m.update(features_file="../features.safetensors"), "plain file name"),
    (lambda m: m.update(features_file="/etc/passwd"), "plain file name"),
    (lambda m: m.update(features_file="gone.safetensors"), "is missing"),
])
def test_tampered_manifest_is_refused(saved, edit, message):
    d, _ = saved
    _edit(d, edit)
    with pytest.raises(ManifestError, match=message):
        TokenSequence.load(d)


def test_features_file_outside_folder_via_symlink(saved, tmp_path_factory):
    d, _ = saved
    outside = tmp_path_factory.mktemp("outside") / "f.safetensors"
    os.replace(d / "features.safetensors", outside)
    os.symlink(outside, d / "features.safetensors")
    with pytest.raises(ManifestError, match="outside the manifest's folder"):
        TokenSequence.load(d)


def test_a_save_replaces_the_previous_one_with_the_umasks_mode(saved, text_tok, vocab):
    """Both files get the mode a new file gets (safetensors alone made its file 0600), and a save without features
    removes the features file of an earlier save, so that the folder holds exactly the new sequence."""
    d, seq = saved
    old = os.umask(0o022)
    try:
        seq.save(d)
        assert {(p.name, p.stat().st_mode & 0o777) for p in d.iterdir()} == {("manifest.json", 0o644),
                                                                            ("features.safetensors", 0o644)}
        text_only = pack([text_tok.segment(text_tok.encode("only words"))], vocab, max_length=64)
        os.umask(0o027)
        text_only.save(d)
        assert {(p.name, p.stat().st_mode & 0o777) for p in d.iterdir()} == {("manifest.json", 0o640)}
    finally:
        os.umask(old)
    assert TokenSequence.load(d).equals(text_only)


def test_broken_files(saved, tmp_path):
    d, _ = saved
    (d / "features.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ManifestError, match="not valid safetensors"):
        TokenSequence.load(d)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not a readable JSON manifest"):
        TokenSequence.load(d)
    with pytest.raises(ManifestError, match="does not exist"):
        TokenSequence.load(tmp_path / "nowhere")


def test_features_file_with_other_tensors(saved):
    from safetensors.torch import save_file

    d, _ = saved
    save_file({"image": torch.randn(4, 6), "audio": torch.randn(2, 2)}, str(d / "features.safetensors"))
    with pytest.raises(ManifestError, match="declares features"):
        TokenSequence.load(d)


def _leaves(x, path=()):
    """Every (path, value) in a JSON tree, containers included."""
    yield path, x
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _leaves(v, path + (i,))


def _replace(tree, path, value):
    if not path:
        return value
    out = dict(tree) if isinstance(tree, dict) else list(tree)
    out[path[0]] = _replace(tree[path[0]], path[1:], value)
    return out


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
                           | st.text(max_size=8), lambda c: st.lists(c, max_size=3)
                           | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=6)


@given(data=st.data())
def test_any_mutated_manifest_loads_or_is_refused(tmp_path_factory, data):
    """Fuzz: replace any one node of a real manifest with any JSON value; loading gives back a valid sequence
    (the change was harmless) or raises an MmtokError — never another exception."""
    from mmtok.core.sequence import from_manifest

    img = VOCAB.placeholder(Modality.IMAGE)
    tok = mmtok.TextTokenizer.default()
    seq = pack([tok.segment(tok.encode("look:")), mmtok.Segment(Modality.IMAGE, torch.tensor([img] * 4),
                                                      mmtok.grid_positions(1, 2, 2), torch.randn(4, 6),
                                                      {"grid": [2, 2], "source": "x.png"}), tok.segment(tok.encode(" ok"))],
               VOCAB, max_length=64)
    manifest = seq.to_manifest()
    leaves = list(_leaves(manifest))
    path, _ = data.draw(st.sampled_from(leaves))
    mutated = _replace(manifest, path, data.draw(JSON_VALUES))
    try:
        back = from_manifest(json.loads(json.dumps(mutated)), {"image": seq.features["image"]})
    except mmtok.MmtokError:
        return
    assert isinstance(back, TokenSequence)
    assert len(back.input_ids) == len(back.modality) == len(back.positions)


def test_a_manifest_of_mmtok_0_1_loads():
    """tests/fixtures/manifest-0.1 was written by mmtok 0.1 (format mmtok.sequence/1, plain metadata dicts): text,
    image, video, audio, image codes, a tiled image and a clip with its sound. It loads into typed metadata and
    saves again in the current format, equal field by field."""
    import tempfile

    from mmtok.core.meta import AudioMeta, CodesMeta, ImageMeta, VideoAudioMeta, VideoMeta

    folder = Path(__file__).parent / "fixtures" / "manifest-0.1"
    assert json.loads((folder / "manifest.json").read_text())["format"] == "mmtok.sequence/1"
    seq = TokenSequence.load(folder)
    assert len(seq) == 1301
    kinds = [type(s.meta).__name__ for s in seq.spans]
    assert kinds == ["ControlMeta", "TextMeta", "ImageMeta", "VideoMeta", "AudioMeta", "CodesMeta", "ImageMeta",
                     "VideoAudioMeta"]  # the clip with its sound, 5 spans in the file, is one span
    image, video, audio, codes, tiles = (s.meta for s in seq.spans[2:7])
    assert isinstance(image, ImageMeta) and image.grid == (2, 2) and image.source == "assets/images/chelsea.png"
    assert isinstance(video, VideoMeta) and video.num_frames == 2 and video.pts is None
    assert isinstance(audio, AudioMeta) and audio.preset == "whisper-80" and audio.stack == 8
    assert isinstance(codes, CodesMeta) and codes.grid == (32, 32)
    assert tiles.blocks > 1 and tiles.tile_grid is not None
    clip = seq.spans[7]  # the file's stored ids, modalities and positions verified against it as loading checks
    assert isinstance(clip.meta, VideoAudioMeta)
    assert (clip.start, clip.length, clip.num_features, clip.sound_features) == (1270, 31, 8, 13)  # file: 7+9+6+8+1
    assert clip.meta.slices == ((0.0, 0.5), (0.5, 1.0)) and clip.meta.slice_tokens == (7, 6)
    assert clip.meta.timestamps == (0.24, 0.72) and clip.meta.sound.preset == "whisper-80"
    sound = [seq.provenance(i) for i in range(clip.start, clip.end) if seq.modality[i] == int(Modality.AUDIO)]
    # the second slice's first token: token 7 of 13 at 8 x 10 ms per token
    assert [p["time"] for p in sound if p["placeholder"]][7] == pytest.approx([0.56, 0.64])
    # provenance and decoding work on it
    assert seq.provenance(seq.spans[2].start + 1)["box"] == [0.0, 0.0, 225.5, 150.0]  # 451 x 300 squashed to 2 x 2 patches
    assert seq.provenance(seq.spans[4].start + 1)["time"] == [0.0, 0.08]
    with tempfile.TemporaryDirectory() as d:
        seq.save(d)
        assert json.loads((Path(d) / "manifest.json").read_text())["format"] == "mmtok.sequence/3"
        assert TokenSequence.load(d).equals(seq)


def test_a_manifest_of_format_2_loads_its_clip_with_sound_as_one_span(monkeypatch, tmp_path):
    """tests/fixtures/manifest-v2 was written by mmtok at commit 6d40a3b (format mmtok.sequence/2), where a clip
    with its sound was 2N + 1 spans: "clip:", Video("tests/fixtures/manifest-v2/clip.mp4", audio=True) (1 s, 25 fps,
    3 frames at 32 px, whisper-80 sound), "done". It loads as one video span with the file's ids, modalities,
    positions and feature rows, which are also what tokenizing clip.mp4 gives now; it decodes to one clip with its
    sound and saves again as mmtok.sequence/3."""
    from dataclasses import replace

    from mmtok.core.meta import VideoAudioMeta

    folder = Path(__file__).parent / "fixtures" / "manifest-v2"
    raw = json.loads((folder / "manifest.json").read_text())
    assert raw["format"] == "mmtok.sequence/2"
    assert [s["meta"]["kind"] for s in raw["spans"]][2:9] == ["clip_frame", "clip_audio"] * 3 + ["clip_end"]
    seq = TokenSequence.load(folder)
    assert [s.meta.kind for s in seq.spans] == ["control", "text", "video_audio", "text"]
    clip = seq.spans[2]
    stored = raw["spans"][2:9]
    assert (clip.start, clip.length, clip.offset) == (stored[0]["start"], sum(s["length"] for s in stored),
                                                      stored[0]["offset"])
    assert clip.meta.slice_tokens == tuple(s["num_features"] for s in stored[1::2])
    assert clip.meta.slices == tuple(tuple(s["meta"]["slice"]) for s in stored[1::2])
    assert (clip.num_features, clip.sound_features) == (sum(s["num_features"] for s in stored[0::2]),
                                                         sum(clip.meta.slice_tokens))
    monkeypatch.chdir(Path(__file__).parent.parent)
    lay = replace(mmtok.LAYOUTS["gemini-like"], name="v2", audio=mmtok.AudioConfig(preset="whisper-80"),
                  video=mmtok.VideoConfig(num_frames=3, image=mmtok.ImageConfig(size=32)))
    tok = mmtok.MultimodalTokenizer(lay)
    now = tok(["clip:", mmtok.Video("tests/fixtures/manifest-v2/clip.mp4", audio=True), "done"])
    for name in ("input_ids", "modality", "positions", "positions_3d"):
        assert torch.equal(getattr(now, name), getattr(seq, name)), name
    assert torch.equal(now.features["video"], seq.features["video"])
    # the audio rows: Whisper's mel sum runs by bands of the filterbank since 2026-12-01 (float32 rounding apart)
    assert now.features["audio"].shape == seq.features["audio"].shape
    assert (now.features["audio"] - seq.features["audio"]).abs().max() <= 1e-5
    unknown_then = dict(pts=None, time_base=None, num_clip_frames=None, frames_decoded=None, frame_ends=None,
                        image_config={k: v for k, v in now.spans[2].meta.image_config.items() if k != "fast_chroma"})
    assert isinstance(clip.meta, VideoAudioMeta) and replace(now.spans[2].meta, **unknown_then) == clip.meta
    assert mmtok.ImageConfig.from_dict(clip.meta.image_config) == lay.video.image  # a field added since: its default
    out = tok.decode(seq)
    assert out[1].frames.shape == (3, 3, 32, 32) and out[1].audio is not None
    seq.save(tmp_path)
    assert json.loads((tmp_path / "manifest.json").read_text())["format"] == "mmtok.sequence/3"
    assert TokenSequence.load(tmp_path).equals(seq)


@pytest.mark.parametrize("edit, message", [
    (lambda spans: spans[8].update(meta={"kind": "video"}), "span 8 interrupts a clip with its sound"),
    (lambda spans: spans[2]["meta"].update(first_frame=1), "span 2 is part of a clip .* follows no first frame"),
    (lambda spans: spans[4]["meta"].update(first_frame=2), "not frame, audio, ..., end for each of its 3 frames"),
])
def test_a_broken_clip_of_format_2_is_refused(tmp_path, edit, message):
    """The parts of a clip with its sound in a mmtok.sequence/2 manifest must come whole and in order."""
    folder = Path(__file__).parent / "fixtures" / "manifest-v2"
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest["spans"])
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "features.safetensors").write_bytes((folder / "features.safetensors").read_bytes())
    with pytest.raises(ManifestError, match=message):
        TokenSequence.load(tmp_path)
