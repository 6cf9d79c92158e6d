"""Tokenize whole corpora on Ray Data into Parquet shards (the ``scale`` extra: ``pip install 'mmtok[scale]'``).

::

    from mmtok.data import CorpusConfig, iter_sequences, read_errors, tokenize_corpus

    summary = tokenize_corpus("corpus/", "out/", CorpusConfig(shard_size=256))   # or corpus.jsonl / .parquet
    for row, row_id, seq in iter_sequences("out/"):                              # TokenSequences back
        ...
    for e in read_errors("out/"):                                                # {row, id, path, error, message}
        ...

The corpus description (a folder tree, a JSONL or a Parquet manifest of interleaved contents) is read on the
driver (:mod:`mmtok.data.corpus`); its rows go through ``Dataset.map_batches`` with :class:`TokenizeBatch`, a
stateful class run by a pool of actors (one CPU each), so the text model, filterbanks and VQ weights load once
per worker; the driver groups the results into shards of ``shard_size`` corpus rows and writes each as it
completes (layout in :mod:`mmtok.data.shards`). Each row gives exactly the sequence
``MultimodalTokenizer(layout).encode`` gives for its pieces, or one row of the errors table: a bad file never
stops the job, and rows in = rows written + rows in the errors table.

Ray runs locally by default (``ray.init`` on this machine's cores, no dashboard, usage stats off unless the
environment says otherwise), or joins a running cluster with ``address`` (the nodes need ``mmtok[scale]``
installed and must see the corpus's files at the same paths; the output folder is written by the driver). A
rerun with the same corpus and settings skips finished shards; ``mmtok dataset`` is the command-line shell. With
``ray_log``, what Ray writes while it runs (its start-up warnings, its C++ core's lines, its workers' forwarded
output, Ray Data's warnings) goes to that file instead of this process's stdout and stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from ..core.progress import progress_bar
from ..errors import ConfigError, InputError
from ..multimodal.tokenizer import LAYOUTS

try:
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # pragma: no cover - depends on the install
    raise ConfigError("mmtok.data needs pyarrow and Ray Data; install the scale extra: pip install 'mmtok[scale]'") \
        from None

from .corpus import CorpusRow, RowError, corpus_fingerprint, encode_row, read_corpus
from .shards import (
    DATASET_FORMAT,
    RESULT_SCHEMA,
    SUMMARY_FILE,
    check_plan,
    count_rows,
    finished_shards,
    iter_sequences,
    read_errors,
    remove_partial,
    sequence_record,
    write_shard,
)

__all__ = ["CorpusConfig", "CorpusSummary", "TokenizeBatch", "tokenize_corpus", "iter_sequences", "read_errors",
           "read_corpus"]


@dataclass(frozen=True)
class CorpusConfig:
    """How a corpus is tokenized and sharded."""

    layout: str = "gemini-like"  # a MultimodalTokenizer layout (mmtok.LAYOUTS); part of the dataset's plan
    shard_size: int = 256  # corpus rows per shard file: the unit that is written at once and skipped on rerun
    batch_size: int = 4  # rows per map_batches call; small, since one row (a clip) can take seconds
    workers: int | None = None  # tokenizer actors, one CPU each; None: every CPU the Ray cluster has
    truncate: bool = False  # drop whole spans past the context limit (recorded) instead of an error row

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ConfigError(f"unknown layout {self.layout!r}; use one of {', '.join(sorted(LAYOUTS))}")
        for name in ("shard_size", "batch_size") + (("workers",) if self.workers is not None else ()):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ConfigError(f"CorpusConfig.{name} must be an int >= 1, got {value!r}")


@dataclass(frozen=True)
class CorpusSummary:
    """What is on disk after a run (every finished shard, this run's and earlier ones)."""

    rows: int  # corpus rows
    written: int  # rows in the sequence shards
    errors: int  # rows in the errors table
    error_classes: dict[str, int] = field(default_factory=dict)  # errors per class name
    shards: int = 0  # shards of the plan
    finished: int = 0  # shards on disk (all of them when the run completed)
    skipped: int = 0  # shards that were already on disk when this run started
    tokens: int = 0  # tokens over the written rows
    seconds: float = 0.0  # this run's wall time
    processed: int = 0  # rows this run tokenized

    def describe(self) -> str:
        """One line: counts, errors by class, shards, tokens and this run's throughput."""
        errs = ", ".join(f"{k} {v}" for k, v in self.error_classes.items())
        rate = f"{self.processed / self.seconds:.2f} rows/s" if self.seconds > 0 else "-"
        return (f"{self.rows:,} rows: {self.written:,} written, {self.errors:,} errors{f' ({errs})' if errs else ''}; "
                f"{self.finished}/{self.shards} shards ({self.skipped} already done); {self.tokens:,} tokens; "
                f"{self.processed:,} rows in {self.seconds:.1f} s ({rate})")


class TokenizeBatch:
    """The stateful callable Ray Data runs in each actor: builds the tokenizer once, then turns a batch of corpus
    rows (a ``pyarrow.Table`` of :class:`~mmtok.data.corpus.CorpusRow` fields) into a table of
    ``RESULT_SCHEMA``: per row either a sequence (``length``, ``manifest``, ``features``) or an error (``path``,
    ``error``, ``message``)."""

    def __init__(self, layout: str, truncate: bool) -> None:
        import torch

        from ..multimodal.tokenizer import MultimodalTokenizer

        torch.set_num_threads(1)  # one CPU per actor; parallelism comes from the actors
        self.tokenizer = MultimodalTokenizer(layout)
        self.truncate = truncate

    def __call__(self, batch: pa.Table) -> pa.Table:
        out = []
        for r in batch.to_pylist():
            row = CorpusRow(**r)
            result = encode_row(self.tokenizer, row, self.truncate)
            rec = {"row": row.index, "id": row.id, "length": None, "manifest": None, "features": None,
                   "path": None, "error": None, "message": None}
            if isinstance(result, RowError):
                rec |= asdict(result)
            else:
                try:
                    rec |= sequence_record(result)
                except Exception as e:  # noqa: BLE001 - e.g. metadata that is not JSON: recorded, not dropped
                    rec |= asdict(RowError.of(row.source, e))
            out.append(rec)
        return pa.Table.from_pylist(out, schema=RESULT_SCHEMA)


def _connect(address: str | None) -> bool:
    """Connect to Ray (start it locally when ``address`` is None); True when this call started it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("tokenizing a corpus needs Ray Data; install the scale extra: pip install "
                          "'mmtok[scale]'") from None
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine unless asked
    try:
        if address is None:
            ray.init(include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as e:
        auth = ("" if os.environ.get("RAY_AUTH_MODE") == "token" else
                "; a Ray 2.60 cluster started with token authentication refuses a driver without it: set "
                "RAY_AUTH_MODE=token here too, with the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN")
        raise InputError(f"cannot reach the Ray cluster at {address!r} ({e}); check the address (ray://HOST:10001 "
                         f"or HOST:6379) or drop --address to run locally{auth}") from None
    return True


def tokenize_corpus(source: str | Path, output: str | Path, config: CorpusConfig = CorpusConfig(),
                    address: str | None = None, progress: bool = False,
                    ray_log: str | Path | None = None) -> CorpusSummary:
    """Tokenize every row of the corpus at ``source`` into shards under ``output`` (see the module docstring).

    Args:
        source: a folder tree, or a ``.jsonl`` / ``.parquet`` manifest of interleaved contents.
        output: a new or empty folder, or the folder of an earlier run of the same job (finished shards are
            kept; a different corpus or settings there is a ``ConfigError``).
        config: layout, shard size, batch size, workers, truncation.
        address: a Ray cluster to join; None starts Ray on this machine's cores (and stops it afterwards).
        progress: show a progress bar of rows (tqdm, on stderr).
        ray_log: a file (appended to; it may lie in ``output``) that takes this process's stdout and stderr while
            Ray runs, Ray's own lines among them; the progress bar stays on stderr. None: they stay where they are.
    """
    t0 = time.perf_counter()
    source, output = Path(source).resolve(), Path(output).resolve()
    rows = read_corpus(source)
    if source.is_dir() and output.is_relative_to(source):
        raise InputError(f"the output {output} lies inside the corpus folder {source}; write it elsewhere")
    from .._version import __version__

    shard_size = config.shard_size
    num_shards = -(-len(rows) // shard_size)
    check_plan(output, {"format": DATASET_FORMAT, "corpus": str(source), "fingerprint": corpus_fingerprint(rows),
                        "rows": len(rows), "shard_size": shard_size, "shards": num_shards, "layout": config.layout,
                        "truncate": config.truncate, "mmtok": __version__})
    remove_partial(output)
    done = finished_shards(output, num_shards)
    pending = [r for r in rows if r.index // shard_size not in done]
    if pending:
        with _lines_to(ray_log) as bar_stream:  # after check_plan: a new output folder is empty until then
            _run(pending, output, config, address, progress, len(rows), bar_stream)
    written, failed, tokens, by_class = count_rows(output, num_shards)
    finished = len(finished_shards(output, num_shards))
    summary = CorpusSummary(len(rows), written, failed, by_class, num_shards, finished, len(done), tokens,
                            time.perf_counter() - t0, len(pending))
    assert finished < num_shards or written + failed == len(rows), summary  # nothing dropped, nothing twice
    if finished == num_shards:
        import json

        (output / SUMMARY_FILE).write_text(json.dumps(asdict(summary), indent=1))
    return summary


@contextmanager
def _lines_to(log: str | Path | None) -> Iterator[TextIO | None]:
    """While open: file descriptors 1 and 2 (Ray's C++ core writes there; sys.stdout, sys.stderr, Python's
    warnings and Ray's loggers too) point to ``log``. Yields the stream the progress bar keeps: the stderr of
    before (None without a log: the bar's default, sys.stderr)."""
    if log is None:
        yield None
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        own_fd = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # replaced by a stream without one (a test's capture)
        own_fd = False
    bar = os.fdopen(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace") \
        if own_fd else sys.stderr
    saved = os.dup(1), os.dup(2)
    try:
        with open(log, "ab") as f:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
            try:
                yield bar
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)
        if bar is not sys.stderr:
            bar.close()


def _run(pending: list[CorpusRow], output: Path, config: CorpusConfig, address: str | None, progress: bool,
         total: int, bar_stream: TextIO | None = None) -> None:
    import ray

    started = _connect(address)
    data_log = logging.getLogger("ray.data")
    level = data_log.level
    try:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        workers = min(config.workers or max(cpus, 1), len(pending))  # no idle actors for a small corpus
        if workers > cpus:
            raise ConfigError(f"{workers} workers need {workers} CPUs but the Ray cluster has {cpus}; lower "
                              f"--workers")
        ds = ray.data.from_items([asdict(r) for r in pending],
                                 override_num_blocks=max(1, -(-len(pending) // config.batch_size)))
        ds.context.execution_options.preserve_order = True  # shards complete in order: one is buffered at a time
        ds.context.enable_progress_bars = False  # ours counts rows
        ds = ds.map_batches(TokenizeBatch, fn_constructor_kwargs={"layout": config.layout,
                                                                  "truncate": config.truncate},
                            batch_size=config.batch_size, batch_format="pyarrow", num_cpus=1,
                            compute=ray.data.ActorPoolStrategy(size=workers))
        if progress:  # our bar replaces Ray Data's execution log lines
            data_log.setLevel(logging.ERROR)
        expected = Counter(r.index // config.shard_size for r in pending)
        parts: dict[int, list[pa.Table]] = {}
        got: Counter = Counter()
        with progress_bar(total=total, initial=total - len(pending), unit="row", desc="tokenize",
                          disable=not progress, file=bar_stream) as bar:
            for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
                shard = pc.divide(batch.column("row"), config.shard_size)  # integer division of int64
                for k in sorted(set(shard.to_pylist())):
                    part = batch.filter(pc.equal(shard, k))
                    parts.setdefault(k, []).append(part)
                    got[k] += part.num_rows
                    if got[k] == expected[k]:
                        table = pa.concat_tables(parts.pop(k)).sort_by("row")
                        failed = pc.is_valid(table.column("error"))
                        write_shard(output, k, table.filter(pc.invert(failed)), table.filter(failed))
                bar.update(batch.num_rows)
        assert not parts, f"shards {sorted(parts)} did not receive all their rows"
    finally:
        data_log.setLevel(level)
        if started:
            ray.shutdown()
