"""Per-modality feature rows of a sequence, concatenated only when first read.

Packing a prompt of many images or audio clips would otherwise copy every feature row once more (tens of MB
for a 32k-token prompt) although unpacking, batching or saving can work from the segments' own tensors.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import torch

from . import buffers
from .threads import one_torch_thread

__all__ = ["Features"]


class Features(Mapping[str, torch.Tensor]):
    """A read-only mapping ``modality label -> float [n_rows, dim]`` built from ordered parts.

    ``features["image"]`` concatenates the parts on first access (then caches); :meth:`rows` and
    :meth:`parts` give rows without concatenating when a part lines up with the request.
    """

    __slots__ = ("_parts", "_cache")

    def __init__(self, parts: Mapping[str, Sequence[torch.Tensor] | torch.Tensor] | None = None) -> None:
        self._parts: dict[str, tuple[torch.Tensor, ...]] = {}
        self._cache: dict[str, torch.Tensor] = {}
        for label, value in (parts or {}).items():
            seq = (value,) if isinstance(value, torch.Tensor) else tuple(value)
            if seq:
                self._parts[label] = seq
                if len(seq) == 1:
                    self._cache[label] = seq[0]

    def __getitem__(self, label: str) -> torch.Tensor:
        if label not in self._cache:
            parts = self._parts[label]  # KeyError for unknown labels, as a dict
            out = buffers.empty((sum(len(t) for t in parts), *parts[0].shape[1:]), parts[0].dtype)
            with one_torch_thread():  # two OpenMP threads lose ~10x on a shared machine (mmtok.core.threads)
                self._cache[label] = torch.cat(parts, out=out)  # memory a dropped sequence let go (core.buffers)
        return self._cache[label]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def __repr__(self) -> str:
        return "Features(" + ", ".join(f"{k}: {self.shape(k)}" for k in self._parts) + ")"

    def parts(self, label: str) -> tuple[torch.Tensor, ...]:
        return self._parts[label]

    def shape(self, label: str) -> tuple[int, int]:
        """``(rows, dim)`` without concatenating."""
        p = self._parts[label]
        return sum(len(t) for t in p), p[0].shape[1]

    def rows(self, label: str, start: int, n: int, part_hint: int | None = None) -> torch.Tensor:
        """Rows ``start .. start+n`` of ``label``; the part at ``part_hint`` is used as is when it is exactly those."""
        if label not in self._cache and part_hint is not None:
            p = self._parts[label]
            if part_hint < len(p) and len(p[part_hint]) == n:
                return p[part_hint]
        return self[label][start:start + n]
