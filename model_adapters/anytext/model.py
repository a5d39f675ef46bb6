"""AnyText loaded from its release files, and one sampling call as the release's ``process``
makes it (``eval/anytext_singleGPU.py``; the ModelScope pipeline's for editing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from model_adapters.anytext.checkpoint import ReleaseFiles, part, read_config, read_state
from model_adapters.anytext.networks import Networks, build_networks
from model_adapters.anytext.ocr import Recognizer
from model_adapters.anytext.requests import TextLines
from model_adapters.anytext.sampler import Conditions, Schedule, ddim_sample, to_uint8
from model_adapters.anytext.text import TextEncoder

LATENT_FACTOR = 8


@dataclass(frozen=True)
class Sampling:
    steps: int = 20
    guidance_scale: float = 9.0
    #: ``strength`` of the release: the control residuals' weight.
    control_scale: float = 1.0


@dataclass
class AnyTextModel:
    networks: Networks
    text: TextEncoder
    schedule: Schedule

    @classmethod
    def load(cls, files: ReleaseFiles, device: Any, dtype: Any) -> "AnyTextModel":
        config = read_config(files.config)
        state = read_state(files.checkpoint)
        params = config["model"]["params"]
        placeholder = str(params["embedding_manager_config"].get("params", {}).get("placeholder_string", "*"))
        recognizer = Recognizer.from_weights(part(state, "text_predictor."))
        text = TextEncoder.load(files.clip, part(state, "cond_stage_model.transformer."), recognizer,
                                part(state, "embedding_manager."), placeholder)
        networks = build_networks(config, state)
        schedule = Schedule.from_checkpoint(state, params)
        return cls(networks.to(device, dtype), text.to(device, dtype), schedule)

    @property
    def device(self) -> torch.device:
        return self.text.device

    def masked_latents(self, lines: TextLines, source: np.ndarray | None, generator: torch.Generator) -> torch.Tensor:
        """The masked image's latents: the source (mid-grey for generation) blanked inside the
        positions, encoded, one posterior sample, scaled."""
        width, height = lines.size
        hint = np.sum(lines.positions, axis=0).clip(0, 1)
        reference = np.ones((height, width, 3)) * 127.5 if source is None else source.clip(1, 255)
        masked = ((reference.astype(np.float32) / 127.5) - 1.0) * (1 - hint)
        image = torch.from_numpy(np.transpose(masked, (2, 0, 1)).copy()).float()[None]
        dtype = next(self.networks.vae.parameters()).dtype
        posterior = self.networks.encode(image.to(self.device, dtype))
        noise = torch.randn(posterior.mean.shape, generator=generator).to(self.device)
        return ((posterior.mean.float() + posterior.std.float() * noise) * self.networks.scale_factor)

    def conditions(self, lines: TextLines, prompt: str, negative_prompt: str, masked: torch.Tensor, count: int) -> Conditions:
        embeddings = self.text.line_embeddings([torch.from_numpy(line[..., 0]) for line in lines.lines])
        glyphs = _summed(lines.glyphs, count).to(self.device)
        positions = _summed(lines.positions, count).to(self.device)
        return Conditions(
            context=self.text.encode([prompt] * count, embeddings),
            negative_context=self.text.encode([negative_prompt] * count, embeddings),
            glyphs=glyphs,
            positions=positions,
            masked_latents=torch.cat([masked] * count, dim=0),
        )

    def sample(self, lines: TextLines, prompt: str, negative_prompt: str, source: np.ndarray | None, seed: int,
               count: int, settings: Sampling) -> tuple[torch.Tensor, np.ndarray]:
        """``count`` images (final latents, and uint8 (N, H, W, 3)) for one prompt."""
        width, height = lines.size
        if width % 64 or height % 64:
            raise ValueError(f"AnyText samples on sides that are multiples of 64, got {width}×{height}")
        generator = torch.Generator(device="cpu").manual_seed(seed)
        masked = self.masked_latents(lines, source, generator)
        conditions = self.conditions(lines, prompt, negative_prompt, masked, count)
        shape = (count, masked.shape[1], height // LATENT_FACTOR, width // LATENT_FACTOR)
        initial = torch.randn(shape, generator=generator).to(self.device)
        latents = ddim_sample(self.networks, self.schedule, conditions, initial, settings.steps, settings.guidance_scale,
                              settings.control_scale)
        dtype = next(self.networks.vae.parameters()).dtype
        return latents, to_uint8(self.networks.decode(latents.to(dtype)))


def _summed(arrays: Sequence[np.ndarray], count: int) -> torch.Tensor:
    """Per-line (H, W, 1) arrays as the control network reads them: stacked on channels for
    ``count`` rows, then summed over lines."""
    lines = [torch.from_numpy(np.transpose(array, (2, 0, 1)).copy()).float() for array in arrays]
    stacked = torch.cat([torch.stack([line] * count, dim=0) for line in lines], dim=1)
    return stacked.sum(dim=1, keepdim=True)
