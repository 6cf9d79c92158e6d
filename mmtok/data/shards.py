"""The on-disk layout of a tokenized corpus: Parquet shards of sequences, an errors table, a plan, a summary.

::

    OUTPUT/dataset.json                the plan: corpus, its fingerprint, rows, shard size, layout (checked on rerun)
    OUTPUT/shards/shard-00000.parquet  the sequences of corpus rows [0, shard_size), one table row each
    OUTPUT/errors/shard-00000.parquet  the rows of that range that failed (possibly none)
    OUTPUT/summary.json                counts of the last run that finished every shard

A shard's error file is written before its sequence file, each to a hidden temporary name first and then renamed,
so a sequence file exists only once its whole range is on disk: that is what "finished" means to a rerun. Hidden
temporaries (``.*.tmp``) left by an interrupted run are removed by the next one; readers such as
``pyarrow.parquet.read_table(OUTPUT / "shards")`` skip hidden files.

Sequence columns: ``row`` (int64, the corpus row), ``id`` (string), ``length`` (int64 tokens), ``manifest``
(the ``mmtok.sequence/3`` JSON of ``TokenSequence.to_manifest``), ``features`` (large binary: safetensors bytes of
the feature tensors, null when there are none). Error columns: ``row``, ``id``, ``path`` (the file at fault),
``error`` (the error's class name, e.g. ``DecodeError``), ``message``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..core.sequence import TokenSequence
from ..errors import ConfigError, InputError, ManifestError

__all__ = ["DATASET_FORMAT", "SEQUENCE_SCHEMA", "ERROR_SCHEMA", "RESULT_SCHEMA", "sequence_record", "record_sequence",
           "shard_path", "error_path", "write_shard", "finished_shards", "remove_partial", "check_plan",
           "count_rows", "iter_sequences", "read_errors"]

DATASET_FORMAT = "mmtok.dataset/1"
PLAN_FILE, SUMMARY_FILE = "dataset.json", "summary.json"
SEQUENCE_SCHEMA = pa.schema([("row", pa.int64()), ("id", pa.string()), ("length", pa.int64()),
                             ("manifest", pa.large_string()), ("features", pa.large_binary())])
ERROR_SCHEMA = pa.schema([("row", pa.int64()), ("id", pa.string()), ("path", pa.string()), ("error", pa.string()),
                          ("message", pa.large_string())])
# what a worker returns per row: a sequence (error null) or an error (manifest null)
RESULT_SCHEMA = pa.schema(list(SEQUENCE_SCHEMA) + [f for f in ERROR_SCHEMA if f.name not in ("row", "id")])


def sequence_record(seq: TokenSequence) -> dict:
    """The ``length``, ``manifest`` and ``features`` columns of one sequence."""
    from safetensors.torch import save

    features = {k: v.contiguous() for k, v in seq.features.items()}
    return {"length": len(seq), "manifest": json.dumps(seq.to_manifest(), ensure_ascii=False, allow_nan=False),
            "features": save(features) if features else None}


def record_sequence(manifest: str, features: bytes | None) -> TokenSequence:
    """A sequence back from its shard columns, checked like ``TokenSequence.load`` (``ManifestError`` if not)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    from ..core.sequence import from_manifest

    try:
        tensors = load(features) if features is not None else {}
        return from_manifest(json.loads(manifest), tensors)
    except (json.JSONDecodeError, SafetensorError, ValueError) as e:
        raise ManifestError(f"a shard row is not a valid sequence record: {e}") from None


def shard_path(output: Path, k: int) -> Path:
    return Path(output) / "shards" / f"shard-{k:05d}.parquet"


def error_path(output: Path, k: int) -> Path:
    return Path(output) / "errors" / f"shard-{k:05d}.parquet"


def _write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_shard(output: Path, k: int, sequences: pa.Table, errors: pa.Table) -> None:
    """Write shard ``k``: its errors, then its sequences (the file whose presence marks the shard finished)."""
    _write_atomic(errors.select(ERROR_SCHEMA.names).cast(ERROR_SCHEMA), error_path(output, k))
    _write_atomic(sequences.select(SEQUENCE_SCHEMA.names).cast(SEQUENCE_SCHEMA), shard_path(output, k))


def finished_shards(output: Path, num_shards: int) -> set[int]:
    """Shards whose sequence file (written last) and error file are both on disk."""
    return {k for k in range(num_shards) if shard_path(output, k).is_file() and error_path(output, k).is_file()}


def remove_partial(output: Path) -> list[Path]:
    """Delete temporaries left by an interrupted run; returns what was removed."""
    gone = [p for d in ("shards", "errors") for p in (Path(output) / d).glob(".*.tmp")]
    for p in gone:
        p.unlink()
    return gone


def check_plan(output: Path, plan: dict) -> None:
    """Write ``dataset.json`` for a new output folder, or check that an existing one describes the same job."""
    output = Path(output)
    path = output / PLAN_FILE
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"{path} is unreadable ({e}); delete {output} and run again") from None
        differ = sorted(k for k in set(plan) | set(old) if old.get(k) != plan.get(k))
        if differ:
            raise ConfigError(f"{output} holds a dataset made with other settings or from another corpus ("
                              f"{', '.join(differ)} differ); give a new OUTPUT folder, or delete this one to start "
                              f"over")
        return
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InputError(f"{output} exists and is not an mmtok dataset folder (no {PLAN_FILE}); give a new or empty "
                         f"OUTPUT folder")
    output.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan, indent=1, ensure_ascii=False))


def count_rows(output: Path, num_shards: int) -> tuple[int, int, int, dict[str, int]]:
    """(sequences, errors, tokens, errors per class) over every finished shard, read from the files."""
    written = failed = tokens = 0
    by_class: dict[str, int] = {}
    for k in finished_shards(output, num_shards):
        lengths = pq.read_table(shard_path(output, k), columns=["length"]).column("length")
        written += len(lengths)
        tokens += int(pc.sum(lengths).as_py() or 0)
        errors = pq.read_table(error_path(output, k), columns=["error"]).column("error").to_pylist()
        failed += len(errors)
        for name in errors:
            by_class[name] = by_class.get(name, 0) + 1
    return written, failed, tokens, dict(sorted(by_class.items()))


def iter_sequences(output: str | Path) -> Iterator[tuple[int, str, TokenSequence]]:
    """``(row, id, TokenSequence)`` for every written row, shard by shard in corpus order."""
    for path in sorted((Path(output) / "shards").glob("shard-*.parquet")):
        table = pq.read_table(path)
        for row, row_id, manifest, features in zip(*(table.column(c).to_pylist() for c in
                                                     ("row", "id", "manifest", "features"))):
            yield row, row_id, record_sequence(manifest, features)


def read_errors(output: str | Path) -> list[dict]:
    """The errors table: one dict (row, id, path, error, message) per failed row, in corpus order."""
    tables = [pq.read_table(p) for p in sorted((Path(output) / "errors").glob("shard-*.parquet"))]
    return pa.concat_tables(tables).to_pylist() if tables else []
