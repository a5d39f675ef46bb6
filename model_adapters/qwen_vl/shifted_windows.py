"""TextMonkey's shifted-window attention: the windows' patch features joined into one grid, one
Swin block (shifted windows of 12 patches) in a narrower width, added back to the grid.

Module and parameter names are those of the release's ``text_monkey/window.py``
(``CrossWindowAttention`` > ``shift_attn`` (``SwinTransformerBlock``) > ``attn``
(``WindowAttention``)). What the release computes, and so this too: the grid gets a learnt
position table (resized bicubically when the grid differs from the configured one) before the
block; the block projects down, adds windowed attention as a residual, and its MLP's output
(projected back to the ViT width, scaled) *replaces* the block's value, the residual being the
grid before the position table. The grid is rolled by half a window, then zero-padded to whole
windows (the padding is attended to), and the shift mask is built on the padded size with
-100 between regions; LayerNorms use eps 1e-5. The index and mask tables are computed when
used rather than kept as buffers, because the weights are loaded into a model built on the meta
device and the checkpoint does not hold them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model_adapters.qwen_vl.visual import resized_positions

#: Window side in patches, and the shift (half of it) of the release's ``CrossWindowAttention``.
WINDOW = 12


def relative_position_index(side: int) -> torch.Tensor:
    """(side², side²) index into the (2·side-1)² bias table for each pair in a window."""
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    coords = torch.stack([rows.flatten(), cols.flatten()])
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (side - 1)
    return relative[..., 0] * (2 * side - 1) + relative[..., 1]


def shift_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """(windows, window², window²): 0 within a region of the rolled grid, -100 across regions."""
    regions = torch.zeros(height, width)
    label = 0
    for rows in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for cols in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            regions[rows, cols] = label
            label += 1
    labels = partition(regions[None, :, :, None], window).flatten(1)
    differs = labels[:, None, :] != labels[:, :, None]
    return torch.zeros(differs.shape).masked_fill(differs, -100.0)


def partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) -> (B·windows, window, window, C), windows row by row."""
    batch, height, width, channels = x.shape
    x = x.view(batch, height // window, window, width // window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, channels)


def unpartition(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    channels = windows.shape[-1]
    x = windows.view(-1, height // window, width // window, window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, channels)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads = heads
        self.window = window
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` (B·windows, N, C); ``mask`` (windows, N, N)."""
        count, length, channels = x.shape
        q, k, v = self.qkv(x).view(count, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        index = relative_position_index(self.window).to(x.device)
        bias = self.relative_position_bias_table[index.flatten()].view(length, length, -1).permute(2, 0, 1)[None]
        windows = mask.shape[0]
        bias = (bias[:, None] + mask[None, :, None].to(device=x.device, dtype=bias.dtype))
        bias = bias.expand(count // windows, -1, -1, -1, -1).flatten(0, 1)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(context.transpose(1, 2).reshape(count, length, channels))


class ShiftedWindowMLP(nn.Module):
    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 2 * dim, bias=False)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(2 * dim, out_dim, bias=False)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, hidden_dim: int, heads: int, grid: int) -> None:
        super().__init__()
        self.window = min(WINDOW, grid)
        self.shift = 0 if grid <= WINDOW else WINDOW // 2
        self.downsample = nn.Linear(dim, hidden_dim, bias=False)
        self.norm1 = nn.LayerNorm(hidden_dim)
        self.attn = WindowAttention(hidden_dim, heads, self.window)
        self.norm2 = nn.LayerNorm(hidden_dim)
        self.mlp = ShiftedWindowMLP(hidden_dim, dim)
        #: The padded side of the configured grid, on which the release builds its mask
        #: (shifted or not).
        self.padded = -(-grid // self.window) * self.window

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        pad_h, pad_w = (-height) % self.window, (-width) % self.window
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        windows = partition(x, self.window).flatten(1, 2)
        out = self.attn(windows, shift_mask(self.padded, self.padded, self.window, self.shift))
        x = unpartition(out.view(-1, self.window, self.window, channels), self.window, height + pad_h, width + pad_w)
        x = x[:, :height, :width]
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, dim) -> (B, H, W, dim)."""
        x = self.downsample(x)
        x = x + self._attention(self.norm1(x))
        return self.mlp(self.norm2(x))


class CrossWindowAttention(nn.Module):
    def __init__(self, grid: int, dim: int, hidden_dim: int, heads: int) -> None:
        super().__init__()
        self.position_embedding = nn.Parameter(torch.zeros(1, grid * grid, dim))
        self.shift_attn = SwinBlock(dim, hidden_dim, heads, grid)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """(B, H, W, dim) patch features of the whole image -> the same, windows mixed."""
        batch, height, width, dim = grid.shape
        positions = resized_positions(self.position_embedding[0], height * width).view(height, width, dim)
        return grid + self.shift_attn(grid + positions)
