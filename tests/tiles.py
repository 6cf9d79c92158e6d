"""A check the provenance tests share: boxes that tile a region exactly once."""

import pytest
import torch


def assert_tiles(boxes: torch.Tensor, region: tuple[float, float, float, float], n: int | None = None) -> None:
    """The boxes (float [k, 4] x0, y0, x1, y1) form a grid covering ``region`` (x0, y0, x1, y1) exactly once: every
    cell of the grid their edges make holds exactly one box; with ``n``, an n x n grid."""
    xs = sorted({round(v, 6) for v in boxes[:, [0, 2]].flatten().tolist()})
    ys = sorted({round(v, 6) for v in boxes[:, [1, 3]].flatten().tolist()})
    if n is not None:
        assert len(xs) == len(ys) == n + 1
    assert (xs[0], ys[0], xs[-1], ys[-1]) == pytest.approx(region)
    cells = {(xs.index(round(b[0], 6)), ys.index(round(b[1], 6))) for b in boxes.tolist()}
    assert len(cells) == len(boxes) == (len(xs) - 1) * (len(ys) - 1)
    for b in boxes.tolist():
        i, j = xs.index(round(b[0], 6)), ys.index(round(b[1], 6))
        assert round(b[2], 6) == xs[i + 1] and round(b[3], 6) == ys[j + 1]
