"""TextTokenizer: lossless round trip for every Unicode string, typed errors, any SentencePiece model."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import mmtok
from mmtok.errors import AssetError, TextError, VocabError

HARD = [
    "",
    " ",
    "   leading and trailing   ",
    "\t\ttabs\tand\n\nnewlines\r\n",
    "digits 0123456789 and 3.14159",
    "日本語のテキスト、ひらがな・カタカナ",
    "中文分词：简体与繁體",
    "👨‍👩‍👧‍👦 family ZWJ, 🇫🇷 flag, 👍🏽 skin tone",
    "combining e\u0301 a\u0308 and \u0915\u094d\u0937",
    "control \x00\x01\x07\x1b[31m\x7f\u200b\u2028\ufeff",
    "\u2581",
    "a\u2581b\u2581\u2581 \u2581",
    "<bos><eos><pad><image_soft_token><unk><0x41>",
    "\U0010ffff\ue000 private use and the last code point",
]


@pytest.mark.parametrize("s", HARD)
def test_round_trip_hard_strings(text_tok, s):
    ids = text_tok.encode(s)
    assert text_tok.decode(ids) == s
    assert text_tok.num_tokens(s) == len(ids)
    assert all(0 <= i < text_tok.vocab_size for i in ids)


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=200))
def test_round_trip_any_unicode(s):
    tok = mmtok.TextTokenizer.default()
    assert tok.decode(tok.encode(s)) == s


@given(st.text(max_size=300) | st.sampled_from(HARD) | st.builds(lambda w, n: w * n, st.sampled_from(
    [" the", "ing ", "\u2581", "🙂", "0", "\x00"]), st.integers(1, 400)))
def test_min_tokens_is_a_lower_bound(s):
    tok = mmtok.TextTokenizer.default()
    bound = tok.min_tokens(s)  # never raises, even on lone surrogates (encode refuses those)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        return
    assert bound <= tok.num_tokens(s)
    assert bound >= len(s.encode("utf-8")) / 48  # not vacuous: the longest default piece spells 48 bytes


@given(st.lists(st.sampled_from([" ", "\t", "\n", "\u2581", "a", "1", "é", "日", "\x00", "🙂", "e\u0301"]),
                max_size=60).map("".join))
def test_round_trip_whitespace_and_markers(s):
    tok = mmtok.TextTokenizer.default()
    assert tok.decode(tok.encode(s)) == s


def test_default_model_properties(text_tok):
    assert text_tok.vocab_size >= 16_000
    assert text_tok is mmtok.TextTokenizer.default()  # cached
    # digits are split one per piece, whitespace is kept
    assert [p for p in text_tok.pieces("2026") if p.strip("▁")] == ["2", "0", "2", "6"]
    assert text_tok.decode(text_tok.encode("  x  ")) == "  x  "


def test_special_token_text_is_plain_text(text_tok, vocab):
    ids = text_tok.segment(text_tok.encode("<bos> <image_soft_token>")).input_ids
    assert int(ids.max()) < vocab.special_offset


def test_lone_surrogate_is_a_typed_error(text_tok):
    with pytest.raises(TextError, match="index 3"):
        text_tok.encode("abc\ud800def")


def test_non_str_and_too_long(text_tok):
    with pytest.raises(TextError, match="must be a str"):
        text_tok.encode(b"bytes")  # type: ignore[arg-type]
    small = mmtok.TextTokenizer.from_file(mmtok.text.DEFAULT_TEXT_MODEL, max_chars=10)
    assert small.decode(small.encode("0123456789")) == "0123456789"
    with pytest.raises(TextError, match="max_chars=10"):
        small.encode("01234567890")


def test_decode_out_of_range(text_tok):
    with pytest.raises(VocabError, match="outside the text model"):
        text_tok.decode([text_tok.vocab_size])
    with pytest.raises(VocabError):
        text_tok.decode(torch.tensor([-1]))


def test_bad_model_files(tmp_path):
    with pytest.raises(AssetError, match="cannot read"):
        mmtok.TextTokenizer.from_file(tmp_path / "missing.model")
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(AssetError, match="not a SentencePiece model"):
        mmtok.TextTokenizer.from_file(bad)


def test_any_sentencepiece_model(tmp_path):
    """from_file takes other SentencePiece models (here a small unigram one with a dummy prefix, like Llama's)."""
    import sentencepiece as spm

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"line {i} of a tiny corpus with words like token and model" for i in range(300)))
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(tmp_path / "tiny"), vocab_size=300,
                                   model_type="unigram", byte_fallback=True, minloglevel=2)
    tok = mmtok.TextTokenizer.from_file(tmp_path / "tiny.model")
    assert tok.vocab_size == 300
    assert tok.decode(tok.encode("a tiny model")) == "a tiny model"
    assert tok.vocab.text_size == 300 and tok.vocab.text_model == tok.model_id
