"""The bundled text model is the one its training record describes, and the corpus builder's parts work."""

import hashlib
import json

import pytest

import mmtok
from mmtok.text.tokenizer import DEFAULT_TEXT_MODEL
from mmtok.training import text as text_train


def test_model_matches_training_record():
    record = json.loads((DEFAULT_TEXT_MODEL.parent / "training.json").read_text())
    assert record["sha256"] == hashlib.sha256(DEFAULT_TEXT_MODEL.read_bytes()).hexdigest()
    assert record["vocab_size"] == mmtok.TextTokenizer.default().vocab_size >= 16_000
    sources = json.loads((DEFAULT_TEXT_MODEL.parent / "sources.json").read_text())
    assert {s["language"] for s in sources} >= {"en", "de", "fr", "ja", "zh-cn"}
    assert all(s["licence"] in text_train.LICENCES.values() for s in sources)
    assert sum(s["lines"] for s in sources) == record["corpus_lines"]


def test_html_to_lines_keeps_visible_text_only():
    page = ("<html><head><title>T</title><style>p{}</style><script>var x=1;</script></head><body>"
            "<p>First  line&amp;more</p><div>日本語<br>second</div><pre>\tcode  here</pre></body></html>")
    assert text_train._html_to_lines(page) == ["T", "First  line&more", "日本語", "second", "\tcode  here"]


def test_training_runs_in_the_corpus_folder_and_leaves_the_working_directory_alone(tmp_path, monkeypatch):
    """The model file names its corpus relative to the corpus folder, so the same corpus in two folders gives the
    same bytes; the caller's working directory is never changed."""
    import os
    import random

    from sentencepiece import sentencepiece_model_pb2

    rng = random.Random(0)
    words = ["token", "image", "video", "audio", "code", "patch", "frame", "mel", "Debian", "2024", "日本語"]
    corpus = "\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(2000)) + "\n"
    monkeypatch.chdir(tmp_path)
    models = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "corpus.txt").write_text(corpus, encoding="utf-8")
        models.append(text_train.train(tmp_path / name / "corpus.txt", tmp_path / name / "out", vocab_size=300))
        assert os.getcwd() == str(tmp_path)
    assert models[0].read_bytes() == models[1].read_bytes()
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(models[0].read_bytes())
    assert list(proto.trainer_spec.input) == ["corpus.txt"] and proto.trainer_spec.model_prefix == text_train.MODEL_NAME
    assert not (tmp_path / "a" / f"{text_train.MODEL_NAME}.vocab").exists()
    with pytest.raises(RuntimeError, match="Vocabulary size too high"):
        text_train.train(tmp_path / "a" / "corpus.txt", tmp_path / "a" / "out", vocab_size=5000)
