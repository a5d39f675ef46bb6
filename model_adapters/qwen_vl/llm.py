"""The Qwen (v1) decoder with a preallocated KV cache, exact to the release at batch size one
and independent of the batch otherwise.

What makes it Qwen v1 rather than Qwen2: fused ``c_attn`` (q, k, v with bias), SwiGLU MLP
``c_proj(w1(x) * silu(w2(x)))``, float32 RMSNorm, rotary embedding (halves rotated) with
*dynamic NTK* — the rotary base is scaled by ``alpha^(d/(d-2))`` with
``alpha = 2^ceil(log2(prompt / seq_length) + 1) - 1`` (at least 1), fixed at the prompt and
kept while decoding — and *log-n attention*: the query at position ``p`` is multiplied by
``log_seq_length(p + 1)`` beyond ``seq_length``.

The release derives positions, the NTK factor and log-n from the padded length of the whole
batch, so its answers change with left padding. Here they come from each row's own tokens
(padding excluded), which is what the release computes for that row alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model_adapters.common.kv_cache import KVCache, run_layers
from model_adapters.common.norms import RMSNorm
from model_adapters.qwen_vl.config import QwenVLConfig


def ntk_alpha(prompt_length: int, seq_length: int) -> float:
    context = math.log(prompt_length / seq_length, 2) + 1
    return max(2 ** math.ceil(context) - 1, 1)


@dataclass
class Rotary:
    """cos/sin (B, 1, T, rotary_dim) for the positions being computed, and the log-n factors
    (B, 1, T, 1) of those positions."""

    cos: torch.Tensor
    sin: torch.Tensor
    logn: torch.Tensor | None


class PositionTables:
    """Per-row rotary angles and log-n factors; the row's NTK factor is set at its prompt."""

    def __init__(self, config: QwenVLConfig) -> None:
        self.config = config

    def inverse_frequencies(self, alphas: list[float]) -> torch.Tensor:
        dim = self.config.rotary_dim
        rows = []
        for alpha in alphas:
            base = self.config.rotary_emb_base * alpha ** (dim / (dim - 2))
            rows.append(1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)))
        return torch.stack(rows)

    def at(self, positions: torch.Tensor, inverse_frequencies: torch.Tensor, dtype: torch.dtype) -> Rotary:
        freqs = positions.float()[..., None] * inverse_frequencies.to(positions.device)[:, None, :]
        angles = torch.cat([freqs, freqs], dim=-1)[:, None]
        logn = None
        if self.config.use_logn_attn:
            length = self.config.seq_length
            steps = (positions.double() + 1).clamp(min=1)
            factor = torch.where(steps > length, torch.log(steps) / math.log(length), torch.ones_like(steps))
            logn = factor.float().to(dtype)[:, None, :, None]
        return Rotary(angles.cos(), angles.sin(), logn)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rotary(x: torch.Tensor, rotary: Rotary) -> torch.Tensor:
    dim = rotary.cos.shape[-1]
    turned, passed = x[..., :dim].float(), x[..., dim:].float()
    turned = turned * rotary.cos + _rotate_half(turned) * rotary.sin
    return torch.cat([turned, passed], dim=-1).type_as(x)


class QwenAttention(nn.Module):
    def __init__(self, config: QwenVLConfig) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.c_attn = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.c_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=not config.no_bias)

    def forward(self, x: torch.Tensor, rotary: Rotary, cache: KVCache, layer: int, mask: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = (t.view(batch, length, self.heads, self.head_dim) for t in self.c_attn(x).split(width, dim=2))
        q = apply_rotary(q.transpose(1, 2), rotary)
        k = apply_rotary(k.transpose(1, 2), rotary)
        keys, values = cache.store(layer, k, v.transpose(1, 2))
        if rotary.logn is not None:
            q = q * rotary.logn
        context = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        return self.c_proj(context.transpose(1, 2).reshape(batch, length, width))


class QwenMLP(nn.Module):
    def __init__(self, config: QwenVLConfig) -> None:
        super().__init__()
        inner = config.intermediate_size // 2
        bias = not config.no_bias
        self.w1 = nn.Linear(config.hidden_size, inner, bias=bias)
        self.w2 = nn.Linear(config.hidden_size, inner, bias=bias)
        self.c_proj = nn.Linear(inner, config.hidden_size, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.w1(x) * F.silu(self.w2(x)))


class QwenBlock(nn.Module):
    def __init__(self, config: QwenVLConfig) -> None:
        super().__init__()
        self.ln_1 = RMSNorm(config.hidden_size, config.layer_norm_epsilon)
        self.attn = QwenAttention(config)
        self.ln_2 = RMSNorm(config.hidden_size, config.layer_norm_epsilon)
        self.mlp = QwenMLP(config)

    def forward(self, x: torch.Tensor, rotary: Rotary, cache: KVCache, layer: int, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), rotary, cache, layer, mask)
        return x + self.mlp(self.ln_2(x))


class QwenDecoder(nn.Module):
    """``transformer`` of the release without its ``visual`` part (see ``model``)."""

    def __init__(self, config: QwenVLConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.hidden_size)
        self.h = nn.ModuleList(QwenBlock(config) for _ in range(config.num_hidden_layers))
        self.ln_f = RMSNorm(config.hidden_size, config.layer_norm_epsilon)
        self.positions = PositionTables(config)

    def forward(self, embeds: torch.Tensor, positions: torch.Tensor, inverse_frequencies: torch.Tensor,
                valid: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Runs ``embeds`` (B, T, H) at ``positions`` (B, T) after what ``cache`` holds, and
        appends their keys and values; ``valid`` (B, T) marks real tokens."""
        rotary = self.positions.at(positions, inverse_frequencies, embeds.dtype)
        return self.ln_f(run_layers(self.h, embeds, valid, cache, rotary))
