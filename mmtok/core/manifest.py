"""Saving and loading a TokenSequence: ``manifest.json`` (JSON, no tensors) + ``features.safetensors``.

The manifest holds the ids, modalities, positions, spans with their typed metadata, the vocabulary layout and any
truncation record; feature values go to safetensors (never pickle). Loading trusts nothing: :func:`parse` turns the
spans back into segments, :func:`mmtok.core.sequence.from_manifest` packs them again and :func:`verify` refuses a
manifest whose stored fields disagree with that, whose ids leave the vocabulary, whose features disagree with the
placeholders, or whose features file lies outside the manifest's folder.

Formats: ``mmtok.sequence/3`` (written now: span metadata with a ``kind``, see :mod:`mmtok.core.meta`; a clip with
its sound is one span with ``sound_features``), ``mmtok.sequence/2`` (the same, but a clip with its sound as 2N + 1
spans) and ``mmtok.sequence/1`` (mmtok 0.1: plain metadata dicts). The earlier two still load, into today's spans
(:mod:`mmtok.core.legacy`).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ManifestError, MmtokError
from .legacy import Entry, merge_clips, read_meta
from .meta import meta_from_dict
from .model_vocab import AnyVocab, vocab_from_description
from .segment import Segment
from .vocab import PLACEHOLDERS, Modality

__all__ = ["MANIFEST_FORMAT", "READABLE_FORMATS", "MANIFEST_FILE", "FEATURES_FILE", "to_manifest", "write", "save_safetensors", "read",
           "parse", "verify", "Parsed"]

MANIFEST_FORMAT = "mmtok.sequence/3"
READABLE_FORMATS = ("mmtok.sequence/1", "mmtok.sequence/2", MANIFEST_FORMAT)
MANIFEST_FILE = "manifest.json"
FEATURES_FILE = "features.safetensors"


def to_manifest(seq) -> dict:
    """Everything of a ``TokenSequence`` as JSON-serializable values, features as ``{label: {shape, dtype}}`` only."""
    return {
        "format": MANIFEST_FORMAT,
        "vocab": seq.vocab.describe(),
        "max_length": seq.max_length,
        "length": len(seq),
        "truncation": seq.truncation,
        "input_ids": seq.input_ids.tolist(),
        "modality": seq.modality.tolist(),
        "positions": seq.positions.tolist(),
        "positions_3d": seq.positions_3d.tolist(),
        "spans": [s.describe() for s in seq.spans],
        "features": {k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")}
                     for k, v in seq.features.items()},
        "features_file": FEATURES_FILE if seq.features else None,
    }


def write(seq, directory: str | Path) -> None:
    """Write ``manifest.json`` and (when there are features) ``features.safetensors`` into ``directory``.

    A save replaces the previous one completely: each file is written under a temporary name and renamed into
    place, a features file an earlier save left is removed when this sequence has none, and both files get the
    mode the umask gives a new file (safetensors alone makes its file 0600).
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_manifest(seq), ensure_ascii=False, allow_nan=False)
    if seq.features:
        save_safetensors(seq.features, d / FEATURES_FILE, metadata={"format": MANIFEST_FORMAT})
    else:
        (d / FEATURES_FILE).unlink(missing_ok=True)
    _replace(d / MANIFEST_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict | None = None) -> None:
    """``safetensors.torch.save_file`` of ``tensors`` (made contiguous) into ``path``, replacing it whole, with the
    mode the umask gives a new file."""
    from safetensors.torch import save_file

    _replace(Path(path), lambda tmp: save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp),
                                               metadata=metadata))


def _replace(path: Path, write: Any) -> None:
    """``write(tmp)`` into a temporary file beside ``path``, give it the umask's mode, rename it onto ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.touch()  # created as open() creates files: 0666 minus the umask
        mode = stat.S_IMODE(tmp.stat().st_mode)
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read(directory: str | Path) -> tuple[Path, Any, dict[str, torch.Tensor]]:
    """(path of the manifest, its JSON, its feature tensors) of a folder written by :func:`write`."""
    d = Path(directory)
    path = d / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path} does not exist; give the folder that TokenSequence.save wrote") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"{path} is not a readable JSON manifest: {e}") from None
    try:
        return path, manifest, _load_features(d, manifest)
    except MmtokError as e:
        raise ManifestError(f"{path}: {e}") from None


@dataclass(frozen=True)
class Parsed:
    """What a manifest says, checked field by field, before its segments are packed again."""

    segments: list[Segment]
    vocab: AnyVocab
    max_length: int
    truncation: dict | None
    stored: dict[str, torch.Tensor]  # modality, positions, positions_3d as stored
    counts: list[tuple[int, int, int]]  # each span's offset, num_features and sound_features as stored


def parse(manifest: Any, features: dict[str, torch.Tensor], vocab: AnyVocab | None = None) -> Parsed:
    """Check a manifest's fields and turn its spans into segments (``vocab`` must equal its own if given)."""
    if not isinstance(manifest, dict) or manifest.get("format") not in READABLE_FORMATS:
        raise ManifestError(f"not an mmtok sequence manifest (format must be one of {list(READABLE_FORMATS)})")
    described = vocab_from_description(manifest.get("vocab"))
    if vocab is not None and vocab != described:
        raise ManifestError(f"the manifest was made with {described} but {vocab} was given; load it with the "
                            f"tokenizer that wrote it")
    input_ids, stored = _tensors(manifest)
    _check_features(manifest.get("features"), features)
    spans = manifest.get("spans")
    if not isinstance(spans, list):
        raise ManifestError("'spans' must be a list")
    entries = _segments(spans, input_ids, stored["positions_3d"], features, manifest["format"])
    if manifest["format"] != MANIFEST_FORMAT:
        entries = merge_clips(entries)  # a clip with its sound: one span since mmtok.sequence/3
    max_length, truncation = manifest.get("max_length"), manifest.get("truncation")
    if type(max_length) is not int or max_length < len(input_ids):
        raise ManifestError(f"max_length {max_length!r} must be an int >= the length {len(input_ids)}")
    if truncation is not None and not isinstance(truncation, dict):
        raise ManifestError("'truncation' must be null or a dict")
    return Parsed([seg for seg, _ in entries], described, max_length, truncation, stored,
                  [counts for _, counts in entries])


def verify(seq, parsed: Parsed) -> None:
    """Refuse a manifest whose stored modality, positions, offsets or feature counts disagree with what packing
    its segments gives (an edited manifest)."""
    for name, stored in parsed.stored.items():
        if not torch.equal(getattr(seq, name), stored):
            raise ManifestError(f"stored {name} disagree with the ones its spans imply; the manifest was edited")
    if [(s.offset, s.num_features, s.sound_features) for s in seq.spans] != parsed.counts:
        raise ManifestError("span offsets or feature counts disagree with the ids and positions")


# --- steps of parse ----------------------------------------------------------------------------------------------
def _tensors(manifest: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    input_ids = _int_tensor(manifest, "input_ids", 1)
    stored = {"modality": _int_tensor(manifest, "modality", 1), "positions": _int_tensor(manifest, "positions", 1),
              "positions_3d": _int_tensor(manifest, "positions_3d", 2)}
    L = len(input_ids)
    if (manifest.get("length") != L or len(stored["modality"]) != L or len(stored["positions"]) != L
            or stored["positions_3d"].shape != (3, L)):
        raise ManifestError(f"field lengths disagree: length={manifest.get('length')!r}, input_ids {L}, "
                            f"modality {len(stored['modality'])}, positions {len(stored['positions'])}, positions_3d "
                            f"{tuple(stored['positions_3d'].shape)}")
    return input_ids, stored


def _check_features(declared: Any, features: dict[str, torch.Tensor]) -> None:
    if not isinstance(declared, dict) or set(declared) != set(features):
        shown = sorted(map(str, declared)) if isinstance(declared, dict) else repr(declared)
        raise ManifestError(f"the manifest declares features {shown} but the features file holds {sorted(features)}")
    for label, spec in declared.items():
        t = features[label]
        if not isinstance(spec, dict) or spec.get("shape") != list(t.shape) or spec.get("dtype") != str(
                t.dtype).removeprefix("torch."):
            raise ManifestError(f"features {label!r}: the manifest says {spec!r} but the file holds "
                                f"{tuple(t.shape)} {t.dtype}")


def _segments(spans: list, input_ids: torch.Tensor, positions_3d: torch.Tensor, features: dict[str, torch.Tensor],
              fmt: str) -> list[Entry]:
    """The segments the spans describe, each with its span's stored (offset, num_features, sound_features); spans
    must tile the sequence in order and use every feature row."""
    L = len(input_ids)
    entries, taken, expected_start = [], {m.label: 0 for m in PLACEHOLDERS}, 0
    for i, s in enumerate(spans):
        m, start, length, offset, nf, snf = _span_fields(i, s)
        if start != expected_start or start + length > L:
            raise ManifestError(f"span {i} covers tokens {start}..{start + length} but spans must tile "
                                f"0..{L} in order (expected start {expected_start})")
        expected_start = start + length
        f = _span_features(i, m, nf, features, taken)
        sound = _span_features(i, Modality.AUDIO, snf, features, taken)
        pos = positions_3d[:, start:start + length] - offset
        if length and int(pos.min()) != 0:
            raise ManifestError(f"span {i}: offset {offset} does not match its positions_3d")
        what = f"span {i}"
        meta = meta_from_dict(m, s.get("meta", {}), what) if fmt == MANIFEST_FORMAT else read_meta(
            m, s.get("meta", {}), what, fmt)
        entries.append((Segment(m, input_ids[start:start + length], pos, f, meta, sound), (offset, nf, snf)))
    if expected_start != L:
        raise ManifestError(f"spans cover tokens 0..{expected_start} but the sequence has {L}")
    for label, used in taken.items():
        if label in features and used != len(features[label]):
            raise ManifestError(f"{len(features[label])} {label} feature rows are stored but spans use {used}")
    return entries


def _span_fields(i: int, s: Any) -> tuple[Modality, int, int, int, int, int]:
    if not isinstance(s, dict):
        raise ManifestError(f"span {i} must be a dict")
    m = Modality.parse(s.get("modality"))
    start, length, offset, nf = (s.get(k) for k in ("start", "length", "offset", "num_features"))
    snf = s.get("sound_features", 0)  # a clip with its sound (mmtok.sequence/3)
    if not all(type(v) is int and v >= 0 for v in (start, length, offset, nf, snf)):
        raise ManifestError(f"span {i}: start, length, offset, num_features and sound_features must be ints >= 0")
    if not isinstance(s.get("meta", {}), dict):
        raise ManifestError(f"span {i}: meta must be a dict")
    return m, start, length, offset, nf, snf


def _span_features(i: int, m: Modality, nf: int, features: dict[str, torch.Tensor],
                   taken: dict[str, int]) -> torch.Tensor | None:
    if not nf:
        return None
    if m not in PLACEHOLDERS or m.label not in features:
        raise ManifestError(f"span {i} ({m.label}) claims {nf} feature rows but has no features")
    k = taken[m.label]
    f = features[m.label][k:k + nf]
    if len(f) != nf:
        raise ManifestError(f"span {i} ({m.label}) claims feature rows {k}..{k + nf} but only "
                            f"{len(features[m.label])} exist")
    taken[m.label] = k + nf
    return f


def _int_tensor(manifest: dict, key: str, dims: int) -> torch.Tensor:
    value = manifest.get(key)
    try:
        t = torch.tensor(value)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise ManifestError(f"{key!r} must be a {dims}-D list of ints") from None
    if t.numel() == 0:
        t = t.to(torch.int64).reshape((0,) if dims == 1 else (3, 0))
    if t.dtype != torch.int64 or t.dim() != dims:
        raise ManifestError(f"{key!r} must be a {dims}-D list of ints, got {t.dim()}-D {t.dtype}")
    return t


def _load_features(d: Path, manifest: Any) -> dict[str, torch.Tensor]:
    name = manifest.get("features_file") if isinstance(manifest, dict) else None
    if name is None:
        return {}
    if not isinstance(name, str) or name != Path(name).name or name in ("", ".", ".."):
        raise ManifestError(f"features_file {name!r} must be a plain file name inside the manifest's folder")
    path = d / name
    if path.resolve().parent != d.resolve():
        raise ManifestError(f"features_file {name!r} resolves outside the manifest's folder; refusing to open it")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise ManifestError(f"features file {path} is missing; copy it with the manifest") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise ManifestError(f"features file {path} is not valid safetensors: {e}") from None
