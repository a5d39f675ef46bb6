"""Vision side: CLIP ViT with a ViT-Adapter, then a perceiver that yields the LLM's image tokens.

The ViT-Adapter runs a small CNN (the spatial prior module) beside the ViT and lets the two
exchange information with deformable attention after every quarter of the ViT's layers. It
returns the ViT's last hidden state (fed to the perceiver) and four feature maps at 1/4, 1/8,
1/16 and 1/32 of a 16x-upscaled input grid (fed to the deformable cross-attention of the LLM and
the image decoder).

The ViT carries plain LoRA on q/k/v; the release added it with ``peft``, whose wrapper objects
appear in every key as ``encoder.base_model.model.``. The same containers are kept here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ResamplerConfig, VisionConfig
from .deformable_attention import MSDeformAttn, grid_reference_points
from .lora import LoRALinear
from .positional import resize_square_table, sincos_2d
from .resampler import PerceiverResampler

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CLIPEmbeddings(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        positions = config.grid**2 + 1
        self.class_embedding = nn.Parameter(torch.zeros(config.hidden_size))
        # Persistent in the release checkpoint, so it is kept as a saved buffer.
        self.register_buffer("position_ids", torch.arange(positions).unsqueeze(0))
        self.patch_embedding = nn.Conv2d(3, config.hidden_size, config.patch_size, config.patch_size, bias=False)
        self.position_embedding = nn.Embedding(positions, config.hidden_size)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        patches = self.patch_embedding(pixels)
        height, width = patches.shape[-2:]
        tokens = patches.flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(tokens.dtype).expand(tokens.shape[0], 1, -1)
        tokens = torch.cat((cls, tokens), dim=1) + self.position_embedding(self.position_ids)
        return tokens, height, width


class CLIPAttention(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        size, rank, alpha = config.hidden_size, config.lora_rank, config.lora_alpha
        self.num_heads = config.num_heads
        self.k_proj = LoRALinear(size, size, rank, alpha)
        self.v_proj = LoRALinear(size, size, rank, alpha)
        self.q_proj = LoRALinear(size, size, rank, alpha)
        self.out_proj = nn.Linear(size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.num_heads, -1).transpose(1, 2)

        out = F.scaled_dot_product_attention(heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x)))
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, -1))


class CLIPMLP(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class CLIPLayer(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.self_attn = CLIPAttention(config)
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = CLIPMLP(config)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CLIPLayer(config) for _ in range(config.num_layers))


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of an NCHW map, computed in float32."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        mean = h.mean(1, keepdim=True)
        var = (h - mean).pow(2).mean(1, keepdim=True)
        h = (h - mean) / torch.sqrt(var + self.eps)
        return (self.weight.float()[:, None, None] * h + self.bias.float()[:, None, None]).to(x.dtype)


def _conv_norm_relu(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), ChannelLayerNorm(cout), nn.ReLU(inplace=True)]


class SpatialPriorModule(nn.Module):
    """A small CNN giving feature maps at strides 4, 8, 16 and 32, projected to the ViT width."""

    def __init__(self, inplanes: int, embed_dim: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            *_conv_norm_relu(3, inplanes, 2),
            *_conv_norm_relu(inplanes, inplanes, 1),
            *_conv_norm_relu(inplanes, inplanes, 1),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        self.conv2 = nn.Sequential(*_conv_norm_relu(inplanes, 2 * inplanes, 2))
        self.conv3 = nn.Sequential(*_conv_norm_relu(2 * inplanes, 4 * inplanes, 2))
        self.conv4 = nn.Sequential(*_conv_norm_relu(4 * inplanes, 4 * inplanes, 2))
        self.fc1 = nn.Conv2d(inplanes, embed_dim, 1)
        self.fc2 = nn.Conv2d(2 * inplanes, embed_dim, 1)
        self.fc3 = nn.Conv2d(4 * inplanes, embed_dim, 1)
        self.fc4 = nn.Conv2d(4 * inplanes, embed_dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns the stride-4 map as NCHW and the others flattened to [N, HW, C]."""
        s4 = self.stem(x)
        s8 = self.conv2(s4)
        s16 = self.conv3(s8)
        s32 = self.conv4(s16)
        flat = [fc(s).flatten(2).transpose(1, 2) for fc, s in ((self.fc2, s8), (self.fc3, s16), (self.fc4, s32))]
        return self.fc1(s4), flat[0], flat[1], flat[2]


class DWConv(nn.Module):
    """Depth-wise 3x3 conv applied to each of the three maps packed in a 16:4:1 token sequence."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        batch, length, channels = x.shape
        n = length // 21
        sizes = ((16 * n, 2 * height, 2 * width), (4 * n, height, width), (length - 20 * n, height // 2, width // 2))
        outs, start = [], 0
        for count, h, w in sizes:
            part = x[:, start : start + count].transpose(1, 2).reshape(batch, channels, h, w)
            outs.append(self.dwconv(part).flatten(2).transpose(1, 2))
            start += count
        return torch.cat(outs, dim=1)


class ConvFFN(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        return self.fc2(F.gelu(self.dwconv(self.fc1(x), height, width)))


class Injector(nn.Module):
    """ViT tokens read the CNN's three maps (gated by ``gamma``)."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        dim, eps = config.hidden_size, config.adapter_norm_eps
        self.gamma = nn.Parameter(torch.zeros(dim))
        self.query_norm = nn.LayerNorm(dim, eps=eps)
        self.feat_norm = nn.LayerNorm(dim, eps=eps)
        self.attn = MSDeformAttn(dim, 3, config.num_heads, config.adapter_points, config.adapter_deform_ratio)

    def forward(self, query, reference_points, features, level_shapes):
        attended = self.attn(self.query_norm(query), reference_points, self.feat_norm(features), level_shapes)
        return query + self.gamma * attended


class Extractor(nn.Module):
    """The CNN's maps read the ViT tokens, followed by a convolutional FFN."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        dim, eps = config.hidden_size, config.adapter_norm_eps
        self.query_norm = nn.LayerNorm(dim, eps=eps)
        self.feat_norm = nn.LayerNorm(dim, eps=eps)
        self.attn = MSDeformAttn(dim, 1, config.num_heads, config.adapter_points, config.adapter_deform_ratio)
        self.ffn = ConvFFN(dim, int(dim * config.adapter_cffn_ratio))
        self.ffn_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, query, reference_points, features, level_shapes, height, width):
        query = query + self.attn(self.query_norm(query), reference_points, self.feat_norm(features), level_shapes)
        return query + self.ffn(self.ffn_norm(query), height, width)


class InteractionBlock(nn.Module):
    def __init__(self, config: VisionConfig, extra_extractors: bool) -> None:
        super().__init__()
        self.injector = Injector(config)
        self.extractor = Extractor(config)
        self.extra_extractors = nn.Sequential(Extractor(config), Extractor(config)) if extra_extractors else None


class ViTAdapter(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.hidden_size
        self.adapter_level_embed = nn.Parameter(torch.zeros(3, dim))
        self.embeddings = CLIPEmbeddings(config)
        self.pre_layrnorm = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.encoder = CLIPEncoder(config)
        self.adapter_spm = SpatialPriorModule(config.adapter_inplanes, dim)
        blocks = len(config.interaction_indexes)
        self.adapter_interactions = nn.Sequential(
            *(InteractionBlock(config, extra_extractors=i == blocks - 1) for i in range(blocks))
        )
        self.adapter_up = nn.ConvTranspose2d(dim, dim, 2, 2)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Normalised pixels [N, 3, S, S] -> (last hidden state [N, 1 + HW, C], four NCHW maps)."""
        tokens, height, width = self.embeddings(pixels)
        tokens = self.pre_layrnorm(tokens)
        batch, _, dim = tokens.shape
        cnn_input = F.interpolate(pixels, size=(16 * height, 16 * width), mode="bilinear", align_corners=False)
        pyramid = [(2 * height, 2 * width), (height, width), (height // 2, width // 2)]
        vit_ref = grid_reference_points(height, width, pixels.device)[:, None]
        cnn_ref = torch.cat([grid_reference_points(h, w, pixels.device) for h, w in pyramid])[:, None]

        c1, c2, c3, c4 = self.adapter_spm(cnn_input)
        cnn = torch.cat(
            (c2 + self.adapter_level_embed[0], c3 + self.adapter_level_embed[1], c4 + self.adapter_level_embed[2]),
            dim=1,
        )
        cls, x = tokens[:, :1], tokens[:, 1:]
        stage_outputs = []
        for block, (first, last) in zip(self.adapter_interactions, self.config.interaction_indexes):
            x = block.injector(x, vit_ref, cnn, pyramid)
            hidden = torch.cat((cls, x), dim=1)
            for layer in self.encoder.layers[first : last + 1]:
                hidden = layer(hidden)
            cls, x = hidden[:, :1], hidden[:, 1:]
            extractors = [block.extractor, *(block.extra_extractors or ())]
            for extractor in extractors:
                cnn = extractor(cnn, cnn_ref, x, [(height, width)], height, width)
            stage_outputs.append(x.transpose(1, 2).reshape(batch, dim, height, width))

        sizes = [h * w for h, w in pyramid]
        maps = [part.transpose(1, 2).reshape(batch, dim, h, w) for part, (h, w) in zip(cnn.split(sizes, 1), pyramid)]
        c1 = self.adapter_up(maps[0]) + c1
        x1, x2, x3, x4 = stage_outputs
        features = [
            c1 + F.interpolate(x1, scale_factor=4, mode="bilinear", align_corners=False),
            maps[0] + F.interpolate(x2, scale_factor=2, mode="bilinear", align_corners=False),
            maps[1] + x3,
            maps[2] + F.interpolate(x4, scale_factor=0.5, mode="bilinear", align_corners=False),
        ]
        last_hidden = torch.cat((cls, x4.flatten(2).transpose(1, 2)), dim=1)
        return last_hidden, features


class _Container(nn.Module):
    """An empty module standing for one of the ``peft`` wrappers in the key path."""


class LoRAWrappedViT(nn.Module):
    """Holds the ViT-Adapter at ``base_model.model.vision_model``, where ``peft`` put it."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.base_model = _Container()
        self.base_model.model = _Container()
        self.base_model.model.vision_model = ViTAdapter(config)

    @property
    def vision_model(self) -> ViTAdapter:
        return self.base_model.model.vision_model

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.vision_model(pixels)


class VisualTokenizer(nn.Module):
    """Images -> (image tokens for the LLM, multi-scale feature maps)."""

    def __init__(self, config: VisionConfig, resampler: ResamplerConfig, llm_hidden_size: int) -> None:
        super().__init__()
        dim = config.hidden_size
        self.pos_embed = nn.Parameter(sincos_2d(dim, config.pos_grid_size, with_cls=True), requires_grad=False)
        self.register_buffer("clip_mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1))
        self.register_buffer("clip_std", torch.tensor(CLIP_STD).view(1, 3, 1, 1))
        self.encoder = LoRAWrappedViT(config)
        self.pos_proj = nn.Linear(dim, dim)
        self.pos_ln = nn.LayerNorm(dim, eps=1e-6)
        self.perceiver_resampler = PerceiverResampler(resampler)
        self.post_ln = nn.LayerNorm(dim, eps=1e-6)
        self.proj = nn.Linear(resampler.hidden_size, llm_hidden_size)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """images [N, 3, S, S] in [0, 1] -> (tokens [N, queries, llm_hidden], four NCHW maps)."""
        pixels = ((images - self.clip_mean) / self.clip_std).to(self.pos_proj.weight.dtype)
        last_hidden, features = self.encoder(pixels)
        grid_table = self.pos_embed[1:]
        features = [
            f + resize_square_table(grid_table, f.shape[2] * f.shape[3]).T.reshape(1, -1, f.shape[2], f.shape[3])
            for f in features
        ]
        pos = resize_square_table(self.pos_embed, last_hidden.shape[1])
        queries_in = self.post_ln(self.pos_ln(self.pos_proj(last_hidden)) + pos)
        return self.proj(self.perceiver_resampler(queries_in)), features
