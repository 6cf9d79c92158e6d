"""Issue 21, the library side: the notebook view (``_repr_html_``, ``mmtok.show``), the proportional timeline,
provenance in words, the aligned audio picture, the stacked budget chart, a picture as a model sees it and
``mmtok tokenize --png``. Each check reads the pixels or the HTML back."""

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

import mmtok
from mmtok.cli import main
from mmtok.multimodal import pictures
from mmtok.multimodal.explain import describe_token, sequence_picture, source_label, text_pieces, token_picture

ROOT = Path(__file__).resolve().parent.parent
PHOTO, CLIP = ROOT / "assets/images/chelsea.png", ROOT / "assets/video/cityCC0.mpg"
SPEECH = ROOT / "assets/audio/speech_en.wav"


@pytest.fixture(scope="module")
def tok():
    return mmtok.MultimodalTokenizer.default(num_frames=4)


@pytest.fixture(scope="module")
def seq(tok):
    return tok(["Look at  this\ncat: é€", mmtok.Image(PHOTO), "and", mmtok.Video(CLIP), mmtok.Audio(SPEECH)])


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))


def _pngs(html: str) -> list[PILImage.Image]:
    return [PILImage.open(io.BytesIO(base64.b64decode(b))) for b in re.findall(r"data:image/png;base64,([^\"]+)", html)]


def test_repr_html_has_the_strip_the_table_and_a_picture_of_every_media_span(seq, tok):
    html = seq._repr_html_()
    assert mmtok.show(seq) == html and mmtok.show(seq)._repr_html_() == html  # the same HTML, displayable
    assert len(repr(seq)) < 400 and "TokenSequence(" in repr(seq)  # plain text stays short
    assert html.count("<tr>") == len(seq.spans) + 1  # a header and one row per span
    flex = re.findall(r'title="span (\d+): ([a-z_ +]+), ([\d,]+) tokens', html)
    assert [(int(k), int(n.replace(",", ""))) for k, _, n in flex] == [(k, s.length) for k, s in enumerate(seq.spans)]
    pngs = _pngs(html)
    media = [s for s in seq.spans if s.modality.label in ("image", "video", "audio")]
    assert len(pngs) == len(media) == 3
    processed = tok.image.decode(tok.image.encode(PHOTO))  # the image's thumbnail is its processed picture
    small = pictures.to_pil(processed)
    small.thumbnail((288, 96))
    assert pngs[0].size == small.size and np.abs(np.asarray(pngs[0].convert("RGB"), np.int16)
                                                 - np.asarray(small, np.int16)).max() <= 1
    assert pngs[1].width > pngs[1].height  # a clip: its first, middle and last frames side by side
    assert "·" in html and "↵" in html  # whitespace shown in the coloured text
    with pytest.raises(mmtok.InputError, match="mmtok.show takes a TokenSequence"):
        mmtok.show("not a sequence")


def test_text_pieces_join_back_and_mark_byte_fallback(seq):
    k = next(k for k, s in enumerate(seq.spans) if s.modality.label == "text")
    pieces = text_pieces(seq, k)
    assert "".join(p for p, _ in pieces) == mmtok.TextTokenizer.default().decode(
        seq.input_ids[seq.spans[k].start:seq.spans[k].end].tolist())
    text = mmtok.TextTokenizer.default()
    byte = [text.id_to_piece(i).startswith("<0x") for i in seq.input_ids[seq.spans[k].start:seq.spans[k].end]]
    assert [b for _, b in pieces] == byte


def test_timeline_strip_colours_every_token_and_maps_back(seq):
    width = 4 * len(seq)  # 4 px per token: every token visible
    img = np.asarray(pictures.timeline_strip(seq, width=width, height=20))  # row 1: above the span labels
    labels = {int(m): m.label for m in mmtok.Modality}
    for i in range(0, len(seq), 7):
        x = 4 * i + 1
        assert tuple(img[1, x]) == _rgb(pictures.MODALITY_COLORS[labels[int(seq.modality[i])]]), i
        assert pictures.strip_token(seq, x, width) == i
    assert pictures.strip_token(seq, -5, width) == 0 and pictures.strip_token(seq, 10 * width, width) == len(seq) - 1


def test_every_token_is_described_in_words_without_placeholders(seq):
    text = describe_token(seq, 2)
    assert "text piece" in text and "characters" in text
    img = seq.spans[2]
    patch = describe_token(seq, img.start + 1)
    assert "chelsea.png" in patch and str(PHOTO.parent) not in patch and "patch (" in patch
    assert "the marker <start_of_image>" in describe_token(seq, img.start)
    vid = seq.spans[4]
    assert re.search(r"frame \d+ of the sampled frames .* shown \d+\.\d\d–\d+\.\d\d s", describe_token(seq, vid.start + 2))
    assert re.search(r"the sound from \d+\.\d\d to \d+\.\d\d s", describe_token(seq, -2))
    for i in range(0, len(seq), 37):
        words = describe_token(seq, i)
        assert "-1" not in words and "nan" not in words.lower() and "None" not in words, words
    assert source_label("/tmp/gradio/abc123/photo.jpg") == "photo.jpg" and source_label("<array 3x4>") == "<array 3x4>"


def test_token_pictures_show_the_token_on_its_source(seq):
    img = seq.spans[2]
    pic = token_picture(seq, img.start + 1)
    assert pic.size == (451, 300)  # the original picture, the token's patch filled
    assert token_picture(seq, 1) is None  # text: words only
    strip = token_picture(seq, seq.spans[4].start + 2)
    assert strip is not None and strip.width > strip.height
    assert token_picture(seq, -2).size == (900, 140)


def test_audio_view_puts_wave_and_mel_on_one_axis():
    tokens = mmtok.AudioTokenizer(mmtok.AudioConfig(preset="whisper-80")).encode(SPEECH)
    wave = torch.zeros(tokens.num_samples)
    wave[: len(wave) // 2] = torch.sin(torch.arange(len(wave) // 2) / 5.0)  # sound in the first half only
    mel = mmtok.audio.PRESETS["whisper-80"]
    img = np.asarray(pictures.audio_view(wave, 16000, tokens.features, tokens.stack, f_min=mel.f_min, f_max=mel.f_max,
                                         mel_scale=mel.mel_scale, width=900))
    left, plot_w = 58, 900 - 58 - 12
    green = (img[2:30, :, 1] > 120) & (img[2:30, :, 0] < 120)  # the waveform's peaks (silence is a flat line)
    xs = np.nonzero(green.any(0))[0]
    assert abs(xs.min() - left) <= 1 and abs(xs.max() - (left + plot_w / 2)) <= 3  # sound in the first half only
    mel_rows = img[94:94 + 160]
    painted = ~(mel_rows == 255).all(-1).all(0)  # columns of the mel panel with any colour
    assert painted[left:left + plot_w].all() and not painted[left + plot_w + 2:].any()  # the mel spans the axis
    low, high = pictures.colormap(np.array([0.0, 1.0]))
    assert tuple(low) == (68, 1, 84) and tuple(high) == (253, 231, 37)


def test_budget_chart_stacks_by_modality_and_names_what_is_unsupported():
    rows = [{"model": "a", "text": 10, "image": 30, "video": 0, "audio": 0, "total": 40, "unsupported": []},
            {"model": "b", "text": 10, "image": 0, "video": 0, "audio": 0, "total": 10,
             "unsupported": ["piece 1 (image): b takes no pictures"]}]
    img = np.asarray(pictures.budget_chart(rows, width=600))
    red = (img[..., 0] > 180) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert red.any() and np.nonzero(red.any(1))[0].min() > 24 + 18  # the reason, under b's bar
    bar = img[24 + 9]  # a's bar: text then image colours
    colours = {tuple(p) for p in bar[170:560]}
    assert _rgb(pictures.MODALITY_COLORS["text"]) in colours and _rgb(pictures.MODALITY_COLORS["image"]) in colours


def test_model_picture_draws_the_models_cells():
    proc = mmtok.ModelProcessor("qwen2-vl")
    mseq = proc([mmtok.Image(PHOTO)])
    span = next(s for s in mseq.spans if s.modality.label == "image")
    meta = span.meta
    pic = pictures.model_picture(load_pixels(), meta, max_side=10_000)
    assert pic.size == (meta.resized_size[1], meta.resized_size[0])
    n_cells = (meta.rows // meta.merge) * (meta.cols // meta.merge)
    assert n_cells == proc.num_tokens(mmtok.Image(PHOTO))
    lit = np.asarray(pictures.model_picture(load_pixels(), meta, highlight=0, max_side=10_000), np.int16)
    plain = np.asarray(pic, np.int16)
    changed = np.nonzero(np.abs(lit - plain).sum(-1) > 0)
    cell = meta.merge * meta.patch_size
    assert changed[0].max() < cell and changed[1].max() < cell  # token 0: the top-left merged cell only


def load_pixels():
    from mmtok.media.imageio import load_image

    return load_image(PHOTO).pixels


def test_tokenize_png(tmp_path, capsys):
    out = tmp_path / "seq.png"
    assert main(["tokenize", "text:a cat", str(PHOTO), str(SPEECH), "--png", str(out)]) == 0
    assert f"drew {out}" in capsys.readouterr().out
    img = PILImage.open(out)
    assert img.width == 960 and img.height > 44 + 3 * 20
    assert main(["tokenize", "text:a cat", "--png", str(tmp_path / "no" / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["tokenize", "text:a cat", "--png", str(tmp_path / "x.jpg")]) == 2
    assert "ending in .png" in capsys.readouterr().err
    seq = mmtok.MultimodalTokenizer()(["a cat", mmtok.Image(PHOTO), mmtok.Audio(SPEECH)])
    assert np.array_equal(np.asarray(img), np.asarray(sequence_picture(seq)))


def test_model_views_count_as_the_library_and_refuse_in_words():
    from mmtok.multimodal import modelview

    models = ["qwen2-vl", "gemma-3", "chameleon", "whisper", "gemini-api"]
    views = modelview.model_views(mmtok.Image(PHOTO), models)
    for v in views:
        proc = mmtok.ModelProcessor(v.model)
        if v.model == "whisper":
            assert v.tokens is None and v.reason and "not supported" in v.caption
            with pytest.raises(mmtok.InputError):
                proc.num_tokens(mmtok.Image(PHOTO))
        else:
            assert v.tokens == proc.num_tokens(mmtok.Image(PHOTO)), v.model
            assert v.with_markers == proc.segment_length(mmtok.Image(PHOTO))
    gemini = views[-1]
    assert gemini.seq is None and gemini.tokens  # counts only: no sequence, still its count
    qwen = views[0]
    assert len(qwen.placeholders()) == qwen.tokens
    original = load_pixels()
    img, panels = modelview.picture_panels(views, original)
    p = next(p for p in panels if views[p.view].model == "qwen2-vl")
    cell = p.meta.patch_size * p.meta.merge * p.scale
    assert modelview.cell_at(panels, p.x + 1.5 * cell, p.y + 0.5 * cell) == (p.view, 1)
    assert modelview.cell_at(panels, img.width + 10, 0) is None
    pic, words = modelview.token_on_original(qwen, 1, original)
    assert pic.size == (451, 300) and "qwen2-vl" not in words and "patch (" in words


def test_time_lanes_for_a_sound():
    from mmtok.multimodal import modelview

    views = modelview.model_views(mmtok.Audio(SPEECH), ["whisper", "gemma-3n", "qwen2-vl"])
    assert views[2].tokens is None  # Qwen2-VL reads no sound
    img = modelview.time_lanes(views, 8.1, extra=[("mmtok", [(0.0, 0.04), (0.04, 0.08)])])
    assert img.size == (900, 26 * 4 + 30)


def test_clip_frames_show_each_models_frames_decoded_once(tmp_path):
    """The frames each model takes from a clip: Qwen2-VL one thumbnail per group of 2 frames, Gemma 4 each of its
    frames (at most ``limit``); the first thumbnail is the model's first frame, shrunk."""
    from mmtok.multimodal import modelview
    from mmtok.video.frames import FrameDecoder
    from videos import make_clip

    path = tmp_path / "c.mp4"
    make_clip(path, n=100, fps=25, size=(320, 240))
    views = modelview.model_views(mmtok.Video(path), ["qwen2-vl", "gemma-4", "gemma-3"])
    qwen = views[0].seq.spans[views[0].span].meta
    assert views[2].tokens is None  # Gemma 3 takes no clip: its reason, not frames
    img = modelview.clip_frames(views, path, 60.0, limit=8)
    dec = FrameDecoder(path, path.name, mmtok.VideoConfig(num_frames=1))
    dec.pick(np.array(qwen.frame_indices[:1]))
    first = PILImage.fromarray(next(iter(dec)))
    first.thumbnail((4 * 64, 64))
    shown = np.asarray(img.crop((4, 24, 4 + first.width, 24 + first.height)), dtype=np.int16)
    assert np.abs(shown - np.asarray(first, dtype=np.int16)).max() == 0
    gemma4 = views[1].seq.spans[views[1].span].meta
    assert len(gemma4.frame_indices) > 8  # more than the limit: only 8 shown
    small = modelview.clip_frames(views, path, 60.0, limit=len(gemma4.frame_indices))
    assert small.height > img.height
