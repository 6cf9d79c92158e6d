"""Progress bars: a live bar on a terminal, sparse lines when stderr is a file or a pipe."""

import io
import itertools

import pytest
import tqdm.std

from mmtok.core.progress import LOG_INTERVAL, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [False, True])
def test_a_redirected_bar_writes_a_line_per_interval(monkeypatch, terminal):
    """250 steps of 0.4 s each (the decoder round trip's pace, 100 s): on a terminal tqdm redraws at every step;
    into a log the bar writes its start, one line per LOG_INTERVAL (30 s) and its end — not 250 lines."""
    clock = itertools.count(0.0, 0.4)
    monkeypatch.setattr(tqdm.std, "time", lambda: next(clock))
    err = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with progress_bar(total=250, desc="training") as bar:
        for _ in range(250):
            bar.update(1)
    records = [r for r in err.getvalue().replace("\r", "\n").split("\n") if r.strip()]
    if terminal:
        assert len(records) > 200
    else:
        assert 2 <= len(records) <= 2 + 250 * 0.4 / LOG_INTERVAL + 1, records
        assert records[-1].startswith("training: 100%") and all(r.isascii() for r in records)
