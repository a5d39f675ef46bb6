"""A preallocated key/value cache for decoders that run left-padded batches, shared by the
native LLM implementations.

Each row of a batch is left-padded to the longest prompt; ``valid`` marks the real positions,
so attention never reads padding and a row computes what it would alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn


@dataclass
class KVCache:
    """Keys and values of every layer, (B, kv_heads, capacity, head_dim), filled up to
    ``length``; ``valid`` (B, capacity) marks the real (non-padding) positions."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    valid: torch.Tensor
    length: int = 0

    @classmethod
    def empty(cls, layers: int, batch: int, heads: int, capacity: int, head_dim: int, device: torch.device,
              dtype: torch.dtype) -> "KVCache":
        shape = (batch, heads, capacity, head_dim)
        return cls(
            keys=[torch.zeros(shape, device=device, dtype=dtype) for _ in range(layers)],
            values=[torch.zeros(shape, device=device, dtype=dtype) for _ in range(layers)],
            valid=torch.zeros(batch, capacity, dtype=torch.bool, device=device),
        )

    def extend(self, valid: torch.Tensor) -> torch.Tensor:
        """Marks the ``valid`` (B, T) of the next T positions and returns their attention
        mask (B, 1, T, length + T): causal over real positions; a padding query also sees
        itself (its output is never read) so that no row of the mask is empty."""
        new = valid.shape[1]
        total = self.length + new
        self.valid[:, self.length:total] = valid
        queries = torch.arange(self.length, total, device=self.valid.device)
        keys = torch.arange(total, device=self.valid.device)
        allowed = (keys[None, :] <= queries[:, None])[None] & self.valid[:, None, :total]
        return (allowed | (keys[None, None, :] == queries[None, :, None]))[:, None]

    def store(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Writes the new positions' ``keys`` and ``values`` (B, kv_heads, T, head_dim) after
        ``length`` and returns everything the layer holds up to them."""
        end = self.length + keys.shape[2]
        self.keys[layer][:, :, self.length:end] = keys
        self.values[layer][:, :, self.length:end] = values
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


def run_layers(layers: Iterable[nn.Module], embeds: torch.Tensor, valid: torch.Tensor, cache: KVCache, *context: object) -> torch.Tensor:
    """Runs ``embeds`` (B, T, H) through ``layers`` after what ``cache`` holds, each called as
    ``layer(x, *context, cache, index, mask)`` so that it stores its keys and values, and
    advances the cache by T; ``valid`` (B, T) marks real tokens."""
    mask = cache.extend(valid)
    x = embeds
    for index, layer in enumerate(layers):
        x = layer(x, *context, cache, index, mask)
    cache.length += embeds.shape[1]
    return x
