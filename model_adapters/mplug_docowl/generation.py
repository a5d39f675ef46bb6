"""Batched greedy decoding for DocOwl 1.5 with the KV cache: the prompt and its crops run once,
then each step feeds one token per row.

As ``DocOwlInfer.inference`` asks of ``generate``: greedy, stop at ``</s>`` (the end token and
the stopping criterion's keyword are the same id), ``max_new_tokens``. Rows are left-padded to
the longest prompt; each row's positions count its own tokens, so a row decodes as it would
alone. Rows that ended are fed the end token until all have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from model_adapters.common.greedy import Generation, decode_greedily
from model_adapters.common.kv_cache import KVCache
from model_adapters.mplug_docowl.images import Crops
from model_adapters.mplug_docowl.model import DocOwlModel

#: The release's ``IMAGE_TOKEN_INDEX``: the id ``tokenizer_image_token`` writes for a crop.
IMAGE_INDEX = -200


@dataclass(frozen=True)
class Prompt:
    """Ids with one ``IMAGE_INDEX`` per crop, and the crops of the prompt's images in order."""

    ids: tuple[int, ...]
    crops: tuple[Crops, ...] = ()


@dataclass
class PromptBatch:
    """A left-padded prefill: embeddings with the crops' features in place of their marks."""

    embeds: torch.Tensor
    positions: torch.Tensor
    valid: torch.Tensor
    #: Image positions, or ``None`` when no prompt has an image.
    visual: torch.Tensor | None


def _expand(prompt: Prompt, embed: nn.Embedding, features: Iterator[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    crops = sum(len(crops.pixels) for crops in prompt.crops)
    if prompt.ids.count(IMAGE_INDEX) != crops:
        raise ValueError(f"the prompt has {prompt.ids.count(IMAGE_INDEX)} image marks for {crops} crops")
    pieces: list[torch.Tensor] = []
    visual: list[bool] = []
    text: list[int] = []
    for token in prompt.ids + (None,):
        if token is not None and token != IMAGE_INDEX:
            text.append(token)
            continue
        if text:
            pieces.append(embed(torch.tensor(text, device=embed.weight.device)))
            visual += [False] * len(text)
            text = []
        if token == IMAGE_INDEX:
            pieces.append(next(features))
            visual += [True] * len(pieces[-1])
    return torch.cat(pieces), torch.tensor(visual)


def prepare(model: DocOwlModel, prompts: list[Prompt]) -> PromptBatch:
    embed = model.model.embed_tokens
    device = embed.weight.device
    pixels = [crops.pixels for prompt in prompts for crops in prompt.crops]
    features = iter(model.crop_features(torch.cat(pixels)) if pixels else ())
    rows = [_expand(prompt, embed, features) for prompt in prompts]
    width = max(len(row[0]) for row in rows)
    embeds = torch.zeros(len(rows), width, model.config.hidden_size, dtype=embed.weight.dtype, device=device)
    valid = torch.zeros(len(rows), width, dtype=torch.bool)
    visual = torch.zeros(len(rows), width, dtype=torch.bool)
    for row, (row_embeds, row_visual) in enumerate(rows):
        embeds[row, width - len(row_embeds):] = row_embeds.to(embeds.dtype)
        valid[row, width - len(row_embeds):] = True
        visual[row, width - len(row_visual):] = row_visual
    positions = (valid.long().cumsum(-1) - 1).clamp(min=0)
    return PromptBatch(embeds, positions.to(device), valid.to(device), visual.to(device) if pixels else None)


@torch.inference_mode()
def greedy(model: DocOwlModel, prompts: list[Prompt], max_new_tokens: int, end_id: int, keep_scores: bool = False) -> Generation:
    batch = prepare(model, prompts)
    rows, width = batch.valid.shape
    config = model.config
    cache = KVCache.empty(config.num_hidden_layers, rows, config.num_attention_heads, width + max_new_tokens, config.head_dim,
                          batch.embeds.device, batch.embeds.dtype)
    hidden = model.model(batch.embeds, batch.positions, batch.valid, batch.visual, cache)

    def feed(tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return model.model(model.model.embed_tokens(tokens), positions, torch.ones_like(positions, dtype=torch.bool), None, cache)

    return decode_greedily(model.lm_head, feed, hidden, batch.positions[:, -1:], max_new_tokens, end_id, keep_scores=keep_scores)
