"""Sampling images from the image decoder: the release's DDPM loop with SD2-base's schedule,
classifier-free guidance against the learned negative context, VAE decoding in float32.

The loop and its scheduler live here, apart from the modules whose weights they drive (as
diffusers keeps its pipelines apart from its models): a sampler can change its settings or its
scheduler without touching a module, and a module's forward stays one step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from diffusers import DDPMScheduler
from diffusers.utils.torch_utils import randn_tensor

from .image_decoder import ControlFeatures, ImageDecoder


@dataclass(frozen=True)
class ImageSampling:
    """The release's image sampling settings."""

    guidance_scale: float = 7.5
    num_inference_steps: int = 30
    #: Image ``i`` of a request is sampled with seed ``base_seed + i``.
    base_seed: int = 42

    @property
    def guided(self) -> bool:
        return self.guidance_scale > 1.0

    def describe(self) -> dict[str, object]:
        return {
            "scheduler": "DDPM (SD2-base schedule)",
            "guidance_scale": self.guidance_scale,
            "num_inference_steps": self.num_inference_steps,
            "base_seed": self.base_seed,
        }


@dataclass(frozen=True)
class _Condition:
    """What every denoising step reads: the UNet's context and the control branch's inputs,
    with the unconditional half first when guided."""

    context: torch.Tensor
    values: list[torch.Tensor]
    control: ControlFeatures


@dataclass(frozen=True)
class ImageSampler:
    decoder: ImageDecoder
    settings: ImageSampling = field(default_factory=ImageSampling)

    def scheduler(self, device: torch.device) -> DDPMScheduler:
        scheduler = DDPMScheduler.from_config(self.decoder.config.scheduler)
        scheduler.set_timesteps(self.settings.num_inference_steps, device=device)
        return scheduler

    @torch.no_grad()
    def __call__(
        self, context: torch.Tensor, context_mask: torch.Tensor, control: ControlFeatures, seeds: Sequence[int]
    ) -> torch.Tensor:
        """context [B, L, C_llm] (reversed, projected, position-encoded LLM states); one seed per
        sample, each with its own generator so results do not depend on the batch.
        Returns images [B, 3, H, W] in [0, 1], float32."""
        condition = self._condition(context, context_mask, control)
        device = condition.context.device
        generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        scheduler = self.scheduler(device)
        latents = self._initial_latents(len(seeds), condition.context.dtype, device, generators) * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            noise = self._noise(scheduler, latents, t, condition)
            latents = scheduler.step(noise, t, latents, generator=generators).prev_sample
        return self.decoder.decoder.decode_latents(latents)

    def _condition(self, context: torch.Tensor, context_mask: torch.Tensor, control: ControlFeatures) -> _Condition:
        cond = self.decoder.perceiver_resampler(context, context_mask)
        values = self.decoder.decoder.mmfs_module.project(control)
        if not self.settings.guided:
            return _Condition(cond, values, control)
        negative = self.decoder.neg_prompt_embeds.to(cond.dtype).expand(cond.shape[0], -1, -1)
        doubled = ControlFeatures([torch.cat((m, m)) for m in control.maps], torch.cat((control.mask,) * 2))
        return _Condition(torch.cat((negative, cond)), [torch.cat((v, v)) for v in values], doubled)

    def _initial_latents(
        self, batch: int, dtype: torch.dtype, device: torch.device, generators: list[torch.Generator]
    ) -> torch.Tensor:
        diffusion = self.decoder.decoder
        side = self.decoder.config.image_size // diffusion.vae_scale_factor()
        shape = (batch, diffusion.unet.config.in_channels, side, side)
        return randn_tensor(shape, generator=generators, device=device, dtype=dtype)

    def _noise(self, scheduler: DDPMScheduler, latents: torch.Tensor, t: torch.Tensor, condition: _Condition) -> torch.Tensor:
        """The (guided) noise prediction at step ``t``."""
        guided = self.settings.guided
        model_input = torch.cat((latents, latents)) if guided else latents
        model_input = scheduler.scale_model_input(model_input, t)
        noise = self.decoder.decoder.denoise(model_input, t, condition.context, condition.values, condition.control)
        if not guided:
            return noise
        unconditional, conditional = noise.chunk(2)
        return unconditional + self.settings.guidance_scale * (conditional - unconditional)
