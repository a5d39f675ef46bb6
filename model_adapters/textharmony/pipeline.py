"""TextHarmony's three uses, on batches: answering about images, generating and editing images.

The pipeline owns the choices that are not weights: the tokenizer, the Slide-LoRA gate
policy, the text decoding profile and the image sampling settings; ``describe`` reports them
for a run manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from PIL import Image

from .gate_modes import gate_policy
from .generation import GREEDY, TextGenerationProfile, beam_decode, greedy_decode
from .image_sampling import ImageSampler, ImageSampling
from .images import apply_mask, blank_input, to_model_input, to_pil
from .model import TextHarmonyModel
from .prompts import Segment, edit_prompt, encode_prompts, generation_prompt
from .slide_lora import GatePolicy
from .tokenizer import TextTokenizer


@dataclass
class TextHarmonyPipeline:
    model: TextHarmonyModel
    tokenizer: TextTokenizer
    #: Defaults to the release's prompt-routed gate over the model's experts (none for a model
    #: without Slide-LoRA).
    gate: GatePolicy | None = None
    text_profile: TextGenerationProfile = GREEDY
    image_settings: ImageSampling = field(default_factory=ImageSampling)

    def __post_init__(self) -> None:
        if self.gate is None:
            self.gate = gate_policy("routed", self.model.config.slide_lora)

    @property
    def image_size(self) -> int:
        return self.model.config.vision.image_size

    def describe(self) -> dict[str, Any]:
        return {
            "config": self.model.config.name,
            "dtype": str(self.model.dtype).replace("torch.", ""),
            "device": str(self.model.device),
            "slide_lora_gate": self.gate.describe(),
            "text_generation": self.text_profile.describe(),
            "image_sampling": self.image_settings.describe(),
        }

    def image_input(self, image: Image.Image) -> torch.Tensor:
        return to_model_input(image, self.image_size)

    @torch.no_grad()
    def _prefill(self, prompts: Sequence[Sequence[Segment]]):
        config = self.model.config
        batch = encode_prompts(prompts, self.tokenizer, config.tokens, config.num_image_tokens)
        embeds = self.model.mm_decoder.embed_tokens(batch.input_ids.to(self.model.device))
        weights = self.gate.expert_weights(batch.texts, embeds, batch.attention_mask.to(self.model.device))
        hidden, state, features = self.model.prefill(
            batch.input_ids, batch.attention_mask, batch.images, batch.images_per_row, weights
        )
        return batch, hidden, state, features

    @torch.no_grad()
    def answer(self, prompts: Sequence[Sequence[Segment]], max_new_tokens: int | None = None) -> list[str]:
        """Text for each interleaved prompt (text pieces and image tensors from ``image_input``)."""
        profile = self.text_profile
        if max_new_tokens is not None:
            profile = profile.with_max_new_tokens(max_new_tokens)
        _, hidden, state, _ = self._prefill(prompts)
        logits = self.model.text_decoder(hidden[:, -1])
        tokens = self.model.config.tokens
        stops = [tokens.eos, tokens.begin_of_image]
        if profile.num_beams > 1:
            ids = beam_decode(self.model.decode_step, logits, state, profile, stops, tokens.bos)
        else:
            ids = greedy_decode(self.model.decode_step, logits, state, profile.max_new_tokens, stops, tokens.pad)
        return [self.tokenizer.decode(row).strip() for row in ids]

    @torch.no_grad()
    def _images_for(self, prompts: Sequence[Sequence[Segment]], seeds: Sequence[Sequence[int]]) -> list[list[Image.Image]]:
        """Runs the LLM once per prompt, then samples one image per seed."""
        batch, hidden, _, features = self._prefill(prompts)
        context, context_mask = self.model.image_condition(hidden, batch.attention_mask.to(hidden.device))
        control = self.model.control_features(features, batch.images_per_row, len(prompts))
        rows = torch.tensor([i for i, s in enumerate(seeds) for _ in s], device=hidden.device)
        control.maps = [m.index_select(0, rows) for m in control.maps]
        control.mask = control.mask.index_select(0, rows)
        flat_seeds = [seed for row in seeds for seed in row]
        sampler = ImageSampler(self.model.image_decoder, self.image_settings)
        images = sampler(context.index_select(0, rows), context_mask.index_select(0, rows), control, flat_seeds)
        pils = [to_pil(image) for image in images]
        out, start = [], 0
        for row in seeds:
            out.append(pils[start : start + len(row)])
            start += len(row)
        return out

    def release_seeds(self, count: int) -> list[int]:
        """The release samples image ``i`` of every prompt with seed ``base_seed + i`` (42 + i)."""
        return [self.image_settings.base_seed + i for i in range(count)]

    def generate_images(self, captions: Sequence[str], seeds: Sequence[Sequence[int]]) -> list[list[Image.Image]]:
        """One image per seed for each caption, with the release's text-to-image prompt."""
        blank = blank_input(self.image_size)
        return self._images_for([generation_prompt(caption, blank) for caption in captions], seeds)

    def edit_images(
        self,
        images: Sequence[Image.Image],
        masks: Sequence[Image.Image],
        texts: Sequence[str],
        seeds: Sequence[Sequence[int]],
    ) -> list[list[Image.Image]]:
        """``masks`` are white where the text is to be replaced; that region is painted black."""
        prompts = [
            edit_prompt(text, self.image_input(apply_mask(image, mask)))
            for image, mask, text in zip(images, masks, texts)
        ]
        return self._images_for(prompts, seeds)
