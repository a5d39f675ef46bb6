"""TextMonkey's token resampler: keep the ``r`` window features least similar to any later one,
then let them attend once to all the window features (in a narrower width) and add the result.

Names are those of the release's ``text_monkey/resampler.py`` (``PerceiverResampler`` with one
``PerceiverAttention`` and one ``FeedForward`` in ``layers.0``). What it computes:
``select_distinct`` is its ``self_soft_matching`` — each token's highest cosine similarity to a
*later* token (earlier ones and itself are pushed down by 2), the ``r`` lowest kept in their
original order. The attention's keys and values are the normed features followed by the normed
kept tokens; its output is not added to its input but fed to the feed-forward, whose output
(in the LLM's width, scaled) is added to the kept tokens. LayerNorms use eps 1e-5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def select_distinct(features: torch.Tensor, keep: int) -> torch.Tensor:
    """(B, T, C) -> (B, keep, C)."""
    count = features.shape[1]
    if keep > count:
        raise ValueError(f"the token resampler keeps r={keep} tokens of {count}; r must not exceed the windows' tokens")
    unit = features / features.norm(dim=-1, keepdim=True)
    scores = unit @ unit.transpose(-1, -2)
    scores = scores - 2 * torch.ones(count, count, device=features.device).tril()
    nearest = scores.max(dim=-1).values
    kept = nearest.argsort(dim=-1, descending=True)[:, count - keep:].sort(dim=-1).values
    return features.gather(1, kept[..., None].expand(-1, -1, features.shape[-1]))


class PerceiverAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        inner = heads * dim_head
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, media: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        media, latents = self.norm_media(media), self.norm_latents(latents)
        batch = media.shape[0]
        q = self.to_q(latents)
        k, v = self.to_kv(torch.cat([media, latents], dim=1)).chunk(2, dim=-1)
        q, k, v = (t.view(batch, t.shape[1], self.heads, -1).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).flatten(2))


class FeedForward(nn.Module):
    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim, bias=False)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(dim, out_dim, bias=False)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.fc2(self.act(self.fc1(self.norm(x))))


class TokenResampler(nn.Module):
    def __init__(self, dim: int, out_dim: int, heads: int, dim_head: int, keep: int) -> None:
        super().__init__()
        self.keep = keep
        self.downsample = nn.Linear(out_dim, dim, bias=False)
        self.layers = nn.ModuleList([nn.ModuleList([PerceiverAttention(dim, heads, dim_head), FeedForward(dim, out_dim)])])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, out_dim) -> (B, keep, out_dim)."""
        latents = select_distinct(features, self.keep)
        media, narrow = self.downsample(features), self.downsample(latents)
        for attention, feed_forward in self.layers:
            narrow = attention(media, narrow)
            latents = feed_forward(narrow) + latents
        return latents
