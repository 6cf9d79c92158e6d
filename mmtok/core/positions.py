"""Ids and relative 3D positions of every segment layout, in one place.

A segment's positions are relative (t, h, w) coordinates whose smallest value is 0; :func:`mmtok.pack` shifts them.
Tokens read one after another (text, markers, audio) advance all three axes together
(:func:`sequential_positions`); a picture's patches sit on their (row, column) grid (:func:`grid_positions`), framed
by markers (:func:`framed_blocks`: images, video frames, VQ code blocks); audio is a run of placeholders between
two markers (:func:`framed_run`). A segment made of several such parts (a clip with its sound) lays them out as
:func:`mmtok.pack` lays segments (:func:`stacked_positions`).
"""

from __future__ import annotations

import torch

__all__ = ["sequential_positions", "grid_positions", "framed_blocks", "framed_run", "stacked_positions"]


def sequential_positions(n: int) -> torch.Tensor:
    """Relative 3D positions of ``n`` tokens read one after another (text, markers): all axes ``0 .. n-1``.

    Returns int64 [3, n].
    """
    return torch.arange(n, dtype=torch.int64).expand(3, n)


def grid_positions(t: int, h: int, w: int) -> torch.Tensor:
    """Relative 3D positions of a ``t x h x w`` block of tokens in row-major (t, h, w) order.

    Returns int64 [3, t*h*w]: axis 0 the frame index, axis 1 the row, axis 2 the column.
    """
    tt, hh, ww = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([tt.reshape(-1), hh.reshape(-1), ww.reshape(-1)])


def framed_blocks(rows: int, cols: int, blocks: int, open_id: int, close_id: int, fill: int | torch.Tensor,
                  separator_id: int | None = None, t0: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids [n] and relative 3D positions [3, n] of ``blocks`` grids of ``rows x cols`` tokens between two markers.

    ``fill`` is one placeholder id repeated, or the ids themselves (int64 [blocks * rows * cols], e.g. VQ codes).
    The opening marker sits at (t0, 0, 0); block b's token (r, c) at (t0 + b, 1 + r, 1 + c); a ``separator_id``
    before each block after the first at (t0 + b, 0, 0); the closing marker at (t0 + blocks - 1, 1 + rows,
    1 + cols).
    """
    n = rows * cols
    if isinstance(fill, torch.Tensor):
        if fill.shape != (blocks * n,):
            raise ValueError(f"fill must hold {blocks * n} ids, got shape {tuple(fill.shape)}")
        body = fill.long().reshape(blocks, n)
    else:
        body = torch.full((blocks, n), fill, dtype=torch.int64)
    if blocks > 1 and separator_id is None:
        raise ValueError("several blocks need a separator_id")
    grid = grid_positions(blocks, rows, cols) + torch.tensor([[t0], [1], [1]])  # (3, blocks * n)
    ids, pos = [torch.tensor([open_id])], [torch.tensor([[t0], [0], [0]])]
    for b in range(blocks):
        if b:
            ids.append(torch.tensor([separator_id]))
            pos.append(torch.tensor([[t0 + b], [0], [0]]))
        ids.append(body[b])
        pos.append(grid[:, b * n:(b + 1) * n])
    ids.append(torch.tensor([close_id]))
    pos.append(torch.tensor([[t0 + blocks - 1], [1 + rows], [1 + cols]]))
    return torch.cat(ids), torch.cat(pos, 1).long()


def framed_run(open_id: int, close_id: int, fill: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids [n + 2] and positions [3, n + 2] of ``n`` placeholders read in order between two markers (audio)."""
    ids = torch.cat([torch.tensor([open_id]), torch.full((n,), fill, dtype=torch.int64), torch.tensor([close_id])])
    return ids, sequential_positions(n + 2)


def stacked_positions(parts: list[torch.Tensor]) -> torch.Tensor:
    """Relative positions int64 [3, sum of n] of parts [3, n] (each with smallest value 0) laid one after another
    as :func:`mmtok.pack` lays segments: each part starts one past the largest position before it."""
    out, top = [], 0
    for p in parts:
        out.append(p + top)
        top += int(p.max()) + 1 if p.numel() else 0
    return torch.cat(out, 1) if out else torch.zeros(3, 0, dtype=torch.int64)
