"""The README is true: its Python examples run and print what it shows, and so do `make tokenize` and `mmtok budget`.

What an example prints is shown in one of two ways, both checked against what it really prints:

- ``print(...)  # -> OUTPUT``, or ``# -> OUTPUT`` alone on the line after the print: OUTPUT is what that print
  writes (all its calls, without the last newline); ``...`` in it stands for any text, and `` — `` starts a note
  that is not output. A print line with any other trailing comment is an error: it would look like output;
- an example followed by "prints:" and a block: the example's whole output is that block.
"""

import builtins
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# (README line of the first line of code, code, the block shown after "prints:" or None)
EXAMPLES = [(README.count("\n", 0, m.start()) + 2, m.group(1), m.group(2)) for m in
            re.finditer(r"```python\n((?:(?!```).)*?)```(?:\n\nprints:\n\n```\n(.*?)```)?", README, flags=re.S)]


def shown_outputs(first: int, code: str) -> dict[int, str]:
    """{README line of a print: the output its `# ->` comment shows} for the example whose code starts at ``first``."""
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    comments = {t.start[0] + first - 1: t.string for t in tokens if t.type == tokenize.COMMENT}
    prints = {t.start[0] + first - 1 for t in tokens if t.type == tokenize.NAME and t.string == "print"}
    shown = {}
    for n, comment in comments.items():
        target = n if n in prints else n - 1  # on the print's line, or alone on the line after it
        if comment.startswith("# -> "):
            assert target in prints and target not in shown, f"README.md:{n}: '# ->' follows no print"
            shown[target] = comment[5:].split(" — ")[0]
        elif n in prints:
            raise AssertionError(f"README.md:{n}: a print's comment must show its output as '# -> OUTPUT'")
    return shown


@pytest.mark.parametrize("first, code, block", EXAMPLES, ids=[f"README.md:{e[0]}" for e in EXAMPLES])
def test_python_example_prints_what_the_readme_shows(monkeypatch, first, code, block):
    calls: list[tuple[int, str]] = []  # (README line of the print, what it wrote), in call order

    def record(*args, sep=" ", end="\n", file=None, flush=False):
        if file is not None:
            return builtins.print(*args, sep=sep, end=end, file=file, flush=flush)
        out = io.StringIO()
        builtins.print(*args, sep=sep, end=end, file=out)
        calls.append((sys._getframe(1).f_lineno, out.getvalue()))

    shown = shown_outputs(first, code)
    monkeypatch.chdir(ROOT)  # examples use paths relative to the checkout, as a reader runs them
    exec(compile("\n" * (first - 1) + code, "README.md", "exec"), {"print": record})  # tracebacks: README lines
    for line, text in shown.items():
        printed = "".join(out for n, out in calls if n == line)
        assert printed, f"README.md:{line} shows output but printed nothing"
        pattern = ".*?".join(re.escape(part) for part in text.split("..."))
        assert re.fullmatch(pattern, printed.removesuffix("\n"), flags=re.S), (
            f"README.md:{line} shows {text!r}, prints {printed!r}")
    if block is not None:
        assert "".join(out for _, out in calls) == block


def test_every_shown_output_is_checked():
    """Every ```python block is an example above; at least the outputs known today are shown."""
    assert len(EXAMPLES) == README.count("```python") and sum(b is not None for _, _, b in EXAMPLES) >= 1
    assert sum(len(shown_outputs(first, code)) for first, code, _ in EXAMPLES) >= 14


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
