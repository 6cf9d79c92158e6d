"""The README is true: its Python examples run, and the output it shows is what `make tokenize` prints."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_examples_run(monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "the README has Python examples"
    monkeypatch.chdir(ROOT)  # examples use paths relative to the checkout, as a reader runs them
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_shown_output_matches_make_tokenize():
    makefile = (ROOT / "Makefile").read_text()
    cmd = re.search(r"^tokenize:.*\n\t\$\(BIN\)/mmtok (.+)$", makefile, flags=re.M).group(1).split()
    shown = re.search(r"`make tokenize` prints:\n\n```\n(.*?)```", README, flags=re.S).group(1)
    r = subprocess.run([sys.executable, "-m", "mmtok.cli", *cmd], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == shown


def test_shown_budget_table_matches_the_cli():
    import shlex

    m = re.search(r"`(mmtok budget [^`]+)`\nprints:\n\n```\n(.*?)```", README, flags=re.S)
    assert m, "the README shows a budget table"
    r = subprocess.run([sys.executable, "-m", "mmtok.cli", *shlex.split(m.group(1))[1:]], capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == m.group(2)


def test_shown_prints_of_python_examples(monkeypatch):
    """A Python example followed by "prints:" prints exactly the block shown after it."""
    import contextlib
    import io

    pairs = re.findall(r"```python\n(.*?)```\n\nprints:\n\n```\n(.*?)```", README, flags=re.S)
    assert pairs, "the README shows what an example prints"
    monkeypatch.chdir(ROOT)
    for code, shown in pairs:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})
        assert out.getvalue() == shown
