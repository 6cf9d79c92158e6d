"""Provenance both ways, on the bundled media under every layout: ``seq.provenance(i)`` says where token i came from
(box and ``block`` in the original picture, a frame's display interval, a sound's time span), and
``seq.tokens_at(span, xy=... | t=...)`` which tokens came from a pixel or an instant — each the other's inverse."""

from pathlib import Path

import pytest
import torch

import mmtok
from mmtok import Audio, Image, MultimodalTokenizer, Video
from mmtok.core.threads import one_torch_thread
from mmtok.errors import SequenceError

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "assets/images/chelsea.png"  # 451 x 300
BIG = ROOT / "assets/images/seeding_by_Clements_Engelhardt.jpg"  # 5312 x 2988: 4 x 7 tiles in the tiles layout
CLIP = ROOT / "assets/video/cityCC0.mpg"  # 7.6 s at 25 fps: every frame is shown for 0.04 s
SPEECH = ROOT / "assets/audio/speech_en.wav"
SAMPLE = 60  # tokens checked per span (all of them in smaller spans), first and last included


@pytest.fixture(scope="module", params=["gemini-like", "dynamic", "tiles"])
def laid_out(request):
    tok = MultimodalTokenizer(request.param)
    tok._vq = mmtok.VQImageTokenizer.from_config("vq-f8-4096", seed=0)  # the code cells do not depend on weights
    with one_torch_thread():
        seq = tok(["look", Image(PHOTO), Image(BIG), Video(CLIP), Audio(SPEECH), Image(PHOTO, as_="codes")])
        yield request.param, seq, seq.provenance_table()


def _sample(tokens: torch.Tensor) -> list[int]:
    if len(tokens) <= SAMPLE:
        return tokens.tolist()
    pick = torch.randperm(len(tokens), generator=torch.Generator().manual_seed(0))[:SAMPLE - 2]
    return sorted({int(tokens[0]), int(tokens[-1]), *tokens[pick].tolist()})


def _inside(box: torch.Tensor, x: float, y: float) -> torch.Tensor:
    return (box[:, 0] <= x) & (x < box[:, 2]) & (box[:, 1] <= y) & (y < box[:, 3])


def test_tokens_at_inverts_provenance_on_every_media_span(laid_out):
    """For sampled tokens i of each picture, clip, sound and code span: i is among tokens_at(span, xy=the centre of
    its box) and tokens_at(span, t=the middle of its time span); every token returned covers that pixel or instant;
    and a pixel gives one token per view of a picture (tiles: the thumbnail's and one tile's) and per frame of a
    clip, an instant one audio token or one frame's patches."""
    name, seq, table = laid_out
    with one_torch_thread():
        for k, span in enumerate(seq.spans[2:], start=2):
            meta = span.meta
            views = 2 if getattr(meta, "blocks", 1) > 1 else 1
            per_pixel = meta.num_frames if span.modality == mmtok.Modality.VIDEO else views
            rows = torch.arange(span.start, span.end)
            known = ~torch.isnan(table["box"][rows, 0]) | ~torch.isnan(table["time"][rows, 0])
            checked = _sample(rows[known])
            assert checked, f"{name}: span {k} has no token with provenance"
            for i in checked:
                p = seq.provenance(i)
                assert p["span"] == k and p == seq.provenance(i - len(seq))  # negative indices count from the end
                if "box" in p:
                    x0, y0, x1, y1 = p["box"]
                    x, y = (x0 + x1) / 2, (y0 + y1) / 2
                    for x, y in ((x0 + x1) / 2, (y0 + y1) / 2), (x0, y0):  # a box holds its top left corner
                        hits = seq.tokens_at(k, xy=(x, y))
                        assert i in hits and _inside(table["box"][hits], x, y).all()
                        if span.modality != mmtok.Modality.IMAGE_CODES:
                            assert len(hits) == per_pixel, f"{name}: pixel ({x}, {y}) of span {k}: {len(hits)} tokens"
                if "time" in p:
                    t0, t1 = p["time"]
                    t = (t0 + t1) / 2
                    hits = seq.tokens_at(k, t=t)
                    times = table["time"][hits]
                    assert i in hits and ((times[:, 0] <= t) & (t < times[:, 1])).all()
                    frames = table["frame"][hits]
                    assert len(hits) == 1 or len(set(frames.tolist())) == 1  # a sound token, or one frame's patches


def test_a_video_token_spans_its_frames_display_interval(laid_out):
    """cityCC0 runs at 25 fps: each patch's time is [its frame's timestamp, + 0.04 s), not a point."""
    name, seq, table = laid_out
    span = seq.spans[4]
    rows = torch.arange(span.start, span.end)
    f = table["frame"][rows]
    rows, f = rows[f >= 0], f[f >= 0]
    t = table["time"][rows]
    assert torch.equal(t[:, 0], torch.tensor(span.meta.timestamps, dtype=torch.float64)[f])
    assert torch.allclose(t[:, 1] - t[:, 0], torch.full((len(t),), 0.04, dtype=torch.float64))
    with one_torch_thread():  # between two sampled frames no token is on screen; inside one, its patches are
        assert seq.tokens_at(4, t=span.meta.timestamps[3] - 0.01) == []
        assert seq.tokens_at(4, t=span.meta.timestamps[3] + 0.01) == rows[f == 3].tolist()


def test_block_tells_the_thumbnail_from_each_tile(laid_out):
    """Tiles: block 0 is the thumbnail (it shows the whole picture), block 1 + r * cols + c the tile in row r, column
    c (left to right, then top to bottom in the original); a picture of one block is block 0 throughout."""
    name, seq, table = laid_out
    for k in (2, 3, 4):  # the photo, the big picture, the clip's frames
        span = seq.spans[k]
        rows = torch.arange(span.start, span.end)
        rows = rows[table["block"][rows] >= 0]
        block, box = table["block"][rows], table["box"][rows]
        grid = getattr(span.meta, "tile_grid", None)
        if grid is None:
            assert (block == 0).all() and len(block) == len(rows)
            continue
        r_n, c_n = grid
        assert torch.equal(torch.unique(block), torch.arange(1 + r_n * c_n))
        thumb = box[block == 0]
        h, w = span.meta.original_size
        assert thumb[:, :2].nan_to_num(1e9).min(0).values.tolist() == pytest.approx([0, 0])
        assert thumb[:, 2:].nan_to_num(-1).max(0).values.tolist() == pytest.approx([w, h])
        corner = torch.stack([box[block == b].nan_to_num(float("inf"))[:, :2].min(0).values
                              for b in range(1, 1 + r_n * c_n)]).reshape(r_n, c_n, 2)
        assert (corner[:, 1:, 0] > corner[:, :-1, 0]).all() and (corner[1:, :, 1] > corner[:-1, :, 1]).all()
    if name == "tiles":
        assert seq.spans[3].meta.tile_grid == (4, 7)
        with one_torch_thread():
            hits = seq.tokens_at(3, xy=(1000, 500))  # tile row 0, column 1 of 7 (each ~759 px wide)
        assert [seq.provenance(i)["block"] for i in hits] == [0, 2]


def test_a_clip_with_its_sound_both_ways(tmp_path):
    """In a clip with its sound (one span), each audio token's instant finds that token and no other sound token;
    a pixel finds one patch per frame; the instant of a frame on screen finds its patches and the sound then."""
    from sounds import clip_with_sound

    path = clip_with_sound(tmp_path / "av.mp4", seconds=2.0)  # 25 fps
    tok = MultimodalTokenizer.default()
    with one_torch_thread():
        seq = tok(["hear", Video(path, audio=True)])
        table = seq.provenance_table()
        span = seq.spans[-1]
        audio = (seq.modality == int(mmtok.Modality.AUDIO)) & ~torch.isnan(table["time"][:, 0])
        for i in audio.nonzero()[:, 0].tolist():
            t0, t1 = table["time"][i].tolist()
            for t in (t0 + t1) / 2, t0:  # a time span holds its start, not its end
                hits = seq.tokens_at(-1, t=t)
                assert [j for j in hits if audio[j]] == [i]
        patch = span.start + 2  # frame 0's first patch
        x0, y0, x1, y1 = table["box"][patch].tolist()
        hits = seq.tokens_at(-1, xy=((x0 + x1) / 2, (y0 + y1) / 2))
        assert hits[0] == patch and table["frame"][hits].tolist() == list(range(16))
        t = table["time"][patch].mean().item()
        hits = torch.tensor(seq.tokens_at(-1, t=t))
        assert int((~audio[hits]).sum()) == 196 and int(audio[hits].sum()) == 1


@pytest.mark.parametrize("query, message", [
    (dict(span=2), "exactly one of xy"),
    (dict(span=2, xy=(1, 1), t=0.5), "exactly one of xy"),
    (dict(span=7, xy=(1, 1)), r"span 7 is outside the sequence's 7 spans"),
    (dict(span=-8, t=1.0), r"span -8 is outside"),
    (dict(span="2", xy=(1, 1)), "its index"),
    (dict(span=2, xy=(451, 0)), r"pixel \(451, 0\) is outside the 451 x 300 picture"),
    (dict(span=2, xy=(0, -0.5)), r"is outside the 451 x 300 picture"),
    (dict(span=2, xy=(float("nan"), 1)), "2 finite numbers"),
    (dict(span=2, xy=(1,)), "2 finite numbers"),
    (dict(span=2, t=1.0), r"span 2 \(image, .*chelsea.png\) has no times"),
    (dict(span=5, xy=(1, 1)), r"span 5 \(audio, .*speech_en.wav\) has no pixels"),
    (dict(span=1, xy=(1, 1)), r"span 1 \(text\) has no pixels"),
    (dict(span=5, t=-0.01), r"t=-0.01 s is outside span 5"),
    (dict(span=5, t=8.2), r"t=8.2 s is outside span 5 \(audio, .*speech_en.wav\), which lasts 8.083 s"),
    (dict(span=-1, t=1.0), r"span 6 \(image_codes, .*chelsea.png\) has no times"),
    (dict(span=4, t=float("inf")), "a finite number"),
])
def test_tokens_at_refuses_what_it_cannot_answer(laid_out, query, message):
    _, seq, _ = laid_out
    with pytest.raises(SequenceError, match=message):
        seq.tokens_at(**query)
    with pytest.raises(SequenceError, match="outside the sequence of"):
        seq.provenance(-len(seq) - 1)
