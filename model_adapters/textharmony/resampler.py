"""Perceiver resampler: learned queries that read a variable-length sequence through a Q-Former.

TextHarmony uses two: one turns the ViT's 4,097 patch features into 512 image tokens for the
LLM, the other turns the LLM's hidden states into the 77 conditioning vectors of the UNet. Both
follow BLIP-2's Q-Former layout (the checkpoint keys them under ``blip2qformer``); the first adds
a LayerNorm on each head's queries and keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ResamplerConfig


class _HeadAttention(nn.Module):
    def __init__(self, config: ResamplerConfig, source_size: int) -> None:
        super().__init__()
        self.num_heads = config.num_heads
        head_dim = config.hidden_size // config.num_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(source_size, config.hidden_size)
        self.value = nn.Linear(source_size, config.hidden_size)
        if config.qk_normalization:
            self.q_norm = nn.LayerNorm(head_dim, eps=config.layer_norm_eps)
            self.k_norm = nn.LayerNorm(head_dim, eps=config.layer_norm_eps)
        else:
            self.q_norm = self.k_norm = nn.Identity()

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, -1).transpose(1, 2)

    def forward(self, x: torch.Tensor, source: torch.Tensor, source_mask: torch.Tensor | None) -> torch.Tensor:
        q = self.q_norm(self._heads(self.query(x)))
        k = self.k_norm(self._heads(self.key(source)))
        v = self._heads(self.value(source))
        mask = None if source_mask is None else source_mask.bool()[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return out.transpose(1, 2).flatten(2)


class _Residual(nn.Module):
    """Linear, then LayerNorm of the sum with the block's input (BERT's post-norm)."""

    def __init__(self, in_size: int, hidden_size: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(in_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _AttentionBlock(nn.Module):
    def __init__(self, config: ResamplerConfig, source_size: int) -> None:
        super().__init__()
        self.attention = _HeadAttention(config, source_size)
        self.output = _Residual(config.hidden_size, config.hidden_size, config.layer_norm_eps)

    def forward(self, x: torch.Tensor, source: torch.Tensor, source_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.output(self.attention(x, source, source_mask), x)


class _Intermediate(nn.Module):
    def __init__(self, config: ResamplerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class _Layer(nn.Module):
    def __init__(self, config: ResamplerConfig, index: int) -> None:
        super().__init__()
        self.attention = _AttentionBlock(config, config.hidden_size)
        self.has_cross_attention = index % config.cross_attention_frequency == 0
        if self.has_cross_attention:
            self.crossattention = _AttentionBlock(config, config.encoder_hidden_size)
        self.intermediate_query = _Intermediate(config)
        self.output_query = _Residual(config.intermediate_size, config.hidden_size, config.layer_norm_eps)

    def forward(self, x: torch.Tensor, encoder: torch.Tensor, encoder_mask: torch.Tensor | None) -> torch.Tensor:
        x = self.attention(x, x)
        if self.has_cross_attention:
            x = self.crossattention(x, encoder, encoder_mask)
        return self.output_query(self.intermediate_query(x), x)


class _Encoder(nn.Module):
    def __init__(self, config: ResamplerConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(config, i) for i in range(config.num_layers))


class _QFormer(nn.Module):
    def __init__(self, config: ResamplerConfig) -> None:
        super().__init__()
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder = _Encoder(config)


class PerceiverResampler(nn.Module):
    def __init__(self, config: ResamplerConfig) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.zeros(1, config.num_queries, config.hidden_size))
        self.blip2qformer = _QFormer(config)

    def forward(self, encoder_states: torch.Tensor, encoder_mask: torch.Tensor | None = None) -> torch.Tensor:
        """encoder_states [B, S, C_enc]; encoder_mask [B, S] (1 = attend) -> [B, queries, hidden]."""
        x = self.blip2qformer.layernorm(self.queries.expand(encoder_states.shape[0], -1, -1))
        for layer in self.blip2qformer.encoder.layer:
            x = layer(x, encoder_states, encoder_mask)
        return x
