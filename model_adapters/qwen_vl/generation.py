"""Batched greedy decoding for Monkey, with the KV cache: the prompt (and its images) runs
once, then each step feeds one token per row.

Rows are left-padded to the longest prompt. Each row's positions count its own tokens, and its
rotary NTK factor comes from its own prompt length, so a row decodes as it would alone. As the
release's evaluation asks of ``generate``: greedy, ``min_new_tokens`` during which the end
token is forbidden, and rows that ended are fed the end token until all have.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from model_adapters.common.greedy import Generation, decode_greedily
from model_adapters.common.kv_cache import KVCache
from model_adapters.qwen_vl.llm import ntk_alpha
from model_adapters.qwen_vl.model import MonkeyModel


@dataclass(frozen=True)
class Prompt:
    """Token ids with image spans (``<img>`` + pads + ``</img>``) and the images in order."""

    ids: tuple[int, ...]
    images: tuple[Image.Image, ...] = ()


class PromptBatch:
    """The prefill of a batch: padded ids, embeddings with image features in place."""

    def __init__(self, model: MonkeyModel, prompts: list[Prompt], image_start: int, pad_id: int) -> None:
        device = model.lm_head.weight.device
        width = max(len(p.ids) for p in prompts)
        self.lengths = [len(p.ids) for p in prompts]
        ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
        valid = torch.zeros((len(prompts), width), dtype=torch.bool)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt.ids):] = torch.tensor(prompt.ids, dtype=torch.long)
            valid[row, width - len(prompt.ids):] = True
        self.ids, self.valid = ids.to(device), valid.to(device)
        self.positions = (valid.long().cumsum(-1) - 1).clamp(min=0).to(device)
        embeds = model.transformer.wte(self.ids)
        images = [image for prompt in prompts for image in prompt.images]
        if images:
            features = model.image_features(images).to(embeds.dtype)
            starts = (self.ids == image_start).nonzero().tolist()  # row-major: the prompts' image order
            if len(starts) != len(images):
                raise ValueError(f"the prompts place {len(starts)} images but carry {len(images)}")
            span = model.image_token_span
            for (row, start), feature in zip(starts, features):
                embeds[row, start + 1:start + 1 + span] = feature
        self.embeds = embeds


@torch.inference_mode()
def greedy(model: MonkeyModel, prompts: list[Prompt], max_new_tokens: int, end_id: int, image_start: int,
           min_new_tokens: int | list[int] = 1, keep_scores: bool = False) -> Generation:
    """``min_new_tokens``: one for all rows, or one per row."""
    config = model.config
    batch = PromptBatch(model, prompts, image_start, pad_id=end_id)
    rows = len(prompts)
    alphas = [ntk_alpha(length, config.seq_length) if config.use_dynamic_ntk else 1.0 for length in batch.lengths]
    inverse_frequencies = model.transformer.positions.inverse_frequencies(alphas)
    cache = KVCache.empty(config.num_hidden_layers, rows, config.num_attention_heads, batch.ids.shape[1] + max_new_tokens,
                          config.head_dim, batch.ids.device, batch.embeds.dtype)
    hidden = model.transformer(batch.embeds, batch.positions, inverse_frequencies, batch.valid, cache)

    def feed(tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return model.transformer(model.transformer.wte(tokens), positions, inverse_frequencies,
                                 torch.ones_like(positions, dtype=torch.bool), cache)

    minimum = min_new_tokens if isinstance(min_new_tokens, list) else [min_new_tokens] * rows
    return decode_greedily(model.lm_head, feed, hidden, batch.positions[:, -1:], max_new_tokens, end_id, minimum, keep_scores)
