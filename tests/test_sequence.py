"""pack / unpack: exact inverses; positions; features in sequence order; the context limit."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import mmtok
from mmtok import Modality, Segment, pack, sequential_positions
from mmtok.errors import ContextLengthError, SequenceError, VocabError
from strategies import segment_lists

VOCAB = mmtok.TextTokenizer.default().vocab


@given(segment_lists(VOCAB))
def test_pack_unpack_exact(segs):
    seq = pack(segs, VOCAB)
    assert seq.unpack() == segs
    assert len(seq) == sum(len(s) for s in segs)
    assert torch.equal(seq.positions, torch.arange(len(seq)))
    # modality per token is its segment's, except a clip's audio runs; spans tile the sequence
    audio = torch.tensor([VOCAB.special("<start_of_audio>"), VOCAB.special("<end_of_audio>"),
                          VOCAB.placeholder(Modality.AUDIO)])
    for span, seg in zip(seq.spans, segs):
        run = torch.isin(seg.input_ids, audio) & (seg.modality == Modality.VIDEO)
        assert (seq.modality[span.start:span.end][~run] == int(seg.modality)).all()
        assert (seq.modality[span.start:span.end][run] == int(Modality.AUDIO)).all()
        assert (span.num_features, span.sound_features) == (seg.num_features, seg.num_sound_features)
    assert sum(s.length for s in seq.spans) == len(seq)


@given(segment_lists(VOCAB, min_size=1))
def test_features_follow_placeholders(segs):
    seq = pack(segs, VOCAB)
    for m in (Modality.IMAGE, Modality.VIDEO, Modality.AUDIO):
        where = (seq.input_ids == VOCAB.placeholder(m)).nonzero().flatten()
        feats = seq.features.get(m.label)
        assert (0 if feats is None else len(feats)) == len(where)
        # the k-th placeholder's row is the k-th feature row of its own segment (a clip's sound: its sound rows)
        expected = [s.features if s.modality == m else s.sound for s in segs
                    if s.modality == m and s.num_features or m == Modality.AUDIO and s.num_sound_features]
        if expected:
            assert torch.equal(feats, torch.cat(expected))


@given(segment_lists(VOCAB))
def test_positions_3d_rule(segs):
    seq = pack(segs, VOCAB)
    nxt = 0
    for span, seg in zip(seq.spans, segs):
        assert span.offset == nxt
        assert torch.equal(seq.positions_3d[:, span.start:span.end], seg.pos3d + nxt)
        nxt += int(seg.pos3d.max()) + 1 if len(seg) else 0


def test_text_positions_advance_all_axes(text_tok, vocab):
    seq = pack([text_tok.segment(text_tok.encode("one two")), text_tok.segment(text_tok.encode(" three"))], vocab)
    for axis in range(3):
        assert torch.equal(seq.positions_3d[axis], seq.positions)


def test_context_limit_names_the_crossing_span(text_tok, vocab):
    segs = [text_tok.segment(text_tok.encode("a" * 10), source="first"),
            text_tok.segment(text_tok.encode("b c d e f g h i j k l"), source="second")]
    n0 = len(segs[0])
    with pytest.raises(ContextLengthError, match=r"exceeds the context limit of 12.*segment 1 \(text segment "
                                                 r"\(second\)"):
        pack(segs, vocab, max_length=12)
    seq = pack(segs, vocab, max_length=12, truncate=True)
    assert len(seq) == n0 and seq.unpack() == segs[:1]
    assert seq.truncation == {"original_length": n0 + len(segs[1]), "original_segments": 2, "kept_segments": 1,
                              "dropped": [{"modality": "text", "length": len(segs[1]), "source": "second"}]}
    assert seq.to_manifest()["truncation"] == seq.truncation


@given(segment_lists(VOCAB, min_size=1), st.integers(1, 200))
def test_truncation_only_at_span_boundaries(segs, limit):
    total = sum(len(s) for s in segs)
    if total <= limit:
        assert pack(segs, VOCAB, max_length=limit).truncation is None
        return
    with pytest.raises(ContextLengthError):
        pack(segs, VOCAB, max_length=limit)
    seq = pack(segs, VOCAB, max_length=limit, truncate=True)
    k = seq.truncation["kept_segments"]
    assert seq.unpack() == segs[:k] and len(seq) <= limit
    assert len(seq) + len(segs[k]) > limit  # the first dropped segment really did not fit
    assert sum(d["length"] for d in seq.truncation["dropped"]) == total - len(seq)


def test_default_context_is_gemini_32k():
    assert mmtok.DEFAULT_MAX_LENGTH == 32_768


def test_segment_validation(vocab):
    img = vocab.placeholder(Modality.IMAGE)
    with pytest.raises(SequenceError, match="int64"):
        Segment(Modality.TEXT, torch.tensor([1, 2], dtype=torch.int32), sequential_positions(2))
    with pytest.raises(SequenceError, match=r"pos3d must be int64 \[3, 2\]"):
        Segment(Modality.TEXT, torch.tensor([1, 2]), sequential_positions(3))
    with pytest.raises(SequenceError, match="start at 0"):
        Segment(Modality.TEXT, torch.tensor([1, 2]), sequential_positions(2) + 1)
    with pytest.raises(SequenceError, match="carries no features"):
        Segment(Modality.TEXT, torch.tensor([1]), sequential_positions(1), torch.zeros(1, 4))
    with pytest.raises(SequenceError, match=r"text metadata has no field\(s\) \['x'\]"):
        Segment(Modality.TEXT, torch.tensor([1]), sequential_positions(1), meta={"x": object()})
    with pytest.raises(SequenceError, match="image.grid must hold 2 values"):
        Segment(Modality.IMAGE, torch.tensor([1]), sequential_positions(1), meta={"grid": [1, 2, 3]})
    with pytest.raises(SequenceError, match="audio.duration must be a finite number"):
        Segment(Modality.AUDIO, torch.tensor([1]), sequential_positions(1), meta={"duration": float("nan")})
    with pytest.raises(SequenceError, match="meta kind 'audio' does not fit a video span"):
        Segment(Modality.VIDEO, torch.tensor([1]), sequential_positions(1), meta={"kind": "audio"})
    with pytest.raises(SequenceError, match="made for image segments"):
        Segment(Modality.AUDIO, torch.tensor([1]), sequential_positions(1), meta=mmtok.core.meta.ImageMeta())
    with pytest.raises(SequenceError, match="2 placeholder ids but 1 feature rows"):
        pack([Segment(Modality.IMAGE, torch.tensor([img, img]), sequential_positions(2), torch.zeros(1, 4))], vocab)
    with pytest.raises(SequenceError, match="placeholders of another modality"):
        pack([Segment(Modality.AUDIO, torch.tensor([img]), sequential_positions(1), torch.zeros(1, 4))], vocab)
    with pytest.raises(SequenceError, match="disagree in width"):
        pack([Segment(Modality.IMAGE, torch.tensor([img]), sequential_positions(1), torch.zeros(1, 4)),
              Segment(Modality.IMAGE, torch.tensor([img]), sequential_positions(1), torch.zeros(1, 5))], vocab)
    with pytest.raises(VocabError, match="outside the unified vocabulary"):
        pack([Segment(Modality.TEXT, torch.tensor([vocab.size]), sequential_positions(1))], vocab)
    with pytest.raises(SequenceError, match="not an mmtok Segment"):
        pack(["text"], vocab)  # type: ignore[list-item]


def test_empty_sequence(vocab):
    seq = pack([], vocab)
    assert len(seq) == 0 and seq.unpack() == [] and seq.positions_3d.shape == (3, 0)


def test_pack_unpack_and_the_feature_read_run_on_one_torch_thread(monkeypatch):
    """pack, unpack and the first read of ``seq.features`` run their tensor ops on one torch thread (on the shared
    2-core machine two OpenMP threads made pack + unpack of 100 spans 126 ms against 23 ms on one:
    benchmarks/RESULTS.md, "Sequence packing") and give the caller's thread count back."""
    import mmtok.core.features as features_module
    import mmtok.core.sequence as sequence_module

    seen: dict[str, list[int]] = {"pack": [], "unpack": [], "features": []}
    assemble, trusted, cat = sequence_module._assemble, Segment._trusted, torch.cat
    monkeypatch.setattr(sequence_module, "_assemble", lambda *a: seen["pack"].append(torch.get_num_threads())
                        or assemble(*a))
    monkeypatch.setattr(Segment, "_trusted", classmethod(lambda cls, *a: seen["unpack"].append(
        torch.get_num_threads()) or trusted(*a)))  # unpack makes each segment with it
    monkeypatch.setattr(features_module.torch, "cat", lambda *a, **k: seen["features"].append(
        torch.get_num_threads()) or cat(*a, **k))  # torch itself: pack's calls are counted too, then cleared
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # so that a missing switch to one thread shows
    try:
        img = VOCAB.placeholder(Modality.IMAGE)
        segs = [Segment(Modality.IMAGE, torch.tensor([img, img]), sequential_positions(2), torch.randn(2, 4))
                for _ in range(2)]
        seq = pack(segs, VOCAB)
        seen["features"].clear()  # pack's own torch.cat calls (ids, positions)
        seq.features["image"]
        seq.unpack()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == {"pack": [1], "unpack": [1, 1], "features": [1]}
