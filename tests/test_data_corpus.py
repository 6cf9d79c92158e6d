"""Corpus descriptions and the shard format of mmtok.data, without Ray: folder / JSONL / Parquet rows, malformed
rows as typed errors, a sequence through a shard record and back, and the plan that guards a rerun."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image as PILImage

import mmtok
from images import gradient
from mmtok.data import CorpusConfig
from mmtok.data.corpus import RowError, encode_row, read_corpus, row_pieces
from mmtok.data.shards import check_plan, record_sequence, sequence_record
from sounds import tone, write_audio

ROWS = [
    {"id": "pair", "contents": ["Describe ", {"image": "pics/g.png"}, " and ", {"audio": "t.wav"}]},
    {"contents": [{"file": "note.txt"}, {"image": "pics/g.png", "as": "codes"}]},
    {"id": "clip", "contents": [{"video": "pics/g.png", "audio": False}, "end"]},
]


@pytest.fixture(scope="module")
def tok():
    return mmtok.MultimodalTokenizer.default()


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "pics").mkdir()
    PILImage.fromarray(gradient(40, 30)).save(tmp_path / "pics" / "g.png")
    (tmp_path / "note.txt").write_text("a note, 世界")
    write_audio(tmp_path / "t.wav", tone(0.5, 16000), 16000)
    return tmp_path


def test_folder_rows_are_files_in_sorted_order(folder):
    rows = read_corpus(folder)
    assert [r.id for r in rows] == ["note.txt", "pics/g.png", "t.wav"]
    assert [r.index for r in rows] == [0, 1, 2]
    assert all(r.source == str(folder / r.id) for r in rows)


def test_jsonl_and_parquet_manifests_give_the_same_rows(folder):
    (folder / "m.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS) + "\n\n")
    pq.write_table(pa.table({"id": [r.get("id") for r in ROWS], "contents": [json.dumps(r["contents"]) for r in ROWS]}),
                   folder / "m.parquet")
    a, b = read_corpus(folder / "m.jsonl"), read_corpus(folder / "m.parquet")
    assert [r.id for r in a] == ["pair", "m.jsonl:2", "clip"]
    assert [r.id for r in b] == ["pair", "m.parquet:1", "clip"]
    assert [json.loads(r.contents) for r in a] == [json.loads(r.contents) for r in b] == [r["contents"] for r in ROWS]
    pieces = row_pieces(a[0])
    assert pieces[0] == ("Describe ", None)
    assert pieces[1] == (mmtok.Image(str(folder / "pics/g.png")), str(folder / "pics/g.png"))
    assert isinstance(pieces[3][0], mmtok.Audio)
    assert row_pieces(a[1])[1][0].as_ == "codes"


def test_encode_row_equals_the_front_door(folder, tok):
    (folder / "m.jsonl").write_text(json.dumps(ROWS[0]))
    (row,) = read_corpus(folder / "m.jsonl")
    seq = encode_row(tok, row)
    expected = tok.encode(["Describe ", mmtok.Image(folder / "pics/g.png"), " and ", mmtok.Audio(folder / "t.wav")])
    assert seq.equals(expected)
    back = record_sequence(**{k: v for k, v in sequence_record(seq).items() if k != "length"})
    assert back.equals(seq)


@pytest.mark.parametrize("line, error, at_fault", [
    ('{"contents": ["a", {"image": "nope.png"}]}', "InputError", "nope.png"),
    ('{"contents": ["a", {"pdf": "x.pdf"}]}', "InputError", "m.jsonl"),
    ('{"contents": "just text"}', "InputError", "m.jsonl"),
    ('{"contents": [{"video": "t.wav", "audio": "yes"}]}', "InputError", "m.jsonl"),
    ("{not json", "InputError", "m.jsonl"),
    ('{"contents": [{"image": "note.txt"}]}', "InputError", "note.txt"),
])
def test_bad_rows_are_typed_errors_naming_the_file(folder, tok, line, error, at_fault):
    (folder / "m.jsonl").write_text(line + "\n")
    (row,) = read_corpus(folder / "m.jsonl")
    result = encode_row(tok, row)
    assert isinstance(result, RowError)
    assert issubclass(getattr(mmtok, result.error), mmtok.InputError), result
    assert result.path.endswith(at_fault) and at_fault in result.message, result


def test_unknown_corpus_and_config_errors(tmp_path):
    with pytest.raises(mmtok.InputError, match="no such corpus"):
        read_corpus(tmp_path / "missing")
    (tmp_path / "c.csv").write_text("a,b")
    with pytest.raises(mmtok.InputError, match="jsonl"):
        read_corpus(tmp_path / "c.csv")
    with pytest.raises(mmtok.ConfigError, match="shard_size"):
        CorpusConfig(shard_size=0)
    with pytest.raises(mmtok.ConfigError, match="layout"):
        CorpusConfig(layout="nope")


def test_plan_guards_the_output_folder(tmp_path):
    out = tmp_path / "out"
    plan = {"fingerprint": "abc", "shard_size": 4}
    check_plan(out, plan)
    check_plan(out, plan)  # the same job: resumes
    with pytest.raises(mmtok.ConfigError, match="shard_size"):
        check_plan(out, plan | {"shard_size": 8})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("mine")
    with pytest.raises(mmtok.InputError, match="not an mmtok dataset"):
        check_plan(tmp_path / "other", plan)
