"""Batched greedy decoding for DocOwl 1.5 with the KV cache: the prompt and its crops run once,
then each step feeds one token per row.

As ``DocOwlInfer.inference`` asks of ``generate``: greedy, stop at ``</s>`` (the end token and
the stopping criterion's keyword are the same id), ``max_new_tokens``. Rows are left-padded to
the longest prompt; each row's positions count its own tokens, so a row decodes as it would
alone. Rows that ended are fed the end token until all have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn

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
class Generation:
    #: Per row, the new tokens, the end token included when it came.
    tokens: list[list[int]]
    #: Per row, the logits of each step, when asked for.
    scores: list[list[torch.Tensor]] = field(default_factory=list)


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
    device = batch.embeds.device
    config = model.config
    cache = KVCache.empty(config.num_hidden_layers, rows, config.num_attention_heads, width + max_new_tokens, config.head_dim,
                          device, batch.embeds.dtype)
    hidden = model.model(batch.embeds, batch.positions, batch.valid, batch.visual, cache)
    positions = batch.positions[:, -1:]
    result = Generation(tokens=[[] for _ in range(rows)], scores=[[] for _ in range(rows)] if keep_scores else [])
    running = torch.ones(rows, dtype=torch.bool, device=device)
    for step in range(max_new_tokens):
        logits = model.lm_head(hidden[:, -1]).float()
        if keep_scores:
            for row in range(rows):
                result.scores[row].append(logits[row].detach().to("cpu", copy=True))
        chosen = torch.where(running, logits.argmax(-1), torch.full_like(running, end_id, dtype=torch.long))
        for row, token in enumerate(chosen.tolist()):
            if running[row]:
                result.tokens[row].append(token)
        running = running & (chosen != end_id)
        if not running.any() or step == max_new_tokens - 1:
            break
        positions = positions + 1
        embeds = model.model.embed_tokens(chosen[:, None])
        hidden = model.model(embeds, positions, torch.ones_like(positions, dtype=torch.bool), None, cache)
    return result
