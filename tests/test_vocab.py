"""The unified vocabulary: layout, vectorized split/join, descriptions."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mmtok import SPECIAL_TOKENS, Kind, Modality, Vocab
from mmtok.errors import ConfigError, VocabError


def test_layout(vocab, text_tok):
    assert vocab.text_size == text_tok.vocab_size
    assert vocab.special_offset == vocab.text_size
    assert vocab.code_offset == vocab.text_size + len(SPECIAL_TOKENS)
    assert vocab.size == vocab.code_offset + vocab.image_codes
    assert len(set(SPECIAL_TOKENS)) == len(SPECIAL_TOKENS)
    assert [vocab.special(n) for n in SPECIAL_TOKENS] == list(range(vocab.special_offset, vocab.code_offset))
    for m in (Modality.IMAGE, Modality.VIDEO, Modality.AUDIO):
        assert vocab.name(vocab.placeholder(m)).endswith("_soft_token>")
    assert vocab.name(vocab.code_offset + 5) == "code:5" and vocab.name(7) == "text:7"


@given(st.integers(1, 50_000), st.integers(0, 9000), st.data())
def test_split_join_round_trip(text_size, codes, data):
    v = Vocab(text_size=text_size, image_codes=codes)
    ids = torch.tensor(data.draw(st.lists(st.integers(0, v.size - 1), max_size=50)), dtype=torch.int64)
    kind, local = v.split(ids)
    assert torch.equal(v.join(kind, local), ids)
    assert ((kind == Kind.TEXT) == (ids < text_size)).all()
    assert ((kind == Kind.IMAGE_CODE) == (ids >= v.code_offset)).all()
    assert (local >= 0).all()


def test_split_join_shapes_and_errors(vocab):
    ids = torch.tensor([[0, vocab.bos_id], [vocab.code_offset, vocab.size - 1]])
    kind, local = vocab.split(ids)
    assert kind.tolist() == [[0, 1], [2, 2]] and local.tolist() == [[0, 1], [0, vocab.image_codes - 1]]
    with pytest.raises(VocabError, match="outside the unified vocabulary"):
        vocab.split(torch.tensor([vocab.size]))
    with pytest.raises(VocabError, match="out of range for kind image_code"):
        vocab.join(torch.tensor([2]), torch.tensor([vocab.image_codes]))
    with pytest.raises(VocabError, match="unknown special token"):
        vocab.special("<nope>")
    with pytest.raises(VocabError, match="has no placeholder"):
        vocab.placeholder(Modality.TEXT)


def test_config_validation():
    with pytest.raises(ConfigError):
        Vocab(text_size=0)
    with pytest.raises(ConfigError):
        Vocab(text_size=10, image_codes=-1)
    with pytest.raises(ConfigError, match="unknown modality"):
        Modality.parse("smell")
    assert Modality.parse("image") is Modality.IMAGE and Modality.parse(5) is Modality.IMAGE_CODES


def test_description_round_trip(vocab):
    assert Vocab.from_description(vocab.describe()) == vocab
    bad = vocab.describe() | {"special_tokens": ["<pad>"]}
    with pytest.raises(VocabError, match="other special tokens"):
        Vocab.from_description(bad)
    with pytest.raises(VocabError):
        Vocab.from_description({"special_tokens": list(SPECIAL_TOKENS)})
