"""Image decoder: Stable Diffusion 2 base, conditioned on the LLM and on a reference image.

Two signals steer the UNet:

* the LLM's hidden states up to the ``<|beginofimage|>`` token, compressed by a perceiver into
  the 77 vectors the UNet's cross-attention expects (in place of CLIP text embeddings);
* the multi-scale features of the image before the one being generated (a blank image for
  text-to-image, the masked image for editing), read by a ControlNet-like branch: after the
  UNet's mid block, every skip connection and the mid output get a residual computed by
  deformable attention from that resolution's features to the image features.

The modules hold weights and one forward step each; the sampling loop that drives them (the
scheduler, guidance, noise) is ``image_sampling``'s, as diffusers keeps models apart from pipelines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from torch import nn

from .config import ImageDecoderConfig, ResamplerConfig
from .deformable_attention import MultiImageDeformableAttention, grid_reference_points
from .positional import resize_square_table, sincos_2d
from .resampler import PerceiverResampler


@dataclass
class ControlFeatures:
    """Reference-image features for the control branch: four NCHW maps, each [B, images, C, H, W],
    and ``mask`` [B, images] (1 where the image exists)."""

    maps: Sequence[torch.Tensor]
    mask: torch.Tensor

    @property
    def level_shapes(self) -> list[tuple[int, int]]:
        return [(m.shape[-2], m.shape[-1]) for m in self.maps]

    def flattened(self) -> torch.Tensor:
        """[B, images, sum(HW), C]."""
        return torch.cat([m.flatten(3).transpose(2, 3) for m in self.maps], dim=2)


class ControlBlock(nn.Module):
    """One UNet resolution's residual from deformable attention to the reference features."""

    def __init__(self, config: ImageDecoderConfig, channels: int, feature_size: int, base_size: int) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(sincos_2d(channels, config.control_pos_grid), requires_grad=False)
        self.query_norm = nn.LayerNorm(channels, eps=1e-6)
        self.feat_norm = nn.LayerNorm(feature_size, eps=1e-6)
        self.mmfs = MultiImageDeformableAttention(
            d_query=channels,
            d_value=feature_size,
            d_out=channels,
            n_levels=len(config.control_levels),
            n_heads=config.control_heads,
            n_points=config.control_points,
            level_sizes=config.control_levels,
            base_size=base_size,
            max_images=config.control_max_images,
            d_attn=config.control_attn_dim,
        )
        self.conv = nn.Conv2d(channels, channels, 1)

    def project(self, control: ControlFeatures) -> torch.Tensor:
        return self.mmfs.project_value(self.feat_norm(control.flattened()))

    def forward(self, sample: torch.Tensor, value: torch.Tensor, control: ControlFeatures) -> torch.Tensor:
        batch, channels, height, width = sample.shape
        query = self.query_norm(sample.flatten(2).transpose(1, 2))
        query = query + resize_square_table(self.pos_embed, height * width).to(query.dtype)
        reference = grid_reference_points(height, width, sample.device)
        out = self.mmfs(query, reference, value, control.level_shapes, control.mask)
        return self.conv(out.transpose(1, 2).reshape(batch, channels, height, width))


class ControlBranch(nn.Module):
    """One ``ControlBlock`` per UNet skip connection, plus one for the mid block (``MMFSNet``)."""

    def __init__(self, config: ImageDecoderConfig, feature_size: int) -> None:
        super().__init__()
        channels = list(config.unet["block_out_channels"])
        per_block = int(config.unet["layers_per_block"])
        skips = [channels[0]]
        for i, c in enumerate(channels):
            skips += [c] * per_block
            if i < len(channels) - 1:
                skips.append(c)
        bases = config.control_bases
        self.mmfs_down_blocks = nn.ModuleList(
            ControlBlock(config, c, feature_size, bases[i // 3]) for i, c in enumerate(skips)
        )
        self.mmfs_mid_block = ControlBlock(config, channels[-1], feature_size, bases[-1])

    def project(self, control: ControlFeatures) -> list[torch.Tensor]:
        """Projected values of every block; they do not change across denoising steps."""
        return [block.project(control) for block in [*self.mmfs_down_blocks, self.mmfs_mid_block]]

    def forward(self, mid: torch.Tensor, skips: Sequence[torch.Tensor], values, control: ControlFeatures):
        new_skips = tuple(s + block(s, v, control) for s, block, v in zip(skips, self.mmfs_down_blocks, values))
        return mid + self.mmfs_mid_block(mid, values[-1], control), new_skips


class StableDiffusion(nn.Module):
    """The release's ``decoder``: VAE, UNet and the control branch."""

    def __init__(self, config: ImageDecoderConfig, feature_size: int) -> None:
        super().__init__()
        self.config = config
        self.vae = AutoencoderKL.from_config(config.vae)
        self.unet = UNet2DConditionModel.from_config(config.unet)
        self.mmfs_module = ControlBranch(config, feature_size)

    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, H, W] in [0, 1], float32, decoded in the VAE's own dtype."""
        images = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor).sample
        return (images.float() / 2 + 0.5).clamp(0, 1)

    def denoise(self, latents, timestep, context, values, control) -> torch.Tensor:
        """The UNet's forward with the control residuals added after the mid block."""
        unet = self.unet
        t = timestep.expand(latents.shape[0]) if timestep.dim() else timestep[None].expand(latents.shape[0])
        emb = unet.time_embedding(unet.time_proj(t).to(latents.dtype))
        x = unet.conv_in(latents)
        skips: tuple[torch.Tensor, ...] = (x,)
        for block in unet.down_blocks:
            if getattr(block, "has_cross_attention", False):
                x, res = block(hidden_states=x, temb=emb, encoder_hidden_states=context)
            else:
                x, res = block(hidden_states=x, temb=emb)
            skips += res
        x = unet.mid_block(x, emb, encoder_hidden_states=context)
        x, skips = self.mmfs_module(x, skips, values, control)
        for i, block in enumerate(unet.up_blocks):
            res, skips = skips[-len(block.resnets) :], skips[: -len(block.resnets)]
            upsample_size = skips[-1].shape[2:] if i < len(unet.up_blocks) - 1 else None
            if getattr(block, "has_cross_attention", False):
                x = block(hidden_states=x, temb=emb, res_hidden_states_tuple=res,
                          encoder_hidden_states=context, upsample_size=upsample_size)
            else:
                x = block(hidden_states=x, temb=emb, res_hidden_states_tuple=res, upsample_size=upsample_size)
        return unet.conv_out(unet.conv_act(unet.conv_norm_out(x)))


class ImageDecoder(nn.Module):
    """The release's ``image_decoder``: the perceiver from LLM states to the UNet's context, the
    learned negative context for guidance, and the diffusion model."""

    def __init__(self, config: ImageDecoderConfig, resampler: ResamplerConfig, feature_size: int) -> None:
        super().__init__()
        self.config = config
        self.neg_prompt_embeds = nn.Parameter(torch.zeros(1, config.context_queries, config.cross_attention_dim))
        self.perceiver_resampler = PerceiverResampler(resampler)
        self.decoder = StableDiffusion(config, feature_size)
