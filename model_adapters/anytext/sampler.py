"""AnyText's sampling: the release's DDIM sampler (``cldm/ddim_hacked.py``, eta 0) over its
noise schedule, with classifier-free guidance between the prompt and the negative prompt.

Timesteps are ``range(0, T, T // steps) + 1``, run from the last; each step uses the schedule's
``alphas_cumprod`` (float32, as the checkpoint stores it) at that timestep and at the previous
one (``alphas_cumprod[0]`` for the first). The random draws of one call come from one CPU
generator seeded with the call's seed, in the release's order on a CPU: the masked image's VAE
posterior sample, then the starting latents of all N images in one tensor; the release also
draws zero-weighted step noise after that, which changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch


@dataclass(frozen=True)
class Schedule:
    alphas_cumprod: torch.Tensor

    @classmethod
    def from_checkpoint(cls, state: Mapping[str, torch.Tensor], params: Mapping[str, Any]) -> "Schedule":
        """The checkpoint's ``alphas_cumprod`` buffer, else the linear schedule of the config."""
        if "alphas_cumprod" in state:
            return cls(state["alphas_cumprod"].float())
        timesteps = int(params.get("timesteps", 1000))
        start, end = float(params.get("linear_start", 0.00085)), float(params.get("linear_end", 0.012))
        betas = np.linspace(start**0.5, end**0.5, timesteps, dtype=np.float64) ** 2
        return cls(torch.from_numpy(np.cumprod(1.0 - betas)).float())

    @property
    def length(self) -> int:
        return int(self.alphas_cumprod.shape[0])

    def ddim_timesteps(self, steps: int) -> list[int]:
        if not 0 < steps <= self.length:
            raise ValueError(f"steps must be between 1 and {self.length}, got {steps}")
        return [int(t) + 1 for t in range(0, self.length, self.length // steps)]


@dataclass(frozen=True)
class Conditions:
    """Everything one image's denoising reads, batched over the N images."""

    context: torch.Tensor
    negative_context: torch.Tensor
    glyphs: torch.Tensor
    positions: torch.Tensor
    masked_latents: torch.Tensor


def ddim_sample(networks: Any, schedule: Schedule, conditions: Conditions, initial: torch.Tensor, steps: int,
                guidance_scale: float, control_scale: float = 1.0) -> torch.Tensor:
    """Final latents from ``initial`` noise (float32 arithmetic, networks in their dtype)."""
    timesteps = schedule.ddim_timesteps(steps)
    alphas = schedule.alphas_cumprod
    previous = [alphas[0]] + [alphas[t] for t in timesteps[:-1]]
    latents = initial.float()
    dtype = next(networks.unet.parameters()).dtype
    inputs = [conditions.glyphs, conditions.positions, conditions.masked_latents]
    inputs = [tensor.to(dtype) for tensor in inputs]
    for index in reversed(range(len(timesteps))):
        t = torch.full((latents.shape[0],), timesteps[index], dtype=torch.long, device=latents.device)
        with_text = networks.noise(latents.to(dtype), t, conditions.context.to(dtype), *inputs, control_scale).float()
        without = networks.noise(latents.to(dtype), t, conditions.negative_context.to(dtype), *inputs, control_scale).float()
        eps = without + guidance_scale * (with_text - without)
        a_t = alphas[timesteps[index]].to(latents.device)
        a_prev = previous[index].to(latents.device)
        sqrt_one_minus = torch.sqrt(1.0 - a_t)
        predicted = (latents - sqrt_one_minus * eps) / a_t.sqrt()
        latents = a_prev.sqrt() * predicted + (1.0 - a_prev).sqrt() * eps
    return latents


def to_uint8(decoded: torch.Tensor) -> np.ndarray:
    """The release's conversion: ``x * 127.5 + 127.5`` clipped to 0..255 and truncated, (N, H, W, 3)."""
    return (decoded.float().permute(0, 2, 3, 1) * 127.5 + 127.5).cpu().numpy().clip(0, 255).astype(np.uint8)
