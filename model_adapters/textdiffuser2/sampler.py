"""TextDiffuser-2's image model: SD1.5's VAE and scheduler with the fine-tuned UNet and text
encoder, sampled as the release's script samples it.

DDPM (the SD1.5 scheduler config read as a ``DDPMScheduler``) over ``steps`` steps; at each
step the UNet runs once on the prompt's states and once on the all-pad prompt's, and the two
predictions are mixed with ``guidance_scale``. All random draws of a request (the starting
latents of its N images, in one tensor, then each step's variance noise) come from one CPU
generator seeded with the request's seed: the release's draws after ``torch.manual_seed(seed)``
on a CPU, and the same values on any device. Latents and the scheduler's arithmetic stay in
float32; the networks run in the chosen dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

#: The VAE's downsampling factor in SD1.5.
LATENT_FACTOR = 8


@dataclass(frozen=True)
class SamplingSettings:
    steps: int = 20
    guidance_scale: float = 7.5
    size: int = 512


@dataclass(frozen=True)
class ImageModel:
    text_encoder: Any
    unet: Any
    vae: Any
    scheduler_config: Any
    device: Any
    dtype: Any

    @classmethod
    def load(cls, model: Path, base: Path, device: Any, dtype: Any) -> "ImageModel":
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel

        text_encoder = CLIPTextModel.from_pretrained(model, subfolder="text_encoder", local_files_only=True, dtype=dtype)
        unet = UNet2DConditionModel.from_pretrained(model, subfolder="unet", local_files_only=True, torch_dtype=dtype)
        vae = AutoencoderKL.from_pretrained(base, subfolder="vae", local_files_only=True, torch_dtype=dtype)
        scheduler_config = DDPMScheduler.load_config(base, subfolder="scheduler", local_files_only=True)
        modules = [module.to(device).eval() for module in (text_encoder, unet, vae)]
        return cls(*modules, scheduler_config, device, dtype)

    @property
    def vocabulary_size(self) -> int:
        return int(self.text_encoder.config.vocab_size)

    def encode(self, ids: Sequence[Sequence[int]]) -> Any:
        """The text encoder's last hidden states (after its final norm) for rows of ids."""
        import torch

        with torch.no_grad():
            return self.text_encoder(torch.tensor(ids, dtype=torch.long, device=self.device))[0]

    def predict_noise(self, latents: Any, timestep: Any, states: Any) -> Any:
        """One UNet call, in float32 out."""
        import torch

        with torch.no_grad():
            return self.unet(sample=latents.to(self.dtype), timestep=timestep, encoder_hidden_states=states.to(self.dtype)).sample.float()

    def sample_latents(self, prompt_ids: Sequence[int], unconditional_ids: Sequence[int], count: int, seed: int,
                       settings: SamplingSettings) -> Any:
        """``count`` images' final latents for one prompt."""
        condition = self.encode([list(prompt_ids)] * count)
        unconditional = self.encode([list(unconditional_ids)] * count)
        return self.denoise(condition, unconditional, seed, settings)

    def denoise(self, condition: Any, unconditional: Any, seed: int, settings: SamplingSettings) -> Any:
        """The sampling loop from the text encoder's states, one row per image."""
        import torch
        from diffusers import DDPMScheduler
        from diffusers.utils.torch_utils import randn_tensor

        scheduler = DDPMScheduler.from_config(self.scheduler_config)
        scheduler.set_timesteps(settings.steps)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        side = settings.size // LATENT_FACTOR
        shape = (condition.shape[0], self.unet.config.in_channels, side, side)
        latents = randn_tensor(shape, generator=generator, device=self.device, dtype=torch.float32)
        for timestep in scheduler.timesteps:
            with_text = self.predict_noise(latents, timestep, condition)
            without_text = self.predict_noise(latents, timestep, unconditional)
            guided = without_text + settings.guidance_scale * (with_text - without_text)
            latents = scheduler.step(guided, timestep, latents, generator=generator).prev_sample
        return latents

    def decode(self, latents: Any) -> Any:
        """Images in [-1, 1], float32, (N, 3, H, W)."""
        import torch

        with torch.no_grad():
            scaled = (latents / self.vae.config.scaling_factor).to(self.dtype)
            return self.vae.decode(scaled, return_dict=False)[0].float()


def to_pil(decoded: Any) -> list[Image.Image]:
    """The release's conversion: (x / 2 + 0.5) clamped to [0, 1], times 255, rounded."""
    pixels = ((decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype("uint8")
    return [Image.fromarray(image).convert("RGB") for image in pixels]
