"""A corpus description -> rows, and one row -> one ``TokenSequence`` (the per-row work of :mod:`mmtok.data`).

A corpus is one of:

- a **folder tree**: every regular file under it, in sorted order of its relative path, is one row holding that
  one file (its modality sniffed from the content, as ``mmtok tokenize`` does); the row id is the relative path.
- a **JSONL manifest** (``*.jsonl``): one row per non-empty line, ``{"id": "doc-7", "contents": [...]}`` (the
  id is optional; it defaults to ``NAME:LINE``).
- a **Parquet manifest** (``*.parquet``): one row per table row, a string column ``contents`` holding the same
  JSON list and an optional string column ``id``.

``contents`` is a prompt, in order: a JSON string is text; ``{"file": P}`` is a file of any modality (sniffed);
``{"image": P}`` (with ``"as": "codes"`` for VQ codes), ``{"video": P}`` (with ``"audio": true`` to interleave
its sound) and ``{"audio": P}`` name the modality. Relative paths are resolved against the manifest's folder.
A line or row that is not valid JSON, or holds an unknown piece, becomes an error row, like a bad file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.sequence import TokenSequence, pack
from ..errors import InputError, MmtokError
from ..media.contents import Audio, Image, Video

__all__ = ["CorpusRow", "RowError", "read_corpus", "corpus_fingerprint", "row_pieces", "encode_row"]

_PIECE_KEYS = {"file": set(), "image": {"as"}, "video": {"audio"}, "audio": set()}


@dataclass(frozen=True)
class CorpusRow:
    """One row of a corpus: what :class:`mmtok.data.TokenizeBatch` turns into one sequence (or one error)."""

    index: int  # 0-based position in the corpus; decides the row's shard (index // shard_size)
    id: str  # the folder-relative path, the manifest's "id", or "NAME:LINE"
    contents: str  # the JSON list of pieces (or, for a malformed manifest line, that line as it was)
    base: str  # absolute folder that relative paths in ``contents`` are resolved against
    source: str  # absolute path of the file the row comes from (the file itself, or the manifest)


@dataclass(frozen=True)
class RowError:
    """Why a row gave no sequence: the file at fault, the error's class name and its message."""

    path: str
    error: str
    message: str

    @classmethod
    def of(cls, path: str, e: Exception) -> RowError:
        return cls(path, type(e).__name__, str(e))


def read_corpus(source: str | Path) -> list[CorpusRow]:
    """The rows of a folder tree, a ``.jsonl`` or a ``.parquet`` manifest (see the module docstring)."""
    path = Path(source).resolve()
    if path.is_dir():
        return _folder_rows(path)
    if not path.is_file():
        raise InputError(f"no such corpus: {source}; give a folder of files or a .jsonl / .parquet manifest")
    if path.suffix == ".jsonl":
        return _jsonl_rows(path)
    if path.suffix == ".parquet":
        return _parquet_rows(path)
    raise InputError(f"{source} is neither a folder nor a .jsonl / .parquet manifest; give one of those (rows of "
                     f'{{"contents": [...]}}, see mmtok.data.corpus)')


def corpus_fingerprint(rows: list[CorpusRow]) -> str:
    """A digest of the rows' ids, contents and base folders: a rerun into the same output must describe the same
    corpus (the files' bytes are not read)."""
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps([r.index, r.id, r.contents, r.base], ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()[:32]


def _folder_rows(root: Path) -> list[CorpusRow]:
    files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())
    return [CorpusRow(i, p.relative_to(root).as_posix(), json.dumps([{"file": p.relative_to(root).as_posix()}]),
                      str(root), str(p)) for i, p in enumerate(files)]


def _jsonl_rows(path: Path) -> list[CorpusRow]:
    rows: list[CorpusRow] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 (byte {e.start}); a JSONL manifest must be UTF-8 text") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = None  # kept as it is: the worker reports it as this row's error
        row_id = obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str) else f"{path.name}:{n}"
        contents = json.dumps(obj["contents"], ensure_ascii=False) if isinstance(obj, dict) and "contents" in obj \
            else line
        rows.append(CorpusRow(len(rows), row_id, contents, str(path.parent), str(path)))
    return rows


def _parquet_rows(path: Path) -> list[CorpusRow]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{path} is not a readable Parquet file ({e}); re-export the manifest") from None
    if "contents" not in table.column_names:
        raise InputError(f"{path} has columns {table.column_names}; a Parquet manifest needs a string column "
                         f"'contents' (a JSON list of pieces) and optionally 'id'")
    contents = table.column("contents").to_pylist()
    ids = table.column("id").to_pylist() if "id" in table.column_names else [None] * len(contents)
    return [CorpusRow(i, row_id if isinstance(row_id, str) else f"{path.name}:{i}",
                      c if isinstance(c, str) else json.dumps(c), str(path.parent), str(path))
            for i, (row_id, c) in enumerate(zip(ids, contents))]


def row_pieces(row: CorpusRow) -> list[tuple[Any, str | None]]:
    """The row's prompt pieces, each as ``(content, path)``: text as ``str`` (path None), files as
    ``mmtok.Image`` / ``Video`` / ``Audio`` or a ``{"file": path}`` to sniff. Raises ``InputError`` naming the
    row for malformed contents."""
    where = f"row {row.id!r} of {row.source}"
    try:
        pieces = json.loads(row.contents)
    except json.JSONDecodeError as e:
        raise InputError(f"{where} is not valid JSON ({e.msg} at column {e.colno}); fix the line, e.g. "
                         f'{{"contents": ["text", {{"image": "a.png"}}]}}') from None
    if not isinstance(pieces, list):
        raise InputError(f'{where}: give an object with a "contents" list (text strings and {{"image": PATH}}, '
                         f'{{"video": PATH}}, {{"audio": PATH}}, {{"file": PATH}} pieces)')
    out: list[tuple[Any, str | None]] = []
    for k, p in enumerate(pieces):
        if isinstance(p, str):
            out.append((p, None))
            continue
        kind = next((key for key in _PIECE_KEYS if isinstance(p, dict) and key in p), None)
        if kind is None or not isinstance(p[kind], str) or set(p) - {kind} - _PIECE_KEYS[kind]:
            raise InputError(f"{where}, piece {k}: {json.dumps(p)[:200]} is not a piece; use a text string or one "
                             f'of {{"file": P}}, {{"image": P, "as": "codes"?}}, {{"video": P, "audio": true?}}, '
                             f'{{"audio": P}}')
        path = str(Path(row.base, p[kind]))
        if kind == "image":
            out.append((Image(path, as_=p.get("as", "patches")), path))
        elif kind == "video":
            if not isinstance(p.get("audio", False), bool):
                raise InputError(f'{where}, piece {k}: "audio" must be true or false')
            out.append((Video(path, audio=p.get("audio", False)), path))
        elif kind == "audio":
            out.append((Audio(path), path))
        else:
            out.append(({"file": path}, path))
    return out


def encode_row(tok, row: CorpusRow, truncate: bool = False) -> TokenSequence | RowError:
    """One row through ``tok`` (a :class:`~mmtok.MultimodalTokenizer`): the sequence ``tok.encode`` gives for the
    row's pieces, or the :class:`RowError` naming the file at fault (a piece's file; the row's own file for a
    malformed row or a sequence over the context limit). Any exception is caught: a class other than an
    ``MmtokError`` in the errors table is a bug in mmtok to report."""
    from ..multimodal.files import file_content

    try:
        pieces = row_pieces(row)
    except MmtokError as e:
        return RowError.of(row.source, e)
    segments = tok.segments([])  # the layout's framing (<bos>); each piece's segments follow it
    head = len(segments)
    for content, path in pieces:
        try:
            if isinstance(content, dict):
                file = Path(content["file"])
                if not file.is_file():
                    raise InputError(f"no such file: {file}; fix the path in {row.source}")
                content = file_content(file)
            segments += tok.segments([content])[head:]
        except Exception as e:  # noqa: BLE001 - recorded in the errors table, never dropped
            return RowError.of(path or row.source, e)
    try:
        return pack(segments, tok.vocab, tok.layout.max_length, truncate=truncate)
    except Exception as e:  # noqa: BLE001
        return RowError.of(row.source, e)
