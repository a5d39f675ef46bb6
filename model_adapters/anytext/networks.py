"""AnyText's denoiser: SD1.5's UNet, the text-control network and the auxiliary latent module,
with the VAE, built from the release's config and checkpoint.

The UNet, the control network's trunk and the VAE are diffusers' ``UNet2DConditionModel``,
``ControlNetModel`` and ``AutoencoderKL``, filled by diffusers' own LDM-to-diffusers key
mapping (the one ``from_single_file`` uses). The auxiliary latent module is AnyText's own
(``glyph_block``, ``position_block``, ``fuse_block`` of ``cldm.ControlNet``): it encodes the summed
glyph canvases (twice the image's resolution, 16× down), the summed position masks (8× down)
and the masked image's latents into one hint added after the trunk's first convolution, where
ControlNet adds its condition; so the trunk's forward is written here, block by block as
diffusers runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

#: (channels out, stride) of the glyph encoder's and the position encoder's convolutions, each
#: followed by SiLU; kernel 3, padding 1.
GLYPH_LAYERS = ((8, 1), (8, 1), (16, 2), (16, 1), (32, 2), (32, 1), (96, 2), (96, 1), (256, 2))
POSITION_LAYERS = ((8, 1), (8, 1), (16, 2), (16, 1), (32, 2), (32, 1), (64, 2))
LATENT_CHANNELS = 4


def _encoder(channels_in: int, layers: tuple[tuple[int, int], ...]) -> nn.Sequential:
    modules: list[nn.Module] = []
    for channels_out, stride in layers:
        modules += [nn.Conv2d(channels_in, channels_out, 3, padding=1, stride=stride), nn.SiLU()]
        channels_in = channels_out
    return nn.Sequential(*modules)


class AuxiliaryLatentModule(nn.Module):
    """The hint: glyph and position features and the masked image's latents, fused by a conv."""

    def __init__(self, glyph_channels: int, position_channels: int, model_channels: int) -> None:
        super().__init__()
        self.glyph_block = _encoder(glyph_channels, GLYPH_LAYERS)
        self.position_block = _encoder(position_channels, POSITION_LAYERS)
        fused = GLYPH_LAYERS[-1][0] + POSITION_LAYERS[-1][0] + LATENT_CHANNELS
        self.fuse_block = nn.Conv2d(fused, model_channels, 3, padding=1)

    def forward(self, glyphs: torch.Tensor, positions: torch.Tensor, masked_latents: torch.Tensor) -> torch.Tensor:
        features = [self.glyph_block(glyphs), self.position_block(positions), masked_latents]
        return self.fuse_block(torch.cat(features, dim=1))


@dataclass(frozen=True)
class TextControl:
    """The control network: diffusers' ControlNet trunk without its condition embedding, plus
    the auxiliary latent module."""

    trunk: Any
    hint: AuxiliaryLatentModule

    def residuals(self, latents: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor, glyphs: torch.Tensor,
                  positions: torch.Tensor, masked_latents: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The residuals for the UNet's skip connections and for its middle block."""
        trunk = self.trunk
        embedding = trunk.time_embedding(trunk.time_proj(timesteps).to(latents.dtype))
        sample = trunk.conv_in(latents) + self.hint(glyphs, positions, masked_latents)
        skips = [sample]
        for block in trunk.down_blocks:
            if getattr(block, "has_cross_attention", False):
                sample, outputs = block(hidden_states=sample, temb=embedding, encoder_hidden_states=context)
            else:
                sample, outputs = block(hidden_states=sample, temb=embedding)
            skips.extend(outputs)
        sample = trunk.mid_block(sample, embedding, encoder_hidden_states=context)
        down = [zero_conv(skip) for zero_conv, skip in zip(trunk.controlnet_down_blocks, skips)]
        return down, trunk.controlnet_mid_block(sample)


@dataclass(frozen=True)
class Networks:
    unet: Any
    control: TextControl
    vae: Any
    scale_factor: float

    def to(self, device: Any, dtype: Any) -> "Networks":
        for module in (self.unet, self.control.trunk, self.control.hint, self.vae):
            module.to(device=device)
            if dtype != torch.float32:
                module.to(dtype=dtype)
        return self

    def noise(self, latents: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor, glyphs: torch.Tensor,
              positions: torch.Tensor, masked_latents: torch.Tensor, control_scale: float = 1.0) -> torch.Tensor:
        """``ControlLDM.apply_model``: the UNet's noise prediction with the control residuals."""
        with torch.no_grad():
            down, middle = self.control.residuals(latents, timesteps, context, glyphs, positions, masked_latents)
            down = [residual * control_scale for residual in down]
            return self.unet(latents, timesteps, encoder_hidden_states=context, down_block_additional_residuals=down,
                             mid_block_additional_residual=middle * control_scale).sample

    def encode(self, images: torch.Tensor) -> Any:
        """The VAE posterior (``mean``, ``std``) of images in [-1, 1]."""
        with torch.no_grad():
            return self.vae.encode(images).latent_dist

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """``decode_first_stage``: images in about [-1, 1]."""
        with torch.no_grad():
            return self.vae.decode(latents * (1.0 / self.scale_factor)).sample


def build_networks(config: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> Networks:
    """The networks from the release's yaml (``config``, the whole document) and checkpoint."""
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import (
        convert_controlnet_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        create_unet_diffusers_config_from_ldm,
        create_vae_diffusers_config_from_ldm,
    )

    params = config["model"]["params"]
    unet_config = create_unet_diffusers_config_from_ldm(config, state)
    unet = UNet2DConditionModel(**unet_config)
    _load(unet, convert_ldm_unet_checkpoint(state, unet_config), "model.diffusion_model")

    control_params = params["control_stage_config"]["params"]
    as_unet = {"model": {"params": {**params, "unet_config": {"params": {**control_params, "out_channels": 4}}}}}
    trunk_config = create_unet_diffusers_config_from_ldm(as_unet, state)
    controlnet_keys = ("in_channels", "down_block_types", "block_out_channels", "layers_per_block", "cross_attention_dim",
                       "attention_head_dim", "use_linear_projection", "transformer_layers_per_block", "only_cross_attention")
    trunk = ControlNetModel(**{key: trunk_config[key] for key in controlnet_keys if key in trunk_config})
    del trunk.controlnet_cond_embedding  # AnyText's hint takes its place
    _load(trunk, convert_controlnet_checkpoint(state, trunk_config), "control_model")
    hint = AuxiliaryLatentModule(control_params["glyph_channels"], control_params["position_channels"], control_params["model_channels"])
    hint_state = {key.removeprefix("control_model."): value for key, value in state.items()
                  if key.startswith(("control_model.glyph_block.", "control_model.position_block.", "control_model.fuse_block."))}
    _load(hint, hint_state, "control_model (glyph, position and fuse blocks)")

    vae_config = create_vae_diffusers_config_from_ldm(config, state)
    vae = AutoencoderKL(**vae_config)
    _load(vae, convert_ldm_vae_checkpoint(state, vae_config), "first_stage_model")
    modules = [module.eval() for module in (unet, trunk, hint, vae)]
    return Networks(modules[0], TextControl(modules[1], modules[2]), modules[3], float(params["scale_factor"]))


def _load(module: nn.Module, state: Mapping[str, torch.Tensor], prefix: str) -> None:
    missing, unexpected = module.load_state_dict(dict(state), strict=False)
    if missing or unexpected:
        raise ValueError(f"the checkpoint's {prefix}.* weights do not fit the config: missing {sorted(missing)[:5]}, "
                         f"unexpected {sorted(unexpected)[:5]}")
