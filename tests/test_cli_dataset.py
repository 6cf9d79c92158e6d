"""``mmtok dataset`` keeps Ray's own log lines out of the terminal: they go to OUTPUT/ray.log. One real process
(Ray's C++ core writes straight to file descriptor 2, which only a process of its own shows), started like a user
starts it; the option checks run in-process."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmtok.cli import main

pytest.importorskip("ray")  # the scale extra; `make install` installs it, so CI runs these
from mmtok.data import CorpusConfig  # noqa: E402 - needs pyarrow, which comes with ray[data]

ROOT = Path(__file__).resolve().parent.parent


def test_dataset_options_show_corpusconfigs_defaults_and_speak_in_flags(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["dataset", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    config = CorpusConfig()
    assert f"(default: {config.shard_size}, CorpusConfig's)" in text
    assert f"(default: {config.batch_size}, CorpusConfig's)" in text and f"(default: {config.layout})" in text
    assert "OUTPUT/ray.log" in text
    assert main(["dataset", str(tmp_path), str(tmp_path / "out"), "--shard-size", "0"]) == 2
    assert capsys.readouterr().err == "mmtok: error: --shard-size must be an int >= 1, got 0\n"


@pytest.mark.slow
def test_ray_lines_go_to_the_log_not_the_terminal(tmp_path):
    """Two files through a Ray started by the command: stderr holds only mmtok's lines (the log's place, the
    progress bar); what Ray writes (on Ray 2.60: its token-authentication warning, a core_worker.cc line about the
    actor's constructor arguments, Ray Data's UserWarning about concurrency) is in OUTPUT/ray.log. 10-60 s: Ray's
    start-up, as in tests/test_data.py, on one worker."""
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    corpus.mkdir()
    shutil.copy(ROOT / "assets/examples/multilingual.txt", corpus)
    shutil.copy(ROOT / "assets/images/chelsea.png", corpus)
    r = subprocess.run([sys.executable, "-m", "mmtok.cli", "dataset", corpus, out, "--workers", "1"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("2 rows: 2 written, 0 errors")
    lines = [line.strip() for line in re.split(r"[\r\n]", r.stderr) if line.strip()]
    assert lines[0] == f"mmtok: Ray's own log lines go to {out / 'ray.log'}"
    assert all(line.startswith("tokenize: ") for line in lines[1:]), r.stderr  # the bar, and nothing of Ray's
    assert any(line.startswith("tokenize: 100%") for line in lines)
    assert (out / "ray.log").is_file()
