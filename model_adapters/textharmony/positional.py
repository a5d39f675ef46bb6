"""Fixed sin-cos position tables and their resizing to other grid sizes."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """[M] positions -> [M, dim]: sines of all frequencies, then cosines."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float32) / (dim / 2))
    angles = positions.float().reshape(-1, 1) * omega.to(positions.device)
    return torch.cat((angles.sin(), angles.cos()), dim=1)


def sincos_2d(dim: int, grid_size: int, with_cls: bool = False) -> torch.Tensor:
    """[grid*grid (+1), dim]: the first half of the channels encodes the row, the second the column."""
    rows, cols = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    table = torch.cat((sincos_1d(dim // 2, rows), sincos_1d(dim // 2, cols)), dim=1)
    if with_cls:
        table = torch.cat((torch.zeros(1, dim), table), dim=0)
    return table


def resize_square_table(table: torch.Tensor, target_len: int) -> torch.Tensor:
    """Bicubically resize a square [side*side (+1 class row), C] table to ``target_len`` rows.

    A table whose length is not a perfect square carries a leading class row, which is kept.
    """
    side = int(math.sqrt(table.shape[0]))
    target_side = int(math.sqrt(target_len))
    if side == target_side:
        return table
    head = table[:0]
    if side * side != table.shape[0]:
        head, table = table[:1], table[1:]
    grid = table.float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(target_side, target_side), mode="bicubic", align_corners=False)
    resized = grid.permute(0, 2, 3, 1).flatten(0, 2).to(table.dtype)
    return torch.cat((head, resized), dim=0)
