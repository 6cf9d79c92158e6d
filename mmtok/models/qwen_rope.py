"""The 3D M-RoPE position ids of a Qwen-VL prompt: what ``get_rope_index`` of ``Qwen2VLModel``,
``Qwen2_5_VLModel`` and ``Qwen3VLModel`` (transformers 5.23) returns for one unpadded sequence.

The prompt is cut into runs of one token type (0 text, 1 image, 2 video: ``mm_token_type_ids``). A text run of
length n takes positions ``p .. p + n - 1`` on all three axes; a vision run with a merged grid (t, h, w) takes
``(p + floor(i * interval), p + y, p + x)`` for its tokens in (i, y, x) order, and the next run starts at
``p + max(h, w)``. ``interval`` is 1, except for a Qwen2.5-VL clip: ``tokens_per_second * second_per_grid_ts``
computed in float32 as the model does (the processor returns ``second_per_grid_ts`` as a float32 tensor). Qwen3-VL
splits a clip into one (1, h, w) grid per temporal patch, each its own run between its timestamp texts.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

__all__ = ["VisionRun", "rope_index"]

# One vision run of the prompt, in order: its merged grid (t, h, w) and its temporal step.
VisionRun = tuple[tuple[int, int, int], "float | torch.Tensor"]


def _vision_positions(start: int, grid: tuple[int, int, int], interval: float | torch.Tensor) -> torch.Tensor:
    """int64 [3, t * h * w] positions of one vision run starting at ``start`` (``get_vision_position_ids``)."""
    t, h, w = grid
    temporal = (torch.arange(t) * interval).long()
    tt, hh, ww = torch.meshgrid(temporal, torch.arange(h) + start, torch.arange(w) + start, indexing="ij")
    pos = torch.stack([tt, hh, ww]).reshape(3, -1)
    pos[0] += start  # after the interval multiply, as there
    return pos


def rope_index(token_types: torch.Tensor, runs: Sequence[VisionRun]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(position_ids, rope_deltas)`` of one sequence.

    Args:
        token_types: int [L], 0 text, 1 image, 2 video (``mm_token_type_ids[0]``).
        runs: one entry per vision run in prompt order: the MERGED grid (t, h // merge, w // merge) and the
            temporal interval.

    Returns:
        int64 [3, 1, L] positions (temporal, height, width) and int64 [1, 1] ``max position + 1 - L``, the offset
        generation continues from.
    """
    pieces, pos = [], 0
    vision = iter(runs)
    for kind, group in itertools.groupby(token_types.tolist()):
        n = len(list(group))
        if kind == 0:
            pieces.append(torch.arange(n).view(1, -1).expand(3, -1) + pos)
            pos += n
            continue
        grid, interval = next(vision)
        assert grid[0] * grid[1] * grid[2] == n, (grid, n)  # the run is exactly the grid's tokens
        pieces.append(_vision_positions(pos, grid, interval))
        pos += max(grid[1], grid[2])
    positions = torch.cat(pieces, dim=1)  # (3, L)
    delta = positions.max() + 1 - positions.shape[1]
    return positions[:, None, :].to(torch.int64), delta.view(1, 1).to(torch.int64)
