"""The mPLUG-Owl2 ViT and DocOwl 1.5's H-Reducer, with the release's parameter names.

ViT: patch embedding without bias, a class token, learnt positions, a LayerNorm before the
blocks and one after; pre-norm blocks whose fused ``query_key_value`` is laid out per head
(``q, k, v`` of head 0, then of head 1, ...), QuickGELU MLP. H-Reducer: the class token
dropped, the patch grid through a (1, 4) convolution to four times the width with GELU, the
four channel groups laid side by side along the row, a second (1, 4) convolution back to one
token per four patches, a linear map to the LLM width, and the learnt ``vit_eos`` appended.
Its ``ln_q`` is in the checkpoint but the release never applies it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model_adapters.mplug_docowl.config import DocOwlConfig, VisionConfig


class VisionEmbeddings(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        width = config.hidden_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.patch_embed = nn.Conv2d(3, width, kernel_size=config.patch_size, stride=config.patch_size, bias=False)
        self.position_embedding = nn.Parameter(torch.zeros(1, config.grid ** 2 + 1, width))
        self.pre_layernorm = nn.LayerNorm(width, eps=config.layer_norm_eps)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embed(pixels).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(len(pixels), 1, -1).to(patches.dtype), patches], dim=1)
        return self.pre_layernorm(tokens + self.position_embedding[:, :tokens.shape[1]].to(patches.dtype))


class VisionAttention(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.query_key_value = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        qkv = self.query_key_value(x).reshape(batch, length, self.heads, 3, width // self.heads).permute(3, 0, 2, 1, 4)
        context = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.dense(context.transpose(1, 2).reshape(batch, length, width))


class VisionMLP(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.fc1(x)
        return self.fc2(hidden * torch.sigmoid(1.702 * hidden))


class VisionLayer(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = VisionAttention(config)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = VisionMLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class VisionEncoder(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(VisionLayer(config) for _ in range(config.num_hidden_layers))


class VisionModel(nn.Module):
    """The release's ``model.vision_model``: (crops, 3, H, W) to (crops, 1 + patches, width)."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.embeddings = VisionEmbeddings(config)
        self.encoder = VisionEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(pixels)
        for layer in self.encoder.layers:
            x = layer(x)
        return self.post_layernorm(x)


class HReducer(nn.Module):
    """The release's ``model.vision2text``: ViT states to ``image_tokens`` LLM embeddings per crop."""

    def __init__(self, config: DocOwlConfig) -> None:
        super().__init__()
        width = config.reducer.hidden_size
        kernel = config.reducer.kernel
        self.groups = kernel[0] * kernel[1]
        self.ln_q = nn.LayerNorm(width, eps=1e-6)
        self.reducer_before = nn.Sequential(nn.Conv2d(width, self.groups * width, kernel_size=kernel, stride=kernel), nn.GELU())
        self.reducer = nn.Conv2d(width, width, kernel_size=kernel, stride=kernel)
        self.visual_fc = nn.Linear(width, config.hidden_size)
        self.vit_eos = nn.Parameter(torch.zeros(1, 1, config.hidden_size))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        patches = states[:, 1:]
        crops, length, width = patches.shape
        rows = int(length ** 0.5)
        grid = patches.transpose(1, 2).reshape(crops, width, rows, length // rows)
        mixed = self.reducer_before(grid)
        _, _, height, narrow = mixed.shape
        # channel (group x, width d) at column w goes to column w * groups + x
        spread = mixed.view(crops, self.groups, width, height, narrow).permute(0, 2, 3, 4, 1).reshape(crops, width, height, narrow * self.groups)
        reduced = self.reducer(spread).flatten(2).transpose(1, 2)
        tokens = self.visual_fc(reduced)
        return torch.cat([tokens, self.vit_eos.expand(crops, 1, -1).to(tokens.dtype)], dim=1)
