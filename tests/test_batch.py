"""collate and pack_rows: invertible, features aligned with placeholders, positions restart per document."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import mmtok
from mmtok import Modality, collate, pack, pack_rows, uncollate, unpack_rows
from mmtok.errors import ContextLengthError, SequenceError
from strategies import segment_lists

VOCAB = mmtok.TextTokenizer.default().vocab()
sequences = st.lists(segment_lists(VOCAB, min_size=1, max_size=5).map(lambda s: pack(s, VOCAB)), min_size=1,
                     max_size=6)


def _features_align(batch, seqs_in_grid_order):
    for m in (Modality.IMAGE, Modality.VIDEO, Modality.AUDIO):
        mask = batch["input_ids"] == VOCAB.placeholder(m)
        feats = batch["features"].get(m.label)
        assert int(mask.sum()) == (0 if feats is None else len(feats))
        parts = [s.features[m.label] for s in seqs_in_grid_order if m.label in s.features]
        if parts:
            assert torch.equal(feats, torch.cat(parts))


@given(sequences, st.one_of(st.none(), st.integers(1, 16)))
def test_collate_round_trip(seqs, multiple):
    batch = collate(seqs, pad_to_multiple_of=multiple)
    width = batch["input_ids"].shape[1]
    assert width >= max(len(s) for s in seqs) and (multiple is None or width % multiple == 0)
    assert torch.equal(batch["attention_mask"].sum(1), batch["lengths"])
    pad = batch["attention_mask"] == 0
    assert (batch["input_ids"][pad] == VOCAB.pad_id).all()
    assert (batch["modality"][pad] == int(Modality.CONTROL)).all()
    assert batch["positions_3d"].shape == (len(seqs), 3, width)
    _features_align(batch, seqs)
    back = uncollate(batch)
    assert len(back) == len(seqs) and all(a.equals(b) for a, b in zip(back, seqs))


@given(sequences, st.integers(0, 40))
def test_pack_rows_round_trip(seqs, slack):
    row_length = max(1, max(len(s) for s in seqs) + slack)
    rows = pack_rows(seqs, row_length)
    assert rows["input_ids"].shape[1] == row_length
    assert int(rows["attention_mask"].sum()) == sum(len(s) for s in seqs)
    docs = rows["documents"].tolist()
    for i, (r, c, n) in enumerate(docs):
        assert n == len(seqs[i])
        assert (rows["document_ids"][r, c:c + n] == i).all()
        # positions restart at each document: they are the document's own
        assert torch.equal(rows["positions"][r, c:c + n], torch.arange(n))
        assert torch.equal(rows["positions_3d"][r, :, c:c + n], seqs[i].positions_3d)
    grid_order = [seqs[i] for i in sorted(range(len(seqs)), key=lambda i: docs[i][:2])]
    _features_align(rows, grid_order)
    back = unpack_rows(rows)
    assert all(a.equals(b) for a, b in zip(back, seqs))
    # first fit: no later row could have taken a document placed in a new row
    assert rows["input_ids"].shape[0] <= len(seqs)


def test_pack_rows_is_first_fit(text_tok, vocab):
    def doc(n):
        ids = torch.arange(n, dtype=torch.int64)
        return pack([mmtok.Segment(Modality.TEXT, ids, mmtok.sequential_positions(n))], vocab)

    rows = pack_rows([doc(6), doc(6), doc(3), doc(4)], 10)
    # 6 -> row 0, 6 -> row 1 (no room in row 0), 3 -> row 0 (first row with room), 4 -> row 1
    assert rows["documents"].tolist() == [[0, 0, 6], [1, 0, 6], [0, 6, 3], [1, 6, 4]]


def test_document_mask(vocab, text_tok):
    seqs = [pack([text_tok.segment(text_tok.encode(t))], vocab) for t in ("ab cd", "one two three")]
    rows = pack_rows(seqs, 32)
    mask = mmtok.document_attention_mask(rows["document_ids"])
    (r0, c0, n0), (r1, c1, n1) = rows["documents"].tolist()
    assert r0 == r1 == 0 and n1 > 1
    assert not mask[0, c1, c0]  # the second document never attends to the first
    assert mask[0, c1 + n1 - 1, c1] and not mask[0, c1, c1 + n1 - 1]  # causal inside a document


def test_batch_errors(text_tok, vocab):
    seq = pack([text_tok.segment(text_tok.encode("a long enough text"))], vocab)
    with pytest.raises(ContextLengthError, match="more than row_length=2"):
        pack_rows([seq], 2)
    with pytest.raises(SequenceError, match="no sequences"):
        collate([])
    other = pack([text_tok.segment(text_tok.encode("a"))], text_tok.vocab(image_codes=8))
    with pytest.raises(SequenceError, match="one vocabulary"):
        collate([seq, other])
    with pytest.raises(SequenceError, match="pad_to_multiple_of"):
        collate([seq], pad_to_multiple_of=0)
