"""Qwen-VL's vision side with Monkey's per-window LoRA: a ViT whose attention and MLP carry
one low-rank adapter per window position, and a one-layer cross-attention resampler that turns
the patch grid into ``n_queries`` tokens in the LLM's width.

Module and parameter names are those of the release's ``visual.py``, so its state dict loads
as it is. Details that change numbers: the fused ``in_proj`` holds q, k and v *per head*
(``[q_h, k_h, v_h]`` for each head in turn), the MLP adapter reads the block's residual rather
than the normed input, the patch position table (16x16) and the resampler's key positions are
resized bicubically to the patch grid, and every LayerNorm uses eps 1e-6.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from model_adapters.qwen_vl.config import VisualConfig
from model_adapters.qwen_vl.images import WINDOW, window_views

EPS = 1e-6


def resized_positions(table: torch.Tensor, count: int) -> torch.Tensor:
    """A square (side², C) position table resized bicubically to ``count`` = side'² rows."""
    source, target = int(math.sqrt(table.size(0))), int(math.sqrt(count))
    if source == target:
        return table
    grid = table.float().reshape(1, source, source, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(target, target), mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).flatten(0, 2).to(dtype=table.dtype)


def sincos_positions(dim: int, side: int) -> torch.Tensor:
    """MAE's 2-D sin-cos table (half the channels for rows, half for columns), the resampler's
    query positions when a checkpoint does not store them."""
    def one_axis(half: int, positions: torch.Tensor) -> torch.Tensor:
        omega = 1.0 / 10000 ** (torch.arange(half // 2, dtype=torch.float64) / (half / 2))
        angles = positions.reshape(-1, 1) * omega[None]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    rows, cols = torch.meshgrid(torch.arange(side, dtype=torch.float64), torch.arange(side, dtype=torch.float64), indexing="ij")
    return torch.cat([one_axis(dim // 2, rows), one_axis(dim // 2, cols)], dim=1).float()


class LoraAdapter(nn.Module):
    def __init__(self, d_in: int, d_out: int, rank: int) -> None:
        super().__init__()
        self.lora_scale = nn.Parameter(torch.ones(1))
        self.lora_a = nn.Linear(d_in, rank, bias=False)
        self.lora_b = nn.Linear(rank, d_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lora_b(self.lora_a(x)) * self.lora_scale


def _adapters(count: int, d_in: int, d_out: int, rank: int) -> nn.ModuleList:
    return nn.ModuleList(LoraAdapter(d_in, d_out, rank) for _ in range(count))


class VisualAttention(nn.Module):
    def __init__(self, width: int, heads: int, windows: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj = nn.Linear(width, 3 * width)
        self.in_proj_lora = _adapters(windows, width, 3 * width, 16)
        self.out_proj = nn.Linear(width, width)
        self.out_proj_lora = _adapters(windows, width, width, 16)

    def forward(self, x: torch.Tensor, window: int | None) -> torch.Tensor:
        batch, length, width = x.shape
        mixed = self.in_proj(x)
        if window is not None:
            mixed = mixed + self.in_proj_lora[window](x)
        head_dim = width // self.heads
        q, k, v = mixed.view(batch, length, self.heads, 3 * head_dim).transpose(1, 2).split(head_dim, dim=-1)
        context = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, length, width)
        out = self.out_proj(context)
        if window is not None:
            out = out + self.out_proj_lora[window](context)
        return out


class VisualBlock(nn.Module):
    def __init__(self, config: VisualConfig) -> None:
        super().__init__()
        width = config.width
        self.ln_1 = nn.LayerNorm(width, eps=EPS)
        self.ln_2 = nn.LayerNorm(width, eps=EPS)
        self.attn = VisualAttention(width, config.heads, config.lora_repeat_num)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, config.mlp_width)),
            ("gelu", nn.GELU()),
            ("c_proj", nn.Linear(config.mlp_width, width)),
        ]))
        self.mlp_lora = _adapters(config.lora_repeat_num, width, width, 32)

    def forward(self, x: torch.Tensor, window: int | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), window)
        out = x + self.mlp(self.ln_2(x))
        if window is not None:
            out = out + self.mlp_lora[window](x)
        return out


class VisualTransformer(nn.Module):
    def __init__(self, config: VisualConfig) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(VisualBlock(config) for _ in range(config.layers))

    def forward(self, x: torch.Tensor, window: int | None) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, window)
        return x


class Resampler(nn.Module):
    """Learnt queries (with fixed 2-D positions) attending once to the patch features."""

    def __init__(self, queries: int, dim: int, kv_dim: int) -> None:
        super().__init__()
        side = int(math.sqrt(queries))
        self.pos_embed = nn.Parameter(sincos_positions(dim, side), requires_grad=False)
        self.query = nn.Parameter(torch.zeros(queries, dim))
        self.kv_proj = nn.Linear(kv_dim, dim, bias=False) if kv_dim != dim else nn.Identity()
        self.attn = nn.MultiheadAttention(dim, dim // 128)
        self.ln_q = nn.LayerNorm(dim, eps=EPS)
        self.ln_kv = nn.LayerNorm(dim, eps=EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key_positions = resized_positions(self.pos_embed, x.size(1))
        x = self.ln_kv(self.kv_proj(x)).permute(1, 0, 2)
        q = self.ln_q(self.query)[:, None].expand(-1, x.size(1), -1)
        out = self.attn(q + self.pos_embed[:, None], x + key_positions[:, None], x, need_weights=False)[0]
        return out.permute(1, 0, 2)


class VisionTransformer(nn.Module):
    """Monkey's encoder: each 448-pixel window of the image through the ViT with that window's
    LoRA (row by row), then the whole image at 448 without adapter, ``n_queries`` tokens each."""

    transformer_class: type[VisualTransformer] = VisualTransformer

    def __init__(self, config: VisualConfig, queries: int | None = None) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.conv1 = nn.Conv2d(3, width, kernel_size=config.patch_size, stride=config.patch_size, bias=False)
        self.positional_embedding = nn.Parameter(torch.zeros(256, width))
        self.ln_pre = nn.LayerNorm(width, eps=EPS)
        self.transformer = self.transformer_class(config)
        self.attn_pool = Resampler(queries or config.n_queries, config.output_dim, width)
        self.ln_post = nn.LayerNorm(config.output_dim, eps=EPS)
        self.proj = nn.Parameter(torch.zeros(config.output_dim, config.output_dim))

    @property
    def windows(self) -> int:
        return (self.config.image_size // WINDOW) ** 2

    @property
    def token_span(self) -> int:
        """Positions of one image's features in a prompt."""
        return (self.windows + 1) * self.config.n_queries

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """(N, patches, width) -> (N, queries, output_dim)."""
        return self.ln_post(self.attn_pool(x)) @ self.proj

    def forward(self, pixels: torch.Tensor, window: int | None = None) -> torch.Tensor:
        """(N, 3, 448, 448) -> (N, n_queries, output_dim); ``window`` picks the LoRA of a
        window view, ``None`` is the global view (no adapter)."""
        x = self.conv1(pixels.to(self.conv1.weight.dtype))
        x = x.flatten(2).transpose(1, 2)
        x = x + resized_positions(self.positional_embedding, x.size(1))
        return self.pool(self.transformer(self.ln_pre(x), window))

    def encode(self, images: list[Image.Image]) -> torch.Tensor:
        """(images, token_span, output_dim)."""
        views = torch.stack([window_views(image, self.config.image_size) for image in images])
        views = views.to(self.conv1.weight.device)
        parts = [self(views[:, k], window=k) for k in range(self.windows)]
        parts.append(self(views[:, self.windows]))
        return torch.cat(parts, dim=1)
