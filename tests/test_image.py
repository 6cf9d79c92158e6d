"""ImageTokenizer: exact round trips, THE count formula, provenance, odd modes, errors, timm equality."""

import io

import numpy as np
import pytest
import torch
from einops import rearrange
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import mmtok
from images import ASSETS, PHOTOS, encoded, exif_rotated_jpeg, gradient, png_header_only
from mmtok import ImageConfig, ImageTokenizer, Modality
from mmtok.errors import ConfigError, DecodeError, InputError, LimitError

CONFIGS = {
    "fixed-squash": ImageConfig(),
    "fixed-crop": ImageConfig(aspect="crop"),
    "fixed-pad": ImageConfig(aspect="pad"),
    "dynamic": ImageConfig(resize="dynamic"),
    "tiles": ImageConfig(resize="tiles"),
}
TOKS = {k: ImageTokenizer(c) for k, c in CONFIGS.items()}
NOISE = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("policy", CONFIGS)
@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_exact_round_trip_on_real_photos(policy, photo):
    tok = TOKS[policy]
    tokens = tok.encode(photo)
    assert torch.equal(tok.decode(tokens), tok.preprocess(photo))
    assert all(torch.equal(a, b) for a, b in zip(tok.decode_views(tokens), tok.preprocess_views(photo)))
    assert len(tokens.patches) == tok.num_tokens(*tokens.original_size)
    assert tokens.patches.dtype == torch.float32 and tokens.patches.shape[1] == 16 * 16 * 3
    assert tokens.processed_size == tuple(tok.decode(tokens).shape[1:])


def test_default_is_fixed_224_with_196_patches():
    tok = ImageTokenizer()
    assert tok.num_tokens(480, 640) == 196 == 14 * 14
    tokens = tok.encode(PHOTOS[0])
    assert tokens.grid == (14, 14) and tokens.processed_size == (224, 224)


@pytest.mark.parametrize("policy", CONFIGS)
@given(w=st.integers(1, 2500), h=st.integers(1, 2500))
def test_num_tokens_matches_encode(policy, w, h):
    tok = TOKS[policy]
    tokens = tok.encode(np.zeros((h, w, 3), np.uint8))
    assert len(tokens.patches) == tok.num_tokens(h, w)
    assert tokens.original_size == (h, w)


@given(w=st.integers(1, 200_000), h=st.integers(1, 200_000), lo=st.integers(1, 300), extra=st.integers(0, 3000))
def test_dynamic_grid_bounds(w, h, lo, extra):
    rows, cols, clamped = mmtok.image.dynamic_grid(h, w, 16, lo, lo + extra)
    assert rows >= 1 and cols >= 1 and lo <= rows * cols <= lo + extra
    if not clamped and lo * 4 <= lo + extra:
        # with room in the bounds the grid keeps the aspect ratio to within about one patch per side
        assert abs(np.log((cols / rows) / (w / h))) <= np.log((cols + 1) / max(cols - 1, 0.5)) + np.log(
            (rows + 1) / max(rows - 1, 0.5))


def test_dynamic_grid_of_bundled_photos_follows_the_documented_rule():
    """ImageConfig(resize="dynamic") (16 px patches, 16..1024 of them) on three bundled photos, the grid worked out
    here from the rule in mmtok/image/plan.py: the ideal grid (H/16, W/16), scaled by sqrt(1024 / count) when over
    1024, sides rounded, then one patch at a time off the side most over its ideal while over 1024."""
    import math

    names = ("chelsea.png", "rocket.jpg", "seeding_by_Clements_Engelhardt.jpg")
    sizes, want = {n: Image.open(ASSETS / n).size[::-1] for n in names}, {}  # (height, width) read by PIL
    # chelsea 300 x 451: 18.75 x 28.19 = 528.5 patches, inside the bounds: rounded, 19 x 28
    r, c = (v / 16 for v in sizes["chelsea.png"])
    assert 16 <= r * c <= 1024
    want["chelsea.png"] = (round(r), round(c))
    # rocket 427 x 640: 26.69 x 40 = 1067.5 patches: scaled to 26.14 x 39.18, rounded 26 x 39 = 1014 (inside)
    r, c = (v / 16 for v in sizes["rocket.jpg"])
    s = math.sqrt(1024 / (r * c))
    want["rocket.jpg"] = (round(r * s), round(c * s))
    assert r * c > 1024 and 16 <= round(r * s) * round(c * s) <= 1024
    # seeding 2988 x 5312: 186.75 x 332 patches: scaled to 24.00 x 42.67, rounded 24 x 43 = 1032, over 1024; the
    # columns are further over their ideal (43 / 42.67 > 24 / 24.00): one column off, 24 x 42 = 1008
    r, c = (v / 16 for v in sizes["seeding_by_Clements_Engelhardt.jpg"])
    s = math.sqrt(1024 / (r * c))
    rows, cols = round(r * s), round(c * s)
    assert rows * cols > 1024 and cols / (c * s) > rows / (r * s) and rows * (cols - 1) <= 1024
    want["seeding_by_Clements_Engelhardt.jpg"] = (rows, cols - 1)
    assert want == {"chelsea.png": (19, 28), "rocket.jpg": (26, 39), "seeding_by_Clements_Engelhardt.jpg": (24, 42)}
    tok = TOKS["dynamic"]
    for name, (rows, cols) in want.items():
        tokens = tok.encode(ASSETS / name)
        assert tokens.original_size == sizes[name] and tokens.grid == (rows, cols), name
        assert len(tokens.patches) == tok.num_tokens(*sizes[name]) == rows * cols
        assert tokens.processed_size == (16 * rows, 16 * cols) == tuple(tok.decode(tokens).shape[1:])


@pytest.mark.parametrize("w, h", [(1, 1), (3, 5000), (5000, 3), (1, 20000), (20000, 1), (1, 50000)])
def test_extreme_sizes_never_crash(w, h):
    for tok in TOKS.values():
        tokens = tok.encode(np.full((h, w, 3), 200, np.uint8))
        assert all(s > 0 for s in tokens.processed_size)
        assert torch.equal(tok.decode(tokens), tok.preprocess(np.full((h, w, 3), 200, np.uint8)))
    plan = TOKS["dynamic"].plan(h, w)
    expect_clamp = max(w, h) / min(w, h) > 1024
    assert plan.clamped == expect_clamp
    seg = TOKS["dynamic"].segment(TOKS["dynamic"].encode(np.zeros((h, w, 3), np.uint8)), mmtok.TextTokenizer.default().vocab)
    assert seg.meta.clamped == expect_clamp


def test_tiles_follow_gemini_rule():
    tok = TOKS["tiles"]
    assert tok.num_tokens(384, 384) == 256  # one tile: 258 tokens with the two markers
    assert tok.plan(384, 384).num_markers == 2
    plan = tok.plan(1000, 2000)  # 2 x 3 tiles of 768 + thumbnail
    assert plan.views[-1].tiles == (2, 3) and plan.num_blocks == 7
    assert tok.num_tokens(1000, 2000) == 7 * 256 and plan.num_markers == 2 + 6
    limited = tok.plan(100, 768 * 50)
    assert limited.tiles_limited and limited.num_blocks == 1 + 36
    # past the cap the largest grid within it: 5 x 10 and 4 x 10 tiles both become 4 x 9 = 36 (not 5 x 7 = 35)
    for h in (3072, 3073):
        plan = tok.plan(h, 7680)
        assert plan.tiles_limited and plan.views[-1].tiles == (4, 9)


@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 64))
def test_capped_tile_grid_is_the_largest_within_the_cap(rows, cols, cap):
    from mmtok.image import capped_tile_grid

    r, c = capped_tile_grid(rows, cols, cap)
    assert 1 <= r <= rows and 1 <= c <= cols and r * c <= cap
    assert r * c == max(a * min(cols, cap // a) for a in range(1, min(rows, cap) + 1))


def _coverage(boxes: torch.Tensor, region, step: int) -> torch.Tensor:
    """How many boxes contain each sample point of region (x0, y0, x1, y1), with half-open boxes."""
    x0, y0, x1, y1 = region
    xs = torch.arange(x0 + 0.5, x1, step, dtype=torch.float64)
    ys = torch.arange(y0 + 0.5, y1, step, dtype=torch.float64)
    px, py = torch.meshgrid(xs, ys, indexing="xy")
    px, py = px.reshape(-1, 1), py.reshape(-1, 1)
    b = boxes[~torch.isnan(boxes[:, 0])]
    inside = (px >= b[:, 0]) & (px < b[:, 2]) & (py >= b[:, 1]) & (py < b[:, 3])
    return inside.sum(1)


@pytest.mark.parametrize("policy", CONFIGS)
@pytest.mark.parametrize("size", [(451, 300), (300, 451), (1000, 2000), (7, 3), (1, 900)])
def test_patch_boxes_tile_the_picture_once_per_view(policy, size):
    w, h = size
    tok = TOKS[policy]
    tokens = tok.encode(gradient(w, h))
    boxes = tok.patch_boxes(tokens)
    assert boxes.shape == (len(tokens.patches), 4)
    start = 0
    for view in tokens.plan.views:
        n = (view.canvas[0] // 16) * (view.canvas[1] // 16)
        vb = boxes[start:start + n]
        start += n
        region = view.box  # the part of the original the view shows (all of it but for fixed-crop)
        step = max(1, int(min(w, h) // 60))
        assert (_coverage(vb, region, step) == 1).all(), "every point covered exactly once"
        valid = vb[~torch.isnan(vb[:, 0])]
        area = ((valid[:, 2] - valid[:, 0]) * (valid[:, 3] - valid[:, 1])).sum()
        assert torch.isclose(area, torch.tensor((region[2] - region[0]) * (region[3] - region[1]),
                                                dtype=torch.float64))


def test_every_input_kind_gives_the_same_tokens():
    photo = next(p for p in PHOTOS if p.suffix == ".png")
    tok = ImageTokenizer()
    ref = tok.encode(photo).patches
    pil = Image.open(photo)
    arr = np.array(pil.convert("RGB"))
    for src in (str(photo), photo.read_bytes(), pil, arr, torch.from_numpy(arr).permute(2, 0, 1)):
        assert torch.equal(tok.encode(src).patches, ref), type(src)


def test_normalization_round_trips_every_byte():
    for mean, std in [((0.5,) * 3, (0.5,) * 3), ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), ((0.0,) * 3, (1.0,) * 3)]:
        tok = ImageTokenizer(ImageConfig(size=16, mean=mean, std=std))
        ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
        arr = np.stack([ramp, ramp.T, 255 - ramp], -1)
        assert torch.equal(tok.decode(tok.encode(arr)), torch.from_numpy(arr).permute(2, 0, 1))


def test_known_norms_match_timm():
    import timm

    for name, (mean, std) in mmtok.image.plan.KNOWN_VIT_NORMS.items():
        cfg = timm.models.get_pretrained_cfg(name)
        assert tuple(cfg.mean) == mean and tuple(cfg.std) == std


# --- modes and orientation ----------------------------------------------------------------------------------
def test_alpha_is_composited_on_background():
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[:16, :, :] = (255, 0, 0, 255)  # top opaque red, bottom fully transparent
    for bg in ((255, 255, 255), (0, 0, 0)):
        tok = ImageTokenizer(ImageConfig(size=32, background=bg))
        for src in (rgba, encoded(Image.fromarray(rgba), "PNG"), encoded(Image.fromarray(rgba).convert("LA"), "PNG")):
            out = tok.preprocess(src)
            assert tuple(out[:, -1, -1].tolist()) == bg
    pal = Image.fromarray(rgba).convert("RGB").quantize(4)
    pal.info["transparency"] = pal.getpixel((0, 31))
    out = ImageTokenizer(ImageConfig(size=32)).preprocess(encoded(pal, "PNG", transparency=pal.getpixel((0, 31))))
    assert tuple(out[:, -1, -1].tolist()) == (255, 255, 255)


def test_sixteen_bit_and_other_modes():
    v = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    v[0, 0], v[0, 1] = 65535, 257 * 7
    tok = ImageTokenizer(ImageConfig(size=64))
    out = tok.preprocess(encoded(Image.fromarray(v), "PNG"))
    assert out[0, 0, 0] == 255 and out[0, 0, 1] == 7 and (out[0] == out[1]).all()
    rgb = gradient(48, 32)
    for mode, fmt in (("L", "PNG"), ("1", "PNG"), ("P", "PNG"), ("CMYK", "JPEG"), ("RGB", "WEBP"), ("RGB", "BMP"),
                      ("RGB", "GIF"), ("RGB", "TIFF")):
        data = encoded(Image.fromarray(rgb).convert(mode), fmt)
        out = tok.preprocess(data)
        assert out.shape == (3, 64, 64) and out.dtype == torch.uint8


@pytest.mark.parametrize("orientation, size", [(1, (40, 20)), (3, (40, 20)), (6, (20, 40)), (8, (20, 40))])
def test_exif_orientation_is_applied(orientation, size):
    tok = ImageTokenizer(ImageConfig(resize="dynamic"))
    tokens = tok.encode(exif_rotated_jpeg(40, 20, orientation))
    w, h = size
    assert tokens.original_size == (h, w)
    # the red channel grows left to right in the stored picture: after a 90-degree turn it grows top to bottom
    img = tok.preprocess(exif_rotated_jpeg(40, 20, orientation)).float()
    grows_down = img[0, -1, :].mean() - img[0, 0, :].mean()
    assert (abs(grows_down) > 30) == (orientation in (6, 8))


def test_draft_decoding_stays_within_tolerance():
    jpeg = next(p for p in PHOTOS if p.name.startswith("seeding"))
    for policy in ("fixed-squash", "dynamic", "tiles"):
        full = ImageTokenizer(CONFIGS[policy].__class__(**{**CONFIGS[policy].__dict__, "draft": False}))
        a, b = TOKS[policy].preprocess(jpeg).float(), full.preprocess(jpeg).float()
        assert (a - b).abs().mean() <= 0.5 and (a - b).abs().max() <= 16


@pytest.mark.parametrize("subsampling, width, expected", [(2, 640, True), (1, 640, True), (0, 640, False),
                                                           (2, 420, False), (2, 2000, False)])
def test_fast_chroma_only_where_chroma_is_subsampled_decoded_whole_and_shrunk_2x(subsampling, width, expected):
    """ImageConfig.fast_chroma: a 4:2:0 / 4:2:2 JPEG decoded at full scale and shrunk 2x or more by every view
    upsamples its chroma by replication (libjpeg-turbo's fast upsampling: simplejpeg's ``fastupsample``), which
    moves the processed picture by a fraction of a level; 4:4:4 has nothing to upsample; 420 px wide is shrunk
    less than 2x; at 2000 px the DCT scale 1/2 scales chroma up in its IDCT (nothing upsampled): the exact pixels
    there, and wherever it does not apply."""
    import simplejpeg

    photo = Image.open(next(p for p in PHOTOS if p.name == "rocket.jpg")).convert("RGB")
    data = encoded(photo.resize((width, width * 3 // 4), Image.LANCZOS), "JPEG", quality=85, subsampling=subsampling)
    tok, exact = ImageTokenizer(), ImageTokenizer(ImageConfig(fast_chroma=False))
    loaded, reference = tok.load(data)[0], exact.load(data)[0]
    assert loaded.fast_chroma == expected and not reference.fast_chroma
    assert loaded.scale == reference.scale == (0.5 if width == 2000 else 1.0)
    replicated = simplejpeg.decode_jpeg(data, colorspace="RGB", fastupsample=True)
    a, b = tok.preprocess(data).float(), exact.preprocess(data).float()
    if expected:
        assert torch.equal(loaded.pixels, torch.from_numpy(replicated).permute(2, 0, 1))
        assert not torch.equal(loaded.pixels, reference.pixels)  # really another upsampling
        assert 0 < (a - b).abs().mean() <= 0.4 and (a - b).abs().max() <= 16  # measured 0.22 / 14 (4:2:0)
    else:
        assert torch.equal(loaded.pixels, reference.pixels) and torch.equal(a, b)


@pytest.mark.parametrize("source, orientation", [("photo", 1), ("grey", 1)] + [("exif", o) for o in range(1, 9)])
def test_jpeg_fast_path_equals_pil(monkeypatch, tmp_path, source, orientation):
    """simplejpeg decodes 8-bit RGB/grey JPEGs: the same pixels, size and DCT scale as PIL (1/1 to 1/8), for every
    EXIF orientation, from a path or bytes; and the fast path is really taken: simplejpeg decodes, PIL never opens
    the file (mmtok.media.jpeg_scans.header reads it)."""
    import simplejpeg

    import mmtok.media.imageio as imageio

    photo = next(p for p in PHOTOS if p.name == "rocket.jpg").read_bytes()
    data = {"photo": photo, "grey": encoded(Image.open(io.BytesIO(photo)).convert("L"), "JPEG"),
            "exif": exif_rotated_jpeg(75, 41, orientation)}[source]
    path = tmp_path / "picture.jpg"
    path.write_bytes(data)
    calls, opened = [], []
    decode, pil_open = simplejpeg.decode_jpeg, Image.open
    monkeypatch.setattr(simplejpeg, "decode_jpeg", lambda *a, **k: calls.append(1) or decode(*a, **k))
    for k in (None, 3, 5, 9):  # PIL's draft: 1/1, then 1/2, 1/4 and 1/8 of the sides
        draft = None if k is None else lambda w, h, k=k: (w // k, h // k)
        monkeypatch.setattr(Image, "open", lambda *a, **kw: opened.append(1) or pil_open(*a, **kw))
        fast = [imageio.load_image(src, draft=draft) for src in (data, path)]
        monkeypatch.setattr(Image, "open", pil_open)
        with monkeypatch.context() as m:
            m.setattr(imageio, "_decode_jpeg", lambda *a: None)
            slow = imageio.load_image(data, draft=draft)
        for f in fast:
            assert (f.size, f.scale, f.mode) == (slow.size, slow.scale, slow.mode)
            assert f.pixels.shape == slow.pixels.shape and torch.equal(f.pixels, slow.pixels)
    assert len(calls) == 8 and not opened


# --- errors -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, error, message", [
    (lambda d: d / "missing.png", InputError, "no such image file"),
    (lambda d: b"", DecodeError, "empty"),
    (lambda d: b"\x00garbage" * 10, DecodeError, "not an image"),
    (lambda d: png_header_only(100_000, 100_000), LimitError, "max_pixels"),
    (lambda d: encoded(Image.fromarray(NOISE), "PNG")[:2000], DecodeError, "corrupt or truncated"),
    (lambda d: encoded(Image.fromarray(NOISE), "JPEG")[:2000], DecodeError, "corrupt or truncated"),
    (lambda d: encoded(Image.fromarray(NOISE), "GIF")[:2000], DecodeError, "corrupt or truncated"),
    (lambda d: np.zeros((4, 4, 3), np.float32), InputError, "must be uint8"),
    (lambda d: np.zeros((4, 4, 2), np.uint8), InputError, "got shape"),
    (lambda d: torch.zeros(5, 4, 2, dtype=torch.uint8), InputError, r"got shape \(5, 4, 2\)"),
    (lambda d: torch.zeros(4, 4, 3), InputError, r"got torch.float32.*\.to\(torch.uint8\)"),
    (lambda d: 42, InputError, "cannot read an image from a int"),
])
def test_bad_inputs_are_typed_errors(tmp_path, make, error, message):
    src = make(tmp_path)
    with pytest.raises(error, match=message):
        ImageTokenizer().encode(src)


def test_bad_file_error_names_the_file(tmp_path):
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(encoded(Image.fromarray(NOISE), "JPEG")[:2000])
    with pytest.raises(DecodeError, match="photo.jpg"):
        ImageTokenizer().encode(bad)


def test_pixel_limit_is_configurable():
    with pytest.raises(LimitError, match="max_pixels=100"):
        ImageTokenizer(ImageConfig(max_pixels=100)).encode(np.zeros((11, 10, 3), np.uint8))
    assert len(ImageTokenizer(ImageConfig(max_pixels=110)).encode(np.zeros((11, 10, 3), np.uint8)).patches) == 196


@pytest.mark.parametrize("kw, message", [
    ({"resize": "zoom"}, "resize"), ({"aspect": "stretch"}, "aspect"), ({"size": 100}, "multiple of patch_size"),
    ({"patch_size": 0}, "positive int"), ({"min_tokens": 10, "max_tokens": 5}, "min_tokens"),
    ({"std": (0.5, 0.5, 0.0)}, "below 1e-3"), ({"background": (300, 0, 0)}, "background"),
    ({"mean": (0.5, 0.5)}, "3 finite numbers"),
])
def test_config_is_validated(kw, message):
    with pytest.raises(ConfigError, match=message):
        ImageConfig(**kw)


# --- timm and sequences -------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["fixed-squash", "dynamic", "tiles"])
def test_embed_equals_timm_patch_embed(policy):
    from mmtok.image.vit import create_vit

    tok = TOKS[policy]
    tokens = tok.encode(PHOTOS[1])
    model = create_vit(tok.config.vit_model, patch_size=16)
    rows, cols = tokens.grid
    pixels = rearrange(tokens.patches, "(b h w) (p1 p2 c) -> b c (h p1) (w p2)", h=rows, w=cols, p1=16, p2=16)
    with torch.no_grad():
        ref = model._pos_embed(model.patch_embed(pixels))[:, model.num_prefix_tokens:]
    got = tok.embed(tokens)
    assert got.shape == (len(tokens.patches), model.embed_dim)
    assert torch.allclose(got, rearrange(ref, "b n d -> (b n) d"), atol=1e-5, rtol=0)


@pytest.mark.parametrize("policy", CONFIGS)
def test_segment_in_a_sequence(policy, vocab, text_tok):
    tok = TOKS[policy]
    tokens = tok.encode(PHOTOS[2])
    seg = tok.segment(tokens, vocab)
    plan = tokens.plan
    assert len(seg) == plan.num_patches + plan.num_markers
    seq = mmtok.pack([text_tok.segment(text_tok.encode("Look:")), seg, text_tok.segment(text_tok.encode(" nice"))], vocab)
    assert torch.equal(seq.features["image"], tokens.patches)
    assert seq.unpack()[1] == seg
    assert seg.meta.grid == tokens.grid and seg.meta.source == str(PHOTOS[2])
    # patches of one block sit on their (row, col) grid at one time step
    ph = seq.input_ids == vocab.placeholder(Modality.IMAGE)
    pos = seq.positions_3d[:, ph]
    rows, cols = tokens.grid
    first = pos[:, : rows * cols] - pos[:, :1]
    assert torch.equal(first[1].reshape(rows, cols), torch.arange(rows)[:, None].expand(rows, cols))
    assert torch.equal(first[2].reshape(rows, cols), torch.arange(cols)[None, :].expand(rows, cols))
    assert (first[0] == 0).all()


def test_encode_runs_on_one_torch_thread_and_restores_the_count(monkeypatch):
    seen = []
    real = ImageTokenizer.tokenize_views
    monkeypatch.setattr(ImageTokenizer, "tokenize_views", lambda self, *a: seen.append(torch.get_num_threads())
                        or real(self, *a))
    before = torch.get_num_threads()
    ImageTokenizer().encode(PHOTOS[0])
    with pytest.raises(DecodeError):
        ImageTokenizer().encode(b"\x00garbage" * 10)
    assert seen == [1] and torch.get_num_threads() == before


# --- resizing -----------------------------------------------------------------------------------------------
@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 300), st.integers(1, 300), st.sampled_from(["hwc", "chw"]))
def test_resize_bicubic_equals_interpolate(h, w, out_h, out_w, layout):
    g = torch.Generator().manual_seed(h * 1000 + w)
    x = torch.randint(0, 256, (h + 4, w + 6, 3), dtype=torch.uint8, generator=g)
    x = x.permute(2, 0, 1) if layout == "hwc" else x.permute(2, 0, 1).contiguous()
    region = x[:, 2:2 + h, 3:3 + w]  # a crop: strided like a view box of a decoded picture
    got = mmtok.image.resize_bicubic(region, (out_h, out_w))
    want = torch.nn.functional.interpolate(region[None], size=(out_h, out_w), mode="bicubic", antialias=True)[0]
    assert torch.equal(got, want)
    assert got.permute(1, 2, 0).is_contiguous()  # channels-last, what the patch gather reads in runs


def test_resize_bicubic_takes_a_planar_picture_too():
    """A contiguous CHW picture (torch's usual layout) made torch's channels-last kernel assert; it is copied first."""
    x = torch.randint(0, 256, (3, 100, 120), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    want = torch.nn.functional.interpolate(x[None], size=(50, 60), mode="bicubic", antialias=True)[0]
    assert torch.equal(mmtok.image.resize_bicubic(x, (50, 60)), want)
    with pytest.raises(mmtok.InputError, match="uint8"):
        mmtok.image.resize_bicubic(x.float(), (50, 60))


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_resize_is_within_one_level_of_pil_bicubic(photo):
    pil = Image.open(photo).convert("RGB")
    x = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1)
    got = mmtok.image.resize_bicubic(x, (224, 224)).int()
    want = torch.from_numpy(np.array(pil.resize((224, 224), Image.BICUBIC))).permute(2, 0, 1).int()
    assert (got - want).abs().max() <= 1
