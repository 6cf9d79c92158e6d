"""Qwen-VL clips and M-RoPE positions against transformers 5.23 itself.

The reference processors are built from their classes with each model's published video values written out in
tests/published.py (not read from mmtok), and fed the frames PyAV decodes from the whole clip with the metadata
(total frames, fps); mmtok decodes only the frames it samples. Properties: the sampled indices, grids and counts
equal the processors' over several hundred (frames, fps, size) combinations without decoding; on the bundled clip
and on lavfi testsrc clips (several sizes, rates, odd frame counts) every key of the whole processor call is equal
(``pixel_values_videos`` max abs difference 0.0, Qwen3-VL's timestamp text, Qwen2.5-VL's ``second_per_grid_ts``);
the clips the processors refuse are refused; ``position_ids`` equals ``get_rope_index`` of the model classes (built
from tiny configs, no weights) on interleaved text, pictures and clips.
"""

import dataclasses
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from transformers import (
    Qwen2_5_VLConfig,
    Qwen2_5_VLModel,
    Qwen2VLConfig,
    Qwen2VLModel,
    Qwen3VLConfig,
    Qwen3VLModel,
    Qwen3VLProcessor,
)
from transformers.video_utils import VideoMetadata

import mmtok
import published
from local_tokenizers import word_tokenizer
from mmtok.errors import ConfigError, InputError
from mmtok.models.base import as_pieces
from mmtok.models.qwen import QwenVLProcessor
from mmtok.models.qwen_video import plan_frames
from videos import make_clip

ROOT = Path(__file__).resolve().parents[1]
CITY = ROOT / "assets" / "video" / "cityCC0.mpg"
PHOTO = ROOT / "assets" / "images" / "chelsea.png"
QWEN = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")
OFF = dict(cap_pixels_per_frame=False)  # transformers 5.23's default (None warns, then means False)
CALL = published.QWEN_CALL  # Qwen2/2.5-VL's processor is called with do_sample_frames=True, fps=2 for a clip
VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"
IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"


@pytest.fixture(scope="module")
def tok():
    """A word-level tokenizer with Qwen's vision tokens and the words of Qwen3-VL's "<1.5 seconds>" texts."""
    return word_tokenizer(["Describe", "this", "and", "that", ".", "<", ">", "seconds"] + [str(d) for d in range(10)],
                          published.QWEN_SPECIALS)


def write_testsrc(path: Path, size: tuple[int, int], rate: int, n: int) -> Path:
    """n frames of lavfi testsrc at ``rate`` fps: H.264 MP4 for even sides, FFV1 Matroska for odd ones."""
    w, h = size
    even = w % 2 == 0 and h % 2 == 0
    with av.open(f"testsrc=size={w}x{h}:rate={rate}", format="lavfi") as src, \
            av.open(str(path), "w", format="mp4" if even else "matroska") as out:
        s = out.add_stream("libx264" if even else "ffv1", rate=rate, options={"preset": "fast"} if even else {})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p" if even else "yuv444p"
        s.time_base = s.codec_context.time_base = Fraction(1, rate)
        for i, frame in enumerate(src.decode(video=0)):
            if i == n:
                break
            f = frame.reformat(format=s.pix_fmt)
            f.pts, f.time_base = i, Fraction(1, rate)
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


# (width, height, fps, frames): several sizes and rates, odd frame counts, 2 and 3 frames, a tall clip
SYNTHETIC = [(160, 120, 25, 25), (320, 180, 30, 69), (97, 55, 12, 3), (40, 300, 10, 7), (64, 48, 5, 2),
             (33, 33, 24, 1)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """name -> (path, every frame decoded by PyAV (uint8 [T, H, W, 3]), nominal fps or None)."""
    d = tmp_path_factory.mktemp("qwen_clips")
    out = {}
    for w, h, rate, n in SYNTHETIC:
        p = write_testsrc(d / f"ts{w}x{h}_{rate}_{n}.{'mp4' if w % 2 == 0 and h % 2 == 0 else 'mkv'}", (w, h), rate, n)
        out[p.stem] = (p, rate)
    out["city"] = (CITY, 25)
    decoded = {}
    for key, (p, rate) in out.items():
        with av.open(str(p)) as c:
            decoded[key] = (p, np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]), rate)
    return decoded


def _call(name, tok, frames, total, fps, text, images=None, **video_kwargs):
    ref = published.qwen_processor(name, tok, **video_kwargs)
    call = {**CALL[name], **OFF} if "fps" not in video_kwargs else dict(OFF)
    return ref(text=[text], images=images, videos=[frames],
               video_metadata=[VideoMetadata(total_num_frames=total, fps=fps)], return_tensors="pt", **call)


def _assert_same(ours: dict, ref: dict) -> float:
    assert sorted(ours) == sorted(ref)
    worst = 0.0
    for key in ref:
        assert ours[key].dtype == ref[key].dtype and ours[key].shape == ref[key].shape, key
        if ref[key].is_floating_point():
            worst = max(worst, (ours[key] - ref[key]).abs().max().item())
        else:
            assert torch.equal(ours[key], ref[key]), key
    return worst


PLAYABLE = [f"ts{w}x{h}_{r}_{n}" for w, h, r, n in SYNTHETIC if n > 1] + ["city"]


@pytest.mark.parametrize("name", QWEN)
@pytest.mark.parametrize("clip", PLAYABLE)
def test_clip_through_the_whole_processor(name, clip, clips, tok):
    """Text + a clip: every key and value equal, the count and the segment length equal the prompt's."""
    path, frames, rate = clips[clip]
    proc = mmtok.ModelProcessor(name, tokenizer=tok)
    plan = proc._impl.video_plan(mmtok.Video(path))
    assert plan.total_frames == len(frames) and plan.fps == rate  # the index counts every frame; CFR: fps exact
    ref = _call(name, tok, frames, plan.total_frames, plan.fps, f"Describe this {VIDEO} .")
    ours = proc.hf_inputs(["Describe this ", mmtok.Video(path), " ."])
    assert _assert_same(ours, ref) <= 1e-5  # measured: 0.0
    pads = int((ours["input_ids"] == tok.convert_tokens_to_ids("<|video_pad|>")).sum())
    assert pads == proc.num_tokens(mmtok.Video(path)) == plan.num_tokens
    assert proc.segment_length(mmtok.Video(path)) == ours["input_ids"].shape[1] - 3
    if name == "qwen3-vl":  # one "<t seconds>" text per temporal patch, t from the sampled indices
        text = tok.decode(ours["input_ids"][0])
        assert text.count("seconds") == plan.grid[0] == len(plan.group_times)


def _combos():
    """(total frames, fps, height, width): short and long clips, common and odd rates, tiny to 4K frames."""
    rng = np.random.default_rng(19)
    fixed = [(2, 25.0, 64, 64), (3, 12.0, 55, 97), (4, 30.0, 1080, 1920), (5, 2.0, 31, 31), (7, 10.0, 300, 40),
             (30, 29.97, 720, 1280), (90, 30.0, 2160, 3840), (240, 24.0, 405, 720), (1801, 30.0, 480, 640),
             (3000, 25.0, 360, 640), (18000, 30.0, 720, 1280), (45000, 60.0, 1080, 1920), (13, 0.5, 28, 28),
             (6, 1.0, 16, 16), (9, 59.94, 1, 200), (11, 8.0, 100, 3), (100, 23.976, 2000, 10)]
    rand = []
    while len(rand) < 300:
        total = int(np.exp(rng.uniform(math.log(2), math.log(40000))))
        fps = float(rng.choice([6, 10, 12, 15, 23.976, 24, 25, 29.97, 30, 50, 60, rng.uniform(0.5, 120)]))
        h, w = (int(v) for v in np.exp(rng.uniform(math.log(8), math.log(4000), 2)))
        if max(h, w) / min(h, w) <= 200:
            rand.append((total, fps, h, w))
    return fixed + rand


COMBOS = _combos()


@pytest.mark.parametrize("name", QWEN)
def test_sampling_grids_and_counts_without_decoding(name):
    """Indices equal the processor's sample_frames, counts its get_num_of_video_patches, and Qwen3-VL's timestamps
    its _calculate_timestamps, over 317 (frames, fps, size) combinations."""
    vp, call = published.qwen_video(name), CALL[name]
    cfg = mmtok.models.MODELS[name].config.video
    for total, fps, h, w in COMBOS:
        plan = plan_frames(cfg, total, fps, (h, w), name)
        idx = vp.sample_frames(VideoMetadata(total_num_frames=total, fps=fps), **({"fps": 2} if call else {}))
        assert np.array_equal(plan.indices, np.asarray(idx)), (name, total, fps)
        n = len(idx)
        assert plan.num_tokens == vp.get_num_of_video_patches(n, h, w, {}) // 4, (name, total, fps, h, w)
        if name == "qwen3-vl":  # _calculate_timestamps does not use its processor
            assert plan.group_times == tuple(Qwen3VLProcessor._calculate_timestamps(None, idx, fps, 2))
        if name == "qwen2.5-vl":
            assert plan.second_per_grid_t == 2 / (n / total * fps)


@pytest.mark.parametrize("name", QWEN)
def test_refused_as_the_processor_refuses(name, clips, tok):
    """A one-frame clip: Qwen2/2.5-VL's sampling divides by zero, Qwen3-VL's resize raises; a frame ratio over 200."""
    path, frames, _ = clips["ts33x33_24_1"]
    with pytest.raises((ZeroDivisionError, ValueError)):
        _call(name, tok, frames, 1, 24.0, VIDEO)
    proc = mmtok.ModelProcessor(name)
    for call in (proc.num_tokens, proc.hf_inputs, proc.position_ids):
        with pytest.raises(InputError, match=rf"{name} refuses a clip of 1 .*temporal_patch_size=2"):
            call(mmtok.Video(path))
    with pytest.raises(InputError, match=rf"{name} refuses a 1x300 clip.*over 200"):
        plan_frames(mmtok.models.MODELS[name].config.video, 10, 10.0, (300, 1), name)
    with pytest.raises(InputError, match="takes no audio"):
        proc.num_tokens(mmtok.Video(path, audio=True))


@pytest.mark.parametrize("name", ["qwen2-vl", "qwen3-vl"])
def test_every_frame_and_the_pixel_cap(name, clips, tok):
    """QwenVideoConfig(fps=None) is the bare processor (every frame); cap_pixels_per_frame=True its capped sizes."""
    path, frames, _ = clips["ts320x180_30_69"]
    base = mmtok.models.MODELS[name].config
    for change, kwargs in (({"fps": None}, {"do_sample_frames": False}), ({"cap_pixels_per_frame": True},
                                                                          {"cap_pixels_per_frame": True})):
        if name == "qwen3-vl" and "fps" in change:
            continue  # Qwen3VLProcessor needs the sampled indices for its timestamps
        cfg = dataclasses.replace(base, video=dataclasses.replace(base.video, **change))
        proc = QwenVLProcessor(cfg, tokenizer=tok)
        cap = {"max_video_tokens": 40} if "cap_pixels_per_frame" in change else {}
        ref = published.qwen_processor(name, tok, **cap)
        if "cap_pixels_per_frame" in change:
            cfg = dataclasses.replace(cfg, video=dataclasses.replace(cfg.video, max_video_tokens=40))
            proc = QwenVLProcessor(cfg, tokenizer=tok)
        call = {**CALL[name], **kwargs} if "fps" not in change else kwargs
        call.setdefault("cap_pixels_per_frame", False)
        out = ref(text=[VIDEO], videos=[frames], video_metadata=[VideoMetadata(total_num_frames=69, fps=30.0)],
                  return_tensors="pt", **call)
        ours = proc.hf_inputs(as_pieces(mmtok.Video(path)))
        assert _assert_same(ours, out) <= 1e-5
        assert proc.num_tokens(as_pieces(mmtok.Video(path))[0]) == int((ours["mm_token_type_ids"] == 2).sum())


def _tiny_model(name: str):
    """The model class from a tiny config (1 layer, a few dims, no weights loaded): only get_rope_index is used.
    Qwen2.5-VL's tokens_per_second is the published 2 (Qwen2.5-VL-7B-Instruct config.json)."""
    text = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                intermediate_size=32, vocab_size=64, head_dim=8,
                rope_parameters={"rope_type": "default", "mrope_section": [1, 1, 2], "rope_theta": 10000.0})
    if name == "qwen2-vl":
        return Qwen2VLModel(Qwen2VLConfig(text_config=text, vision_config=dict(depth=1, embed_dim=16, hidden_size=16,
                                                                               num_heads=2, mlp_ratio=1)))
    vision = dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=16)
    if name == "qwen2.5-vl":
        return Qwen2_5_VLModel(Qwen2_5_VLConfig(text_config=text, vision_config=dict(
            vision, tokens_per_second=2, fullatt_block_indexes=[0])))
    return Qwen3VLModel(Qwen3VLConfig(text_config=text, vision_config=dict(vision, deepstack_visual_indexes=[],
                                                                           num_position_embeddings=16)))


LAYOUTS = {  # prompts as (mmtok pieces, reference text); "V1"/"V2" clips, "I" a picture
    "text": ["Describe this ."],
    "image-video": ["Describe ", "I", " and ", "V1", " ."],
    "video-image": ["V2", "I", " that"],
    "two-videos": ["this ", "V1", " and ", "V2", " and ", "I", " ."],
    "video-only": ["V1"],
    "images-only": ["Describe ", "I", " and ", "I", " ."],
}


@pytest.mark.parametrize("name", QWEN)
def test_position_ids_equal_get_rope_index(name, clips, tok):
    """position_ids (no pixel decoded) == get_rope_index on the reference processor's tensors, for several
    interleavings of text, a picture and clips; rope_deltas too; and hf_inputs equals the processor's whole call."""
    model = _tiny_model(name)
    proc = mmtok.ModelProcessor(name, tokenizer=tok)
    v = {"V1": clips["ts320x180_30_69"], "V2": clips["ts97x55_12_3"]}
    picture = np.random.default_rng(3).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    for layout, items in LAYOUTS.items():
        text = "".join({"I": IMAGE, "V1": VIDEO, "V2": VIDEO}.get(x, x) for x in items)
        pieces = [mmtok.Video(v[x][0]) if x in v else mmtok.Image(picture) if x == "I" else x for x in items]
        videos = [v[x][1] for x in items if x in v]
        metadata = [VideoMetadata(total_num_frames=len(v[x][1]), fps=float(v[x][2])) for x in items if x in v]
        images = [picture] * items.count("I") or None
        call = {**CALL[name], **OFF} if videos else {}
        ref = published.qwen_processor(name, tok)(text=[text], images=images, videos=videos or None,
                                   video_metadata=metadata or None, return_tensors="pt", **call)
        want, deltas = model.get_rope_index(ref["input_ids"], ref["mm_token_type_ids"], ref.get("image_grid_thw"),
                                            ref.get("video_grid_thw"), second_per_grid_ts=ref.get("second_per_grid_ts"),
                                            attention_mask=ref["attention_mask"])
        got = proc.position_ids(pieces)
        assert got.dtype == torch.int64 and torch.equal(got, want), (name, layout)
        assert torch.equal(proc._impl.rope_index(as_pieces(pieces))[1], deltas), (name, layout)
        assert _assert_same(proc.hf_inputs(pieces), ref) <= 1e-5, (name, layout)  # the whole call, mixed
    if name == "qwen2.5-vl":  # V1's two temporal patches are 2 * 1.15 s apart: positions step by int(2.3) = 2
        types = proc.hf_inputs(["a", mmtok.Video(v["V1"][0])])["mm_token_type_ids"][0]
        t = proc.position_ids(["a", mmtok.Video(v["V1"][0])])[0, 0][types == 2]
        assert sorted(set(t.tolist())) == [2, 4]  # after "a" and <|vision_start|>


def test_fast_and_default_text_ids_and_errors(clips):
    """fast=True gives the exact video tensors; without a tokenizer the markers and counts are the same; a family
    without M-RoPE would raise ConfigError (checked through the base class's message)."""
    path = clips["ts160x120_25_25"][0]
    exact = mmtok.ModelProcessor("qwen3-vl").hf_inputs(["a ", mmtok.Video(path)])
    fast = mmtok.ModelProcessor("qwen3-vl", fast=True).hf_inputs(["a ", mmtok.Video(path)])
    assert all(torch.equal(exact[k], fast[k]) for k in exact)
    proc = mmtok.ModelProcessor("qwen2.5-vl")
    out = proc.hf_inputs([mmtok.Video(path)])
    assert int((out["mm_token_type_ids"] == 2).sum()) == proc.num_tokens(mmtok.Video(path))
    assert proc.segment_length(mmtok.Video(path)) == out["input_ids"].shape[1]
    assert proc.position_ids(mmtok.Video(path)).shape == (3, 1, out["input_ids"].shape[1])

    class NoPositions:
        pass

    bare = mmtok.ModelProcessor("qwen2-vl")
    bare._impl = NoPositions()
    with pytest.raises(ConfigError, match="no 3D"):
        bare.position_ids("text")


@pytest.mark.parametrize("name", QWEN)
def test_a_rotated_clip_plans_with_its_displayed_sides(name, tmp_path, tok):
    """A 320x96 clip shown rotated by 90 degrees decodes as 96x320 frames: the count, the grid and position_ids
    (from the packet index and the first frame) follow the displayed sides, equal to get_rope_index on hf_inputs'
    own tensors (with the coded sides the height and width positions would swap)."""
    path = tmp_path / "rotated.mp4"
    make_clip(path, "mp4", n=12, fps=4, rotation=90, size=(320, 96))
    proc = mmtok.ModelProcessor(name, tokenizer=tok)
    pieces = ["a ", mmtok.Video(path), " b"]
    ours = proc.hf_inputs(pieces)
    t, h, w = ours["video_grid_thw"][0].tolist()
    assert h > w  # displayed upright: taller than wide
    assert proc._impl.video_plan(mmtok.Video(path)).grid == (t, h, w)
    assert proc.num_tokens(mmtok.Video(path)) == int((ours["mm_token_type_ids"] == 2).sum())
    want, _ = _tiny_model(name).get_rope_index(ours["input_ids"], ours["mm_token_type_ids"], None,
                                               ours["video_grid_thw"],
                                               second_per_grid_ts=ours.get("second_per_grid_ts"),
                                               attention_mask=ours["attention_mask"])
    assert torch.equal(proc.position_ids(pieces), want)


@pytest.mark.parametrize(("n", "h", "w", "still"), [
    (1, 56, 56, True),  # one block
    (1, 168, 280, True),  # blocks of merge rows within the picture (the last one shorter)
    (40, 56, 56, False),  # blocks of whole temporal groups (the last one shorter)
    (4, 168, 280, False),  # blocks of rows within each group
])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("torch_threads", [1, 2])
def test_patch_rows_block_by_block_equals_normalize_then_rearrange(n, h, w, still, channels_last, torch_threads,
                                                                     monkeypatch):
    """patch_rows writes pixel_values block by block, on as many Python threads as torch has threads; the bits
    equal the plain formula for every block layout (a block size small enough that these frames take several
    blocks), and the caller's torch thread count is left as it was."""
    from einops import rearrange

    from mmtok.models import qwen_resize

    monkeypatch.setattr(qwen_resize, "PATCH_BLOCK", 1 << 18)
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    x = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(n + h))
    if channels_last:  # as decoded pictures and their resize are laid out
        x = x.contiguous(memory_format=torch.channels_last)
    before = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        got = qwen_resize.patch_rows(x, mean, std, 14, 2, 2, still=still)
        assert torch.get_num_threads() == torch_threads
    finally:
        torch.set_num_threads(before)
    f = qwen_resize.normalize(x, mean, std)
    f = f.expand(2, -1, -1, -1) if still else f
    want = rearrange(f, "(gt t) c (gh m1 p1) (gw m2 p2) -> (gt gh gw m1 m2) (c t p1 p2)", t=2, m1=2, m2=2, p1=14,
                     p2=14)
    assert torch.equal(got, want)
