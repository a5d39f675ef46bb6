"""The modality-adaptive LLaMA of mPLUG-Owl2 / DocOwl 1.5, with a preallocated KV cache.

Modality-adaptive: the two RMSNorms of each block and the key and value projections have one
set of weights for text positions (``multiway.0``) and one for image positions
(``multiway.1``); queries, the output projection and the MLP are shared. Otherwise LLaMA:
rotary embedding with halves rotated, SwiGLU MLP, RMSNorm computed in float32.

The release decodes one prompt at a time with positions ``0..T-1``; here each row of a
left-padded batch counts its own tokens, which is what the release computes for that row alone.
Tokens fed after the prompt are text (``multiway.0``), as in the release.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from model_adapters.common.kv_cache import KVCache, run_layers
from model_adapters.common.norms import RMSNorm
from model_adapters.mplug_docowl.config import DocOwlConfig


class Multiway(nn.Module):
    """A module with one copy for text positions and one for image positions."""

    def __init__(self, make: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.multiway = nn.ModuleList([make(), make()])

    def forward(self, x: torch.Tensor, visual: torch.Tensor | None) -> torch.Tensor:
        """``visual`` (B, T) marks image positions; ``None`` when there are none."""
        out = self.multiway[0](x)
        if visual is not None:
            out[visual] = self.multiway[1](x[visual]).to(out.dtype)
        return out


@dataclass
class Rotary:
    """cos and sin (B, 1, T, head_dim) of the positions being computed."""

    cos: torch.Tensor
    sin: torch.Tensor

    @classmethod
    def at(cls, positions: torch.Tensor, config: DocOwlConfig, dtype: torch.dtype) -> "Rotary":
        dim = config.head_dim
        inverse = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, device=positions.device).float() / dim))
        freqs = positions.float()[..., None] * inverse
        angles = torch.cat([freqs, freqs], dim=-1)[:, None]
        return cls(angles.cos().to(dtype), angles.sin().to(dtype))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        first, second = x.chunk(2, dim=-1)
        return x * self.cos + torch.cat([-second, first], dim=-1) * self.sin


class Attention(nn.Module):
    def __init__(self, config: DocOwlConfig) -> None:
        super().__init__()
        self.heads, self.head_dim = config.num_attention_heads, config.head_dim
        width, bias = config.hidden_size, config.attention_bias
        self.q_proj = nn.Linear(width, width, bias=bias)
        self.k_proj = Multiway(lambda: nn.Linear(width, width, bias=bias))
        self.v_proj = Multiway(lambda: nn.Linear(width, width, bias=bias))
        self.o_proj = nn.Linear(width, width, bias=bias)

    def forward(self, x: torch.Tensor, visual: torch.Tensor | None, rotary: Rotary, cache: KVCache, layer: int,
                mask: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q = self.q_proj(x).view(batch, length, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x, visual).view(batch, length, self.heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x, visual).view(batch, length, self.heads, self.head_dim).transpose(1, 2)
        keys, values = cache.store(layer, rotary.apply(k), v)
        context = F.scaled_dot_product_attention(rotary.apply(q), keys, values, attn_mask=mask)
        return self.o_proj(context.transpose(1, 2).reshape(batch, length, width))


class MLP(nn.Module):
    def __init__(self, config: DocOwlConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, config: DocOwlConfig) -> None:
        super().__init__()
        self.input_layernorm = Multiway(lambda: RMSNorm(config.hidden_size, config.rms_norm_eps))
        self.self_attn = Attention(config)
        self.post_attention_layernorm = Multiway(lambda: RMSNorm(config.hidden_size, config.rms_norm_eps))
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, visual: torch.Tensor | None, rotary: Rotary, cache: KVCache, layer: int,
                mask: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x, visual), visual, rotary, cache, layer, mask)
        return x + self.mlp(self.post_attention_layernorm(x, visual))


class Decoder(nn.Module):
    """The LLaMA part of the release's ``model`` (its vision parts are added in ``model``)."""

    def __init__(self, config: DocOwlConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, embeds: torch.Tensor, positions: torch.Tensor, valid: torch.Tensor, visual: torch.Tensor | None,
                cache: KVCache) -> torch.Tensor:
        """Runs ``embeds`` (B, T, H) at ``positions`` (B, T) after what ``cache`` holds and
        appends their keys and values; ``valid`` (B, T) marks real tokens, ``visual`` image ones."""
        rotary = Rotary.at(positions, self.config, embeds.dtype)
        return self.norm(run_layers(self.layers, embeds, valid, cache, visual, rotary))
