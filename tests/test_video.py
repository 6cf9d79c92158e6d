"""Video: the sampling rule exactly, on clips whose frames carry their own index; minimal decoding; errors."""

import os
import tempfile
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mmtok
from mmtok import Modality, VideoConfig, VideoTokenizer, sample_frames
from mmtok.errors import ConfigError, DecodeError, InputError, LimitError
from mmtok.video import frames as frames_module
from mmtok.video.frames import FrameDecoder, _seek
from videos import decoded_times, expected_indices, make_clip, read_index, subtitles_only

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints a banner per encoder otherwise
CITY = Path(__file__).resolve().parent.parent / "assets" / "video" / "cityCC0.mpg"


def _indices(frames: torch.Tensor) -> list[int]:
    return [read_index(f) for f in frames.numpy()]


@pytest.mark.parametrize("kind", ["mp4", "webm", "mkv", "mpg", "gif"])
@pytest.mark.parametrize("n", [30, 101])
def test_constant_rate_clips_follow_the_rule(tmp_path, kind, n):
    path = tmp_path / f"clip.{kind}"
    make_clip(path, kind, n=n, fps=25, gop=12)
    times = decoded_times(path)  # what the muxer really wrote (an encoder may leave a gap)
    frames, ts = sample_frames(path, 16)
    assert frames.shape == (16, 96, 128, 3) and frames.dtype == torch.uint8 and ts.dtype == torch.float64
    want = expected_indices(times, 16, 1 / 25)
    assert _indices(frames) == want
    assert np.allclose(ts, [times[i] - times[0] for i in want], atol=1e-6)


@pytest.mark.parametrize("kind", ["mp4", "mkv", "webm"])
def test_variable_frame_rate(tmp_path, kind):
    rng = np.random.default_rng(1)
    gaps = rng.choice([0.01, 0.02, 0.1, 0.25], size=59)
    times = [0.0] + list(np.round(np.cumsum(gaps), 3))
    path = tmp_path / f"vfr.{kind}"
    make_clip(path, kind, pts_seconds=times, gop=7)
    frames, ts = sample_frames(path, 16)
    # the last frame lasts as long as its packet says (the muxer's duration), recovered from the index
    tok = VideoTokenizer()
    tokens = tok.encode(path)
    last = tokens.duration - (times[-1] - times[0])
    assert _indices(frames) == expected_indices(times, 16, last)
    assert tokens.frame_indices.tolist() == expected_indices(times, 16, last)


@pytest.mark.parametrize("n", [1, 5, 15])
def test_short_clips_repeat_frames_and_say_so(tmp_path, n):
    path = tmp_path / "short.mp4"
    times = make_clip(path, "mp4", n=n)
    tokens = VideoTokenizer().encode(path)
    want = expected_indices(times, 16, 1 / 25)
    assert tokens.frame_indices.tolist() == want
    assert tokens.repeats.tolist() == [i > 0 and want[i] == want[i - 1] for i in range(16)]
    assert len(tokens.frames) == 16 and tokens.num_clip_frames == n
    assert tokens.frames_decoded <= n + 2


@pytest.mark.parametrize("rotation, corner", [(90, "bottom-left"), (-90, "top-right"), (180, "bottom-right")])
def test_rotation_is_applied(tmp_path, rotation, corner):
    path = tmp_path / "rot.mp4"
    make_clip(path, "mp4", n=10, rotation=rotation)
    frames, _ = sample_frames(path, 4)
    img = frames[0].numpy()
    h, w = img.shape[:2]
    assert (h, w) == ((96, 128) if rotation == 180 else (128, 96))
    ys, xs = ((img[:, :, 0] > 200) & (img[:, :, 1] < 60)).nonzero()
    assert f"{'top' if ys.mean() < h / 2 else 'bottom'}-{'left' if xs.mean() < w / 2 else 'right'}" == corner
    undo = np.rot90(img, k=-(rotation % 360) // 90)
    assert read_index(undo) == expected_indices([i / 25 for i in range(10)], 4, 1 / 25)[0]


def test_decoding_is_minimal(tmp_path):
    path = tmp_path / "long.mp4"
    make_clip(path, "mp4", n=400, gop=10)
    tokens = VideoTokenizer().encode(path)
    # 16 targets, each at most one GOP (10 frames) past its keyframe, plus B-frame reordering slack
    assert tokens.frames_decoded <= 16 * 12 < 400
    assert tokens.frame_indices.tolist() == expected_indices([i / 25 for i in range(400)], 16, 1 / 25)


@pytest.mark.parametrize("last", ["a reference frame", "a B-frame"])
def test_a_run_stops_decoding_after_its_last_wanted_frame(tmp_path, last):
    """Decoding up to the last wanted frame before a seek drains the decoder once every packet shown up to it is
    sent: every frame up to it comes out, in order (B-frames shown before a reference frame are decoded after it),
    and the only frames shown after it are the references decoded before it, not the rest of the clip."""
    path = tmp_path / "b.mp4"
    make_clip(path, "mp4", n=40, gop=40)  # x264 with 2 B-frames: decoding order differs from display order
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"  # frame threads, as FrameDecoder decodes
        order = [p.pts for p in c.demux(s) if p.size]
        shown = sorted(order)
        ends = [p for p, q in zip(order[5:], order[6:]) if (q < p) == (last == "a reference frame")]
        stop = ends[0]  # a reference frame followed by B-frames in decoding order, or a B-frame
        got = [f.pts for f in _seek(c, s, None, stop)]
    k = shown.index(stop)
    assert got[:k + 1] == shown[:k + 1]
    assert set(got[k + 1:]) <= set(order[:order.index(stop)])


@pytest.mark.parametrize("kind", ["h264-b", "hevc-b", "mpeg2-b", "mpeg1-b"])
def test_frames_nothing_refers_to_are_skipped_unless_chosen(tmp_path, monkeypatch, kind):
    """In clips whose B-frames no frame refers to, the decoder outputs, of the B-frames, only the chosen ones: it
    skips the others (h264, hevc, mpeg1/2 read skip_frame for each packet). The sampled frames stay the right ones."""
    path = tmp_path / f"clip.{kind}"
    times = make_clip(path, kind, n=90, gop=30)
    out = []  # every frame the decoder gives FrameDecoder: (pts, is a B-frame)

    def spy(*args):
        for f in decode(*args):
            out.append((f.pts, f.pict_type == av.video.frame.PictureType.B))
            yield f

    decode = frames_module._decode
    monkeypatch.setattr(frames_module, "_decode", spy)
    decoded = FrameDecoder(path, path.name, VideoConfig(num_frames=16))
    frames = list(decoded)
    assert [read_index(f) for f in frames] == expected_indices(times, 16, 1 / 25)
    with av.open(str(path)) as c:
        b_frames = {f.pts for f in c.decode(video=0) if f.pict_type == av.video.frame.PictureType.B}
    chosen = set(decoded.samples.pts.tolist())
    assert len(b_frames) > 40 and len(b_frames & chosen) > 3  # the clip has B-frames and some are chosen
    assert {p for p, b in out if b} == b_frames & chosen


def test_frame_decoder_knows_the_picks_first_and_the_counts_after(tmp_path):
    path = tmp_path / "d.mp4"
    times = make_clip(path, "mp4", n=60, gop=10, rotation=90)
    decoded = FrameDecoder(path, "d.mp4", VideoConfig(num_frames=8))
    want = expected_indices(times, 8, 1 / 25)
    assert decoded.samples.indices.tolist() == want and len(decoded.index.pts) == 60
    assert np.allclose(decoded.timestamps, [times[i] - times[0] for i in want], atol=1e-6)
    assert decoded.frames_decoded == 0  # nothing decoded before iterating
    frames = list(decoded)
    assert np.array_equal(np.stack(frames), sample_frames(path, 8)[0].numpy())
    tokens = VideoTokenizer(VideoConfig(num_frames=8)).encode(path)
    assert decoded.frames_decoded == tokens.frames_decoded > 0 and decoded.rotation == tokens.rotation in (90, 270)
    with pytest.raises(RuntimeError, match="iterated once"):
        list(decoded)
    with pytest.raises(LimitError, match="max_decoded_frames=3"):
        list(FrameDecoder(path, "d.mp4", VideoConfig(num_frames=8, max_decoded_frames=3)))


def test_nearest_keyframe_mode(tmp_path):
    path = tmp_path / "k.mp4"
    times = make_clip(path, "mp4", n=200, gop=20)
    exact = VideoTokenizer().encode(path)
    fast = VideoTokenizer(VideoConfig(sampling="nearest_keyframe")).encode(path)
    with av.open(str(path)) as c:
        keys = [p.pts for p in c.demux(video=0) if p.is_keyframe and p.size]
    assert set(fast.pts.tolist()) <= set(keys)
    assert fast.frames_decoded < exact.frames_decoded
    assert fast.sampling == "nearest_keyframe" and VideoConfig().sampling == "exact"
    step = (times[-1] + 1 / 25) / 16
    assert np.all(np.abs(fast.timestamps.numpy() - fast.targets.numpy()) <= 10 / 25 + step)


def test_real_clip_matches_a_full_decode():
    frames, ts = sample_frames(CITY, 16)
    with av.open(str(CITY)) as c:
        s = c.streams.video[0]
        all_frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(s)]
        tb = float(s.time_base)
    pts = [p for p, _ in all_frames]
    times = [(p - pts[0]) * tb for p in pts]
    want = expected_indices(times, 16, (pts[1] - pts[0]) * tb)
    for got, i in zip(frames, want):
        assert np.array_equal(got.numpy(), all_frames[i][1])
    assert np.allclose(ts, [times[i] for i in want])


@pytest.mark.parametrize("policy", ["fixed", "dynamic", "tiles"])
def test_encode_decode_and_counts(tmp_path, policy, vocab):
    path = tmp_path / "c.webm"
    make_clip(path, "webm", n=40)
    tok = VideoTokenizer(VideoConfig(num_frames=8, image=mmtok.ImageConfig(resize=policy)))
    tokens = tok.encode(path)
    frames, _ = sample_frames(path, 8)
    assert torch.equal(tok.decode(tokens), torch.stack([tok.image.preprocess(f) for f in frames]))
    assert len(tokens.patches) == tok.num_tokens(96, 128) == 8 * tok.image.num_tokens(96, 128)
    seg = tok.segment(tokens, vocab)
    seq = mmtok.pack([mmtok.TextTokenizer.default().segment(mmtok.TextTokenizer.default().encode("clip:")), seg], vocab)
    assert torch.equal(seq.features["video"], tokens.patches)
    plan = tokens.frames[0].plan
    assert len(seg) == 8 * (plan.num_patches + plan.num_markers) + 2
    assert seg.meta.timestamps == tuple(tokens.timestamps.tolist())
    # t advances with time: one step per sampled frame (per block for tiled frames)
    ph = seq.input_ids == vocab.placeholder(Modality.VIDEO)
    t = seq.positions_3d[0, ph].reshape(8, -1)
    assert (t[1:, 0] - t[:-1, 0] == plan.num_blocks).all()


@settings(max_examples=10, deadline=None)
@given(w=st.integers(8, 420), h=st.integers(8, 420), clip_frames=st.integers(1, 12), n=st.integers(1, 6),
       policy=st.sampled_from(["fixed", "dynamic", "tiles"]))
def test_num_tokens_is_what_encode_makes_for_any_clip(vocab, w, h, clip_frames, n, policy):
    w, h = 2 * w, 2 * h  # H.264 4:2:0 needs even sides; up to 840 pixels, so tiles get several
    tok = VideoTokenizer(VideoConfig(num_frames=n, image=mmtok.ImageConfig(resize=policy)))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "clip.mp4"
        make_clip(path, "mp4", n=clip_frames, size=(w, h))
        frames, _ = sample_frames(path, n)
        tokens = tok.encode(path)
    assert frames.shape == (n, h, w, 3)
    assert len(tokens.patches) == tok.num_tokens(h, w) == n * tok.image.num_tokens(h, w)
    assert len(tok.segment(tokens, vocab)) == tok.num_tokens(h, w) + n * tok.image.plan(h, w).num_markers + 2


def test_real_clip_tokens():
    tok = VideoTokenizer()
    tokens = tok.encode(CITY)
    assert len(tokens.frames) == 16 and tokens.grid == (14, 14)
    assert tokens.frames_decoded < tokens.num_clip_frames  # no full decode
    assert abs(tokens.duration - 7.6) < 1e-9


# --- errors -------------------------------------------------------------------------------------------------
def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w", format="wav") as out:
        s = out.add_stream("pcm_s16le", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1600), np.int16), format="s16", layout="mono")
        frame.sample_rate = 16000
        for p in s.encode(frame):
            out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


@pytest.mark.parametrize("kind, faststart", [("mkv", False), ("webm", False), ("mp4", True), ("mp4", False)])
def test_truncated_files_are_typed_errors(tmp_path, kind, faststart):
    path = tmp_path / f"t.{kind}"
    make_clip(path, kind, n=120, faststart=faststart, size=(256, 192))
    data = path.read_bytes()
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(DecodeError, match=r"cut\.|truncated"):
        VideoTokenizer().encode(cut)


@pytest.mark.parametrize("make, error, message", [
    (lambda d: d / "missing.mp4", InputError, "no such video file"),
    (lambda d: (d / "empty.mp4").write_bytes(b"") == 0 and d / "empty.mp4", DecodeError, "empty"),
    (lambda d: (d / "noise.mp4").write_bytes(os.urandom(5000)) and d / "noise.mp4", DecodeError, "noise.mp4"),
    (lambda d: _audio_only(d / "sound.wav"), DecodeError, r"no video stream \(streams found: audio\); it has sound "
                                                         r"only: tokenize it as audio"),
    (lambda d: subtitles_only(d / "subs.mkv"), DecodeError, r"no video stream \(streams found: subtitle\); give a "
                                                            r"video file"),
    (lambda d: b"", DecodeError, "empty"),
    (lambda d: 3.5, InputError, "cannot read a video"),
])
def test_bad_inputs(tmp_path, make, error, message):
    with pytest.raises(error, match=message):
        VideoTokenizer().encode(make(tmp_path))


def test_limits_and_config(tmp_path):
    path = tmp_path / "c.mp4"
    make_clip(path, "mp4", n=50)
    with pytest.raises(LimitError, match="max_duration"):
        VideoTokenizer(VideoConfig(max_duration=1.0)).encode(path)
    with pytest.raises(LimitError, match="max_decoded_frames"):
        VideoTokenizer(VideoConfig(max_decoded_frames=3)).encode(path)
    with pytest.raises(LimitError, match="max_pixels"):
        VideoTokenizer(VideoConfig(image=mmtok.ImageConfig(max_pixels=1000))).encode(path)
    for kw in ({"num_frames": 0}, {"sampling": "fast"}, {"threads": -1}, {"image": "fixed"}):
        with pytest.raises(ConfigError):
            VideoConfig(**kw)


def test_bytes_and_file_objects(tmp_path):
    path = tmp_path / "c.mp4"
    make_clip(path, "mp4", n=20)
    a = VideoTokenizer().encode(path)
    b = VideoTokenizer().encode(path.read_bytes())
    with open(path, "rb") as fh:
        c = VideoTokenizer().encode(fh)
    assert torch.equal(a.patches, b.patches) and torch.equal(a.patches, c.patches)


@pytest.mark.parametrize("kind", ["mp4", "mpg"])
def test_pick_decodes_exactly_the_frames_asked_for(tmp_path, kind):
    """A model processor's own frame choice (``FrameDecoder.pick``): each frame read back shows its index; a
    repeated index gives the same frame again; indices out of order or out of the clip are refused by name."""
    path = tmp_path / f"c.{kind}"
    make_clip(path, kind, n=60, gop=12)
    wanted = [0, 7, 7, 13, 36, 59]
    dec = FrameDecoder(path, path.name, VideoConfig(num_frames=1))
    dec.pick(np.array(wanted))
    assert [read_index(f) for f in dec] == wanted
    assert dec.timestamps.tolist() == pytest.approx([i / 25 for i in wanted], abs=1e-6)
    for bad in ([5, 3], [0, 60], [-1], []):
        with pytest.raises(mmtok.InputError, match=f"{path.name}: frames to decode"):
            FrameDecoder(path, path.name, VideoConfig(num_frames=1)).pick(np.array(bad, dtype=np.int64))
