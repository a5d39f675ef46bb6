"""The vision side of a model whose ViT carries no LoRA (MM-Interleaved).

Without LoRA nothing wrapped the ViT with ``peft``, so its keys read
``visual_tokenizer.encoder.vision_model...`` and its q/k/v are plain linear layers. The ViT is
built by the same code as TextHarmony's and then unwrapped, so that both stay one
implementation: the plain projections keep the base weights of the layers they replace.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from .config import ResamplerConfig, VisionConfig
from .lora import LoRALinear
from .vision import VisualTokenizer, ViTAdapter


class PlainViT(nn.Module):
    """Holds the ViT-Adapter at ``vision_model``."""

    def __init__(self, vision_model: ViTAdapter) -> None:
        super().__init__()
        self.vision_model = vision_model

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.vision_model(pixels)


def without_lora(module: nn.Module) -> nn.Module:
    """Every ``LoRALinear`` below ``module`` replaced, in place, by an ``nn.Linear`` sharing its
    weight and bias (child order, hence key order, is kept)."""
    for name, child in list(module.named_children()):
        if isinstance(child, LoRALinear):
            plain = nn.Linear(child.in_features, child.out_features, bias=child.bias is not None, device="meta")
            plain.weight = child.weight
            plain.bias = child.bias
            setattr(module, name, plain)
        else:
            without_lora(child)
    return module


def visual_tokenizer(config: VisionConfig, resampler: ResamplerConfig, llm_hidden_size: int) -> VisualTokenizer:
    """TextHarmony's visual tokenizer, or with ``config.lora_rank == 0`` the same one with a
    plain, unwrapped ViT."""
    if config.lora_rank > 0:
        return VisualTokenizer(config, resampler, llm_hidden_size)
    # Built with a rank-1 LoRA that is dropped at once: the modules take a positive rank.
    tokenizer = VisualTokenizer(replace(config, lora_rank=1, lora_alpha=1), resampler, llm_hidden_size)
    tokenizer.encoder = PlainViT(without_lora(tokenizer.encoder.vision_model))
    return tokenizer
