"""Slide-LoRA: a per-sample mixture of LoRA experts on the LLM's attention projections.

Every q/k/v/o projection carries ``num_experts`` low-rank experts stored as raw
``[experts, in, rank]`` / ``[experts, rank, out]`` tensors. A gate gives each sample one weight
per expert; the projection adds the gate-weighted sum of the experts' outputs.

How the gate is chosen is a policy, kept apart from the layers so that it can be swapped (the
release routes on the prompt; a learned gate can take its place) and described in a run manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .lora import ADAPTER_NAME


class SlideLoRALinear(nn.Linear):
    """Unlike plain LoRA, the experts' outputs are not multiplied by alpha / rank: the release's
    mixture layer records that factor but never applies it, whatever alpha and the rank are, and
    its checkpoints were trained that way."""

    def __init__(self, in_features: int, out_features: int, num_experts: int, rank: int) -> None:
        super().__init__(in_features, out_features, bias=False)
        self.lora_moe_A = nn.ParameterDict({ADAPTER_NAME: nn.Parameter(torch.zeros(num_experts, in_features, rank))})
        self.lora_moe_B = nn.ParameterDict({ADAPTER_NAME: nn.Parameter(torch.zeros(num_experts, rank, out_features))})

    def forward(self, x: torch.Tensor, expert_weights: torch.Tensor) -> torch.Tensor:
        """x [B, T, in]; expert_weights [B, experts]."""
        down = torch.einsum("btd,edr->bter", x, self.lora_moe_A[ADAPTER_NAME])
        down = down * expert_weights.to(down.dtype)[:, None, :, None]
        up = torch.einsum("bter,ero->bto", down, self.lora_moe_B[ADAPTER_NAME])
        return F.linear(x, self.weight) + up


class GatePolicy(Protocol):
    """Chooses each sample's expert weights before the LLM runs."""

    def expert_weights(
        self, prompts: Sequence[str], embeddings: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """prompts: the request texts; embeddings [B, T, C]; attention_mask [B, T] -> [B, experts]."""
        ...

    def describe(self) -> dict[str, Any]:
        ...


@dataclass(frozen=True)
class PromptRoutedGate:
    """The release's gate: a task is picked by phrases in the prompt (case-insensitive), and the
    sample weighs that task's experts and the shared experts equally.

    With three experts, one per task: image generation/editing -> [0.5, 0, 0.5], anything else
    -> [0, 0.5, 0.5]; the last expert group is shared.
    """

    num_experts: int = 3
    experts_per_task: int = 1
    routes: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("image_generation", ("Generate an image", "Fill the masked")),
        ("text", ("",)),
    )

    def task_index(self, prompt: str) -> int:
        lowered = prompt.lower()
        for index, (_, phrases) in enumerate(self.routes):
            if any(phrase.lower() in lowered for phrase in phrases):
                return index
        raise ValueError(f"no Slide-LoRA route matches the prompt {prompt!r}")

    def weights_for_task(self, task: int) -> torch.Tensor:
        weights = torch.zeros(self.num_experts)
        weights[task * self.experts_per_task : (task + 1) * self.experts_per_task] = 1.0
        weights[self.num_experts - self.experts_per_task :] = 1.0
        return weights / (2 * self.experts_per_task)

    def expert_weights(self, prompts, embeddings, attention_mask):
        rows = [self.weights_for_task(self.task_index(p)) for p in prompts]
        return torch.stack(rows).to(device=embeddings.device)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "prompt_routed",
            "routes": {name: list(phrases) for name, phrases in self.routes},
            "weights": {name: self.weights_for_task(i).tolist() for i, (name, _) in enumerate(self.routes)},
        }


@dataclass(frozen=True)
class FixedGate:
    """The same expert weights for every sample (ablations, or forcing one task's experts)."""

    weights: tuple[float, ...]

    def expert_weights(self, prompts, embeddings, attention_mask):
        row = torch.tensor(self.weights, device=embeddings.device)
        return row.expand(len(prompts), -1)

    def describe(self) -> dict[str, Any]:
        return {"kind": "fixed", "weights": list(self.weights)}


class LearnedGate(nn.Module):
    """A learned sample-level gate: softmax of the mean (over real tokens) of a linear map of the
    input embeddings. The release ships no weights for it; load ``w_gating`` to use one."""

    def __init__(self, hidden_size: int, num_experts: int) -> None:
        super().__init__()
        self.w_gating = nn.Parameter(torch.zeros(hidden_size, num_experts))

    def expert_weights(self, prompts, embeddings, attention_mask):
        logits = embeddings.float() @ self.w_gating.float()
        mask = attention_mask.to(logits.dtype)[..., None]
        pooled = (logits * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return pooled.softmax(-1)

    def describe(self) -> dict[str, Any]:
        return {"kind": "learned", "experts": self.w_gating.shape[1]}
