"""The assembled TextHarmony model and the tensor plumbing between its parts.

A prompt is one token sequence in which every image appears as ``<|beginofimage|>`` followed by
``num_image_tokens`` ``<|image|>`` placeholders. The placeholders' embeddings are replaced by the
image's perceiver tokens, and a learned vector is added to every ``<|beginofimage|>``. A token
may cross-attend to an image when the image starts after the token's nearest preceding BOS and
not after the token itself.

For image generation the prompt ends with a ``<|beginofimage|>`` that has no image yet: the
LLM's states from the first real token up to it, in reverse order, condition the image decoder,
and the image just before it feeds the decoder's control branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from .config import TextHarmonyConfig
from .image_decoder import ControlFeatures, ImageDecoder
from .llm import KVCache, MultimodalDecoder, TextHead, VisionContext
from .plain_vit import visual_tokenizer
from .positional import sincos_1d


@dataclass
class LMState:
    """What decoding steps need after the prompt has been run (one row per sequence)."""

    cache: KVCache
    key_padding: torch.Tensor
    expert_weights: torch.Tensor
    vision: VisionContext

    def select(self, rows: torch.Tensor) -> "LMState":
        return LMState(
            [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in self.cache],
            self.key_padding.index_select(0, rows),
            self.expert_weights.index_select(0, rows),
            self.vision.select(rows),
        )


class TextHarmonyModel(nn.Module):
    def __init__(self, config: TextHarmonyConfig) -> None:
        super().__init__()
        self.config = config
        hidden, vision_size = config.llm.hidden_size, config.vision.hidden_size
        self.soi_token = nn.Parameter(torch.zeros(1, hidden))
        self.visual_tokenizer = visual_tokenizer(config.vision, config.vision_resampler, hidden)
        self.mm_decoder = MultimodalDecoder(config.llm, config.slide_lora, vision_size)
        self.text_decoder = TextHead(config.llm)
        self.image_decoder = ImageDecoder(config.image_decoder, config.image_resampler, vision_size)
        self.context_feat_proj = nn.Linear(hidden, hidden)

    @property
    def dtype(self) -> torch.dtype:
        return self.soi_token.dtype

    @property
    def device(self) -> torch.device:
        return self.soi_token.device

    def encode_images(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """images [N, 3, S, S] in [0, 1] -> (tokens [N, Q, C], four NCHW feature maps)."""
        return self.visual_tokenizer(images.to(self.device))

    def embed(self, input_ids: torch.Tensor, image_tokens: torch.Tensor | None) -> torch.Tensor:
        tokens = self.config.tokens
        embeds = self.mm_decoder.embed_tokens(input_ids)
        placeholders = input_ids == tokens.image
        if image_tokens is not None:
            embeds = embeds.masked_scatter(placeholders[..., None], image_tokens.to(embeds.dtype))
        elif bool(placeholders.any()):
            raise ValueError("the prompt has image placeholders but no images were given")
        soi = (input_ids == tokens.begin_of_image)[..., None]
        return embeds + soi * self.soi_token.to(embeds.dtype)

    def image_visibility(self, input_ids: torch.Tensor, images_per_row: Sequence[int]) -> torch.Tensor:
        """[B, T, max images] true where token t may see image i of its row."""
        tokens = self.config.tokens
        batch, length = input_ids.shape
        slots = max(max(images_per_row, default=0), 1)
        starts = torch.full((batch, slots), -1, dtype=torch.long, device=input_ids.device)
        for row, count in enumerate(images_per_row):
            soi = (input_ids[row] == tokens.begin_of_image).nonzero().flatten()[:count]
            starts[row, : len(soi)] = soi + 1
        positions = torch.arange(length, device=input_ids.device)
        bos_positions = torch.where(input_ids == tokens.bos, positions, torch.full_like(positions, -1))
        nearest_bos = bos_positions.cummax(dim=1).values
        after_bos = starts[:, None, :] > nearest_bos[:, :, None]
        started = starts[:, None, :] <= positions[None, :, None]
        return after_bos & started & (starts[:, None, :] >= 0)

    def vision_context(
        self, input_ids: torch.Tensor, features: Sequence[torch.Tensor] | None, images_per_row: Sequence[int]
    ) -> VisionContext:
        """Per-row image features at the LLM's levels, padded to the row with most images."""
        batch = input_ids.shape[0]
        levels = self.config.llm.feature_levels
        visibility = self.image_visibility(input_ids, images_per_row)
        if not features:
            # No image anywhere: one masked slot, so every token attends to the ignore token.
            width = self.config.vision.hidden_size
            blank = torch.zeros(batch, 1, len(levels), width, device=input_ids.device, dtype=self.dtype)
            return VisionContext(blank, [(1, 1)] * len(levels), visibility)
        chosen = [f for f in features if f.shape[-1] in levels]
        shapes = [(f.shape[-2], f.shape[-1]) for f in chosen]
        flat = torch.cat([f.flatten(2).transpose(1, 2) for f in chosen], dim=1)  # [N, S, C]
        padded = flat.new_zeros(batch, visibility.shape[-1], *flat.shape[1:])
        start = 0
        for row, count in enumerate(images_per_row):
            padded[row, :count] = flat[start : start + count]
            start += count
        return VisionContext(padded, shapes, visibility)

    def prefill(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        images: torch.Tensor | None,
        images_per_row: Sequence[int],
        expert_weights: torch.Tensor,
    ) -> tuple[torch.Tensor, LMState, list[torch.Tensor] | None]:
        """Run the prompt. Returns final hidden states [B, T, C], the decoding state and the
        images' multi-scale features (for the image decoder)."""
        input_ids = input_ids.to(self.device)
        attention_mask = attention_mask.to(self.device)
        image_tokens, features = (None, None)
        if images is not None and images.shape[0] > 0:
            image_tokens, features = self.encode_images(images)
        embeds = self.embed(input_ids, image_tokens)
        vision = self.vision_context(input_ids, features, images_per_row)
        weights = expert_weights.to(device=self.device, dtype=self.dtype)
        hidden, cache = self.mm_decoder(embeds, attention_mask, weights, vision)
        return hidden, LMState(cache, attention_mask, weights, vision.for_step()), features

    def decode_step(self, tokens: torch.Tensor, state: LMState) -> tuple[torch.Tensor, LMState]:
        """One new token per row -> logits [B, V] for the token after it."""
        embeds = self.mm_decoder.embed_tokens(tokens[:, None])
        key_padding = torch.cat((state.key_padding, torch.ones_like(state.key_padding[:, :1])), dim=1)
        hidden, cache = self.mm_decoder(embeds, key_padding, state.expert_weights, state.vision, state.cache)
        logits = self.text_decoder(hidden[:, -1])
        return logits, LMState(cache, key_padding, state.expert_weights, state.vision)

    def image_condition(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Context for the image decoder from prompts ending at ``<|beginofimage|>`` (left padded).

        Returns [B, L, C] (newest state first, projected, plus a sin-cos table) and its mask."""
        lengths = attention_mask.long().sum(1)
        longest = int(lengths.max())
        context = hidden.new_zeros(hidden.shape[0], longest, hidden.shape[-1])
        mask = torch.zeros(hidden.shape[0], longest, dtype=torch.long, device=hidden.device)
        for row, count in enumerate(lengths.tolist()):
            context[row, :count] = hidden[row, hidden.shape[1] - count :].flip(0)
            mask[row, :count] = 1
        table = sincos_1d(hidden.shape[-1], torch.arange(longest, device=hidden.device)).to(hidden.dtype)
        return self.context_feat_proj(context) + table, mask

    def control_features(
        self, features: Sequence[torch.Tensor] | None, images_per_row: Sequence[int], batch: int
    ) -> ControlFeatures:
        """The last image of each row (the one before the image to generate), if any."""
        mask = torch.zeros(batch, 1, dtype=torch.long, device=self.device)
        if not features:
            side = self.config.vision.grid
            width = self.config.vision.hidden_size
            sizes = [4 * side, 2 * side, side, side // 2]
            maps = [torch.zeros(batch, 1, width, s, s, device=self.device, dtype=self.dtype) for s in sizes]
            return ControlFeatures(maps, mask)
        last = torch.tensor([max(sum(images_per_row[: r + 1]) - 1, 0) for r in range(batch)], device=self.device)
        for row, count in enumerate(images_per_row):
            mask[row, 0] = 1 if count > 0 else 0
        maps = [f.index_select(0, last)[:, None] * mask[:, :, None, None, None].to(f.dtype) for f in features]
        return ControlFeatures(maps, mask)
