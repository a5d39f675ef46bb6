"""Plain LoRA on a linear layer, laid out the way ``peft`` stores it.

The release wraps the CLIP ViT with ``peft``; its checkpoint therefore keys the low-rank factors
as ``<layer>.lora_A.default.weight`` and ``<layer>.lora_B.default.weight``. This module keeps that
layout without depending on ``peft`` at run time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ADAPTER_NAME = "default"


class LoRALinear(nn.Linear):
    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.scaling = alpha / rank
        self.lora_A = nn.ModuleDict({ADAPTER_NAME: nn.Linear(in_features, rank, bias=False)})
        self.lora_B = nn.ModuleDict({ADAPTER_NAME: nn.Linear(rank, out_features, bias=False)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low_rank = self.lora_B[ADAPTER_NAME](self.lora_A[ADAPTER_NAME](x))
        return F.linear(x, self.weight, self.bias) + low_rank * self.scaling
