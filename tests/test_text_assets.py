"""The bundled text model is the one its training record describes, and the corpus builder's parts work."""

import hashlib
import json

import mmtok
from mmtok.training import text as text_train
from mmtok.text.tokenizer import DEFAULT_TEXT_MODEL


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
