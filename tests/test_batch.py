"""collate and pack_rows: one Batch type, invertible, features aligned with placeholders, labels in the Hugging Face
causal-LM convention, positions restart per document, typed errors for a wrong mapping."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import mmtok
from mmtok import Batch, Modality, collate, pack, pack_rows, uncollate, unpack_rows
from mmtok.errors import ContextLengthError, SequenceError
from strategies import segment_lists

VOCAB = mmtok.TextTokenizer.default().vocab
sequences = st.lists(segment_lists(VOCAB, min_size=1, max_size=5).map(lambda s: pack(s, VOCAB)), min_size=1,
                     max_size=6)
# the keys of every batch, as the Batch docstring and the README list them
KEYS = ["input_ids", "attention_mask", "labels", "modality", "positions", "positions_3d", "document_ids", "documents",
        "features", "grids", "spans", "max_length", "truncation", "vocab"]
PLACEHOLDER_IDS = {VOCAB.placeholder(m) for m in (Modality.IMAGE, Modality.VIDEO, Modality.AUDIO)}


def _features_align(batch, seqs_in_grid_order):
    for m in (Modality.IMAGE, Modality.VIDEO, Modality.AUDIO):
        mask = batch["input_ids"] == VOCAB.placeholder(m)
        feats = batch["features"].get(m.label)
        assert int(mask.sum()) == (0 if feats is None else len(feats))
        parts = [s.features[m.label] for s in seqs_in_grid_order if m.label in s.features]
        if parts:
            assert torch.equal(feats, torch.cat(parts))


def expected_labels(shape, seqs, documents):
    """Labels computed token by token from each sequence: its id, except -100 at its first token, at placeholders
    and at <pad>; -100 wherever no sequence was placed."""
    labels = [[-100] * shape[1] for _ in range(shape[0])]
    for seq, (r, c, _) in zip(seqs, documents):
        for j, t in enumerate(seq.input_ids.tolist()):
            if j > 0 and t not in PLACEHOLDER_IDS and t != VOCAB.pad_id:
                labels[r][c + j] = t
    return torch.tensor(labels)


@given(sequences, st.one_of(st.none(), st.integers(1, 16)))
def test_collate_round_trip(seqs, multiple):
    batch = collate(seqs, pad_to_multiple_of=multiple)
    assert isinstance(batch, Batch) and list(batch) == KEYS
    width = batch["input_ids"].shape[1]
    assert width >= max(len(s) for s in seqs) and (multiple is None or width % multiple == 0)
    assert batch["documents"].tolist() == [[i, 0, len(s)] for i, s in enumerate(seqs)]
    assert torch.equal(batch["attention_mask"].sum(1), batch["documents"][:, 2])
    assert torch.equal(batch["labels"], expected_labels((len(seqs), width), seqs, batch["documents"].tolist()))
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
    assert isinstance(rows, Batch) and list(rows) == KEYS
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
    assert torch.equal(rows["labels"], expected_labels(tuple(rows["input_ids"].shape), seqs, docs))
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
    other = pack([text_tok.segment(text_tok.encode("a"))], text_tok.make_vocab(image_codes=8))
    with pytest.raises(SequenceError, match="one vocabulary"):
        collate([seq, other])
    with pytest.raises(SequenceError, match="pad_to_multiple_of"):
        collate([seq], pad_to_multiple_of=0)


def mixed(seed: int) -> mmtok.TokenSequence:
    """<bos>, text, a 2x3 image (grid in its metadata), an audio clip of 4 tokens, text."""
    g = torch.Generator().manual_seed(seed)
    image_ids = [VOCAB.special("<start_of_image>")] + [VOCAB.placeholder(Modality.IMAGE)] * 6 + [
        VOCAB.special("<end_of_image>")]
    image_pos = torch.cat([torch.zeros(3, 1, dtype=torch.int64), mmtok.grid_positions(1, 2, 3) + 1,
                           torch.full((3, 1), 4)], dim=1)
    audio_ids = [VOCAB.special("<start_of_audio>")] + [VOCAB.placeholder(Modality.AUDIO)] * 4 + [
        VOCAB.special("<end_of_audio>")]
    text = [mmtok.Segment(Modality.TEXT, torch.randint(0, 1000, (n,), generator=g), mmtok.sequential_positions(n))
            for n in (3 + seed, 2)]
    return pack([mmtok.Segment(Modality.CONTROL, torch.tensor([VOCAB.bos_id]), mmtok.sequential_positions(1)),
                 text[0],
                 mmtok.Segment(Modality.IMAGE, torch.tensor(image_ids), image_pos, torch.randn(6, 12, generator=g),
                               meta={"grid": [2, 3]}),
                 mmtok.Segment(Modality.AUDIO, torch.tensor(audio_ids), mmtok.sequential_positions(6),
                               torch.randn(4, 8, generator=g)),
                 text[1]], VOCAB)


@pytest.fixture(scope="module")
def mixed_batch():
    return collate([mixed(0), mixed(1)])


def test_batch_is_a_mapping_and_to_moves_every_tensor(mixed_batch):
    batch = mixed_batch
    assert len(batch) == len(KEYS) and "labels" in batch and "lengths" not in batch
    assert dict(batch.items()).keys() == set(KEYS) and Batch(dict(batch))["vocab"] == VOCAB
    assert batch["grids"]["image"].tolist() == [[2, 3], [2, 3]]  # one per picture, in the features' order
    # a device: every tensor moves, those in the features and grids dicts too; the original stays where it was
    moved = batch.to("meta")
    assert isinstance(moved, Batch) and moved is not batch and batch["input_ids"].device.type == "cpu"
    tensors = [v for v in moved.values() if isinstance(v, torch.Tensor)]
    tensors += list(moved["features"].values()) + list(moved["grids"].values())
    assert len(tensors) == 8 + 2 + 1 and all(t.device.type == "meta" for t in tensors)
    # a dtype: only floating-point tensors (the features) are cast; ids, masks, labels, positions stay int64
    wide = batch.to(torch.float64)
    assert wide["features"]["audio"].dtype == wide["features"]["image"].dtype == torch.float64
    assert torch.equal(wide["features"]["audio"], batch["features"]["audio"].double())
    assert all(wide[k].dtype == torch.int64 and torch.equal(wide[k], batch[k]) for k in KEYS[:8])
    assert uncollate(wide)[1].features["image"].dtype == torch.float64
    with pytest.raises(SequenceError, match="floating-point"):
        batch.to(torch.int32)


@pytest.mark.parametrize("key", KEYS)
def test_a_mapping_without_a_key_is_a_typed_error_naming_it(mixed_batch, key):
    partial = {k: v for k, v in mixed_batch.items() if k != key}
    with pytest.raises(SequenceError, match=f"the batch has no '{key}'"):
        uncollate(partial)
    with pytest.raises(SequenceError, match=f"the batch has no '{key}'"):
        unpack_rows(partial)


def test_a_mapping_of_the_wrong_shape_is_a_typed_error(mixed_batch):
    with pytest.raises(SequenceError, match="unknown key.*'label'"):
        Batch({**mixed_batch, "label": mixed_batch["labels"]})
    with pytest.raises(SequenceError, match=r"batch\['labels'\] must be a tensor of shape"):
        Batch({**mixed_batch, "labels": mixed_batch["labels"][:, 1:]})
    with pytest.raises(SequenceError, match=r"batch\['spans'\] must be a list with one entry per document"):
        Batch({**mixed_batch, "spans": mixed_batch["spans"][:1]})
    with pytest.raises(SequenceError, match="made from a mapping"):
        uncollate([mixed_batch])
    mine = mixed_batch["labels"].clone()
    mine[:, :3] = -100  # a batch with other labels: the rest stays
    other = Batch({**mixed_batch, "labels": mine})
    assert torch.equal(other["labels"], mine) and torch.equal(other["input_ids"], mixed_batch["input_ids"])
