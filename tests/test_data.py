"""Corpus tokenization on Ray Data, locally: a small mixed corpus with a few hostile files goes through
``tokenize_corpus``; the shards reload into sequences equal to the single-process front door's, the errors table
lists exactly the bad files, and a run interrupted mid-way resumes without writing any shard twice.

One local Ray (2 CPUs, no dashboard, its temp folder under /tmp) serves the whole module."""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest
from PIL import Image as PILImage

import mmtok
import mmtok.data.pipeline
from images import encoded, gradient
from mmtok.cli import main as cli_main
from mmtok.data import CorpusConfig, iter_sequences, read_errors, tokenize_corpus
from mmtok.multimodal.files import file_content
from sounds import tone, write_audio
from videos import make_clip

ray = pytest.importorskip("ray")  # the scale extra; `make install` installs it, so CI runs these

ROOT = Path(__file__).resolve().parent.parent
BAD = ("empty.jpg", "noise.png", "truncated.png", "surrogate.txt")


@pytest.fixture(scope="module")
def ray_local():
    tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must stay under 107 bytes
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=tmp, logging_level="WARNING")
    yield
    ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Text, two pictures, a clip, a sound, and four hostile files (in BAD)."""
    d = tmp_path_factory.mktemp("corpus")
    (d / "notes").mkdir()
    (d / "notes" / "hello.txt").write_text("Hello, corpus! 世界 👋")
    shutil.copy(ROOT / "assets/examples/multilingual.txt", d / "notes" / "multilingual.txt")
    PILImage.fromarray(gradient(96, 64)).save(d / "gradient.png")
    (d / "photo.jpg").write_bytes(encoded(PILImage.fromarray(gradient(50, 80)), "JPEG", quality=90))
    make_clip(d / "clip.mp4", "mp4", n=12)
    write_audio(d / "tone.wav", tone(1.5, 16000), 16000)
    (d / "empty.jpg").write_bytes(b"")
    (d / "noise.png").write_bytes(random.Random(0).randbytes(3000))
    png = encoded(PILImage.fromarray(gradient(120, 90)), "PNG")
    (d / "truncated.png").write_bytes(png[: len(png) // 2])
    (d / "surrogate.txt").write_bytes("text with a lone \ud800 surrogate".encode("utf-8", "surrogatepass"))
    return d


@pytest.fixture(scope="module")
def expected(corpus) -> dict[str, mmtok.TokenSequence | tuple[str, str]]:
    """The single-process result of every file, by row id: ``MultimodalTokenizer.encode`` through mmtok.files, or
    the (class name, message) of the MmtokError it raised."""
    tok = mmtok.MultimodalTokenizer.default()
    out = {}
    for p in sorted(q for q in corpus.rglob("*") if q.is_file()):
        try:
            out[p.relative_to(corpus).as_posix()] = tok.encode([file_content(p)])
        except mmtok.MmtokError as e:
            out[p.relative_to(corpus).as_posix()] = (type(e).__name__, str(e))
    assert sorted(Path(k).name for k, v in out.items() if isinstance(v, tuple)) == sorted(BAD)
    return out


def _shard_files(out: Path) -> list[Path]:
    return sorted((out / "shards").iterdir()) + sorted((out / "errors").iterdir())


def test_mixed_corpus_equals_single_process(ray_local, corpus, expected, tmp_path):
    out = tmp_path / "out"
    s = tokenize_corpus(corpus, out, CorpusConfig(shard_size=3, batch_size=2, workers=2))
    assert (s.rows, s.written, s.errors, s.shards, s.finished, s.skipped) == (10, 6, 4, 4, 4, 0)
    got = {row_id: seq for _, row_id, seq in iter_sequences(out)}
    assert got.keys() == {k for k, v in expected.items() if not isinstance(v, tuple)}
    for row_id, seq in got.items():
        assert seq.equals(expected[row_id]), row_id
    errors = read_errors(out)
    assert {e["id"]: (e["error"], e["message"]) for e in errors} == {k: v for k, v in expected.items()
                                                                     if isinstance(v, tuple)}
    for e in errors:  # typed, naming the file at fault
        assert issubclass(getattr(mmtok, e["error"]), mmtok.MmtokError) and e["path"] == str(corpus / e["id"]), e
    assert sum(s.error_classes.values()) == 4
    rows = sorted([r for r, _, _ in iter_sequences(out)] + [e["row"] for e in errors])
    assert rows == list(range(10))  # rows in = rows written + rows in the errors table, each once
    assert json.loads((out / "summary.json").read_text())["written"] == 6


def test_interrupted_run_resumes_without_duplicates(ray_local, corpus, tmp_path, monkeypatch):
    out = tmp_path / "out"
    config = CorpusConfig(shard_size=2, batch_size=1, workers=2)
    real = mmtok.data.pipeline.write_shard
    calls = []

    def write_then_die(output, k, sequences, errors):
        calls.append(k)
        if len(calls) == 3:  # killed while writing the third shard: a half-written temporary is left behind
            (output / "shards" / f".shard-{k:05d}.parquet.tmp").write_bytes(b"PAR1 half")
            raise KeyboardInterrupt
        real(output, k, sequences, errors)

    monkeypatch.setattr(mmtok.data.pipeline, "write_shard", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        tokenize_corpus(corpus, out, config)
    monkeypatch.setattr(mmtok.data.pipeline, "write_shard", real)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("shard-*")}
    assert sorted(before) == ["shard-00000.parquet", "shard-00001.parquet"]
    assert not (out / "summary.json").exists()

    s = tokenize_corpus(corpus, out, config)
    assert (s.rows, s.written + s.errors, s.shards, s.finished, s.skipped, s.processed) == (10, 10, 5, 5, 2, 6)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("shard-0000[01]*")} == before  # untouched
    assert [p.name for p in (out / "shards").iterdir() if p.name.startswith(".")] == []
    assert len(_shard_files(out)) == 10  # five shards, each one sequence file and one error file
    rows = [r for r, _, _ in iter_sequences(out)] + [e["row"] for e in read_errors(out)]
    assert sorted(rows) == list(range(10))
    again = tokenize_corpus(corpus, out, config)  # nothing left to do
    assert (again.skipped, again.processed) == (5, 0)


def test_a_different_job_in_the_same_folder_is_refused(ray_local, corpus, tmp_path):
    out = tmp_path / "out"
    tokenize_corpus(corpus, out, CorpusConfig(shard_size=5, workers=1))
    with pytest.raises(mmtok.ConfigError, match="shard_size"):
        tokenize_corpus(corpus, out, CorpusConfig(shard_size=4, workers=1))
    with pytest.raises(mmtok.InputError, match="inside the corpus"):
        tokenize_corpus(corpus, corpus / "out")


def test_cli_dataset_from_a_jsonl_manifest(ray_local, corpus, expected, tmp_path, capsys):
    manifest = tmp_path / "corpus.jsonl"
    rows = [{"id": "pair", "contents": ["Look: ", {"image": str(corpus / "gradient.png")}, " then listen ",
                                        {"audio": str(corpus / "tone.wav")}]},
            {"id": "bad", "contents": ["x", {"file": str(corpus / "noise.png")}]}]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    out = tmp_path / "out"
    assert cli_main(["dataset", str(manifest), str(out), "--shard-size", "2", "--workers", "1"]) == 0
    printed = capsys.readouterr()
    assert "3 rows: 1 written, 2 errors" in printed.out and "tokenize" in printed.err  # summary and progress bar
    ((_, row_id, seq),) = list(iter_sequences(out))
    tok = mmtok.MultimodalTokenizer.default()
    assert row_id == "pair" and seq.equals(tok.encode(["Look: ", mmtok.Image(corpus / "gradient.png"),
                                                       " then listen ", mmtok.Audio(corpus / "tone.wav")]))
    assert [(e["id"], Path(e["path"]).name) for e in read_errors(out)] == [("bad", "noise.png"),
                                                                           ("corpus.jsonl:3", "corpus.jsonl")]
    assert cli_main(["dataset", str(manifest), str(out), "--shard-size", "3"]) == 2  # another plan: one line
    assert "differ" in capsys.readouterr().err
