"""The language model: LLaMA (Vicuna-13B v1.3) with deformable cross-attention to image features.

Every ``cross_attention_frequency``-th decoder layer inserts a gated cross-attention block between
self-attention and the MLP; it lets each text token sample the multi-scale feature maps of the
images that precede it (``MultiImageDeformableAttention``). The q/k/v/o projections carry
Slide-LoRA experts whose per-sample weights are passed in with each call (MM-Interleaved: none,
and the weights passed are an empty row per sample).

The layers are written out here rather than borrowed from ``transformers`` so that the block
can sit inside the layer, the expert weights can flow through the projections and the KV cache
stays a plain tensor pair per layer; the parameter names follow ``transformers``' LLaMA, which
is how the checkpoint keys them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import LLMConfig, SlideLoRAConfig
from .deformable_attention import MultiImageDeformableAttention, grid_reference_points
from .slide_lora import SlideLoRALinear

KVCache = list[tuple[torch.Tensor, torch.Tensor]]


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(self.weight.dtype)


def rotary_tables(positions: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype):
    """cos/sin [B, 1, T, head_dim] for integer positions [B, T], computed in float32."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim)
    angles = positions.float()[..., None] * inv_freq
    angles = torch.cat((angles, angles), dim=-1)[:, None]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


@dataclass
class VisionContext:
    """What the cross-attention blocks read: image features and which tokens may see them.

    ``features`` [B, images, S, C] is the concatenation of the chosen levels of each image;
    ``image_mask`` [B, T, images] holds one row per query token of the current call. Projected
    values are cached per layer, so decoding steps reuse them. When the decoder's batch holds
    ``rows_per_sample`` consecutive rows per sample (the beams of beam search), the context stays
    at one row per sample: it does not change when beams are reordered within their sample.
    """

    features: torch.Tensor
    level_shapes: Sequence[tuple[int, int]]
    image_mask: torch.Tensor
    values: dict[int, torch.Tensor] = field(default_factory=dict)
    rows_per_sample: int = 1

    def select(self, rows: torch.Tensor) -> "VisionContext":
        """The context for decoder rows ``rows`` (indices into the current decoder batch)."""
        samples = rows // self.rows_per_sample
        count = self.features.shape[0]
        if rows.numel() % count == 0:
            per_sample = rows.numel() // count
            grouped = torch.arange(count, device=rows.device).repeat_interleave(per_sample)
            if torch.equal(samples, grouped):
                return replace(self, rows_per_sample=per_sample)
        return VisionContext(
            self.features.index_select(0, samples),
            self.level_shapes,
            self.image_mask.index_select(0, samples),
            {k: v.index_select(0, samples) for k, v in self.values.items()},
        )

    def for_step(self) -> "VisionContext":
        """The context for decoding steps: each new token sees what the prompt's last token saw."""
        return replace(self, image_mask=self.image_mask[:, -1:])


class PlainProjection(nn.Linear):
    """A q/k/v/o projection without experts; it takes (and ignores) the expert weights so that
    the layers call every projection the same way."""

    def __init__(self, size: int) -> None:
        super().__init__(size, size, bias=False)

    def forward(self, x: torch.Tensor, expert_weights: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class SelfAttention(nn.Module):
    def __init__(self, config: LLMConfig, lora: SlideLoRAConfig | None) -> None:
        super().__init__()
        size = config.hidden_size
        self.num_heads, self.head_dim, self.theta = config.num_heads, config.head_dim, config.rope_theta

        def proj() -> nn.Linear:
            if lora is None:
                return PlainProjection(size)
            return SlideLoRALinear(size, size, lora.num_experts, lora.rank)

        self.q_proj, self.k_proj, self.v_proj, self.o_proj = proj(), proj(), proj(), proj()

    def forward(self, x, positions, mask, expert_weights, past):
        batch, length, _ = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

        q = heads(self.q_proj(x, expert_weights))
        k = heads(self.k_proj(x, expert_weights))
        v = heads(self.v_proj(x, expert_weights))
        cos, sin = rotary_tables(positions, self.head_dim, self.theta, q.dtype)
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        if past is not None:
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(batch, length, -1)
        return self.o_proj(out, expert_weights), (k, v)


class MLP(nn.Module):
    def __init__(self, config: LLMConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class ImageCrossAttention(nn.Module):
    """Gated deformable cross-attention from text tokens to image features.

    Every token samples around the image centre; where it samples is learned from the token.
    """

    def __init__(self, config: LLMConfig, vision_size: int) -> None:
        super().__init__()
        self.gate = nn.Parameter(torch.zeros(1))
        self.attn = MultiImageDeformableAttention(
            d_query=config.hidden_size,
            d_value=vision_size,
            d_out=config.hidden_size,
            n_levels=len(config.feature_levels),
            n_heads=config.cross_attention_heads,
            n_points=config.cross_attention_points,
            level_sizes=config.feature_levels,
            base_size=config.offset_base_size,
            max_images=config.max_images_per_sequence,
        )
        self.norm1 = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.norm2 = RMSNorm(vision_size, config.rms_norm_eps)

    def forward(self, x: torch.Tensor, vision: VisionContext, layer: int) -> torch.Tensor:
        if layer not in vision.values:
            vision.values[layer] = self.attn.project_value(self.norm2(vision.features))
        rows, length, width = x.shape
        per_sample = vision.rows_per_sample
        # A sample's rows (beams) become extra queries of that sample: queries are independent.
        queries = self.norm1(x).reshape(rows // per_sample, per_sample * length, width)
        mask = vision.image_mask.repeat(1, per_sample, 1) if per_sample > 1 else vision.image_mask
        centre = grid_reference_points(1, 1, x.device).expand(queries.shape[1], 2)
        out = self.attn(queries, centre, vision.values[layer], vision.level_shapes, mask)
        return out.reshape(rows, length, width) * self.gate.tanh()


class DecoderLayer(nn.Module):
    def __init__(self, config: LLMConfig, lora: SlideLoRAConfig | None, vision_size: int, index: int) -> None:
        super().__init__()
        self.index = index
        self.self_attn = SelfAttention(config, lora)
        has_cross = index % config.cross_attention_frequency == 0
        self.llama_cross_attn = ImageCrossAttention(config, vision_size) if has_cross else None
        self.mlp = MLP(config)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, x, positions, mask, expert_weights, vision, past):
        attended, present = self.self_attn(self.input_layernorm(x), positions, mask, expert_weights, past)
        x = x + attended
        if self.llama_cross_attn is not None and vision is not None:
            x = x + self.llama_cross_attn(x, vision, self.index)
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, present


class MultimodalDecoder(nn.Module):
    """The LLM body (the release's ``mm_decoder``): embeddings, layers and the final norm."""

    def __init__(self, config: LLMConfig, lora: SlideLoRAConfig | None, vision_size: int) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(
            DecoderLayer(config, lora, vision_size, i) for i in range(config.num_layers)
        )
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(
        self,
        embeds: torch.Tensor,
        key_padding: torch.Tensor,
        expert_weights: torch.Tensor,
        vision: VisionContext | None = None,
        past: KVCache | None = None,
    ) -> tuple[torch.Tensor, KVCache]:
        """embeds [B, T, C] for the newest T positions; key_padding [B, past + T], true for real
        tokens (left padding allowed). Returns the final hidden states and the updated cache."""
        batch, length, _ = embeds.shape
        total = key_padding.shape[1]
        positions = (key_padding.long().cumsum(-1) - 1).clamp(min=0)[:, total - length :]
        mask = _attention_mask(key_padding, length)
        x = embeds
        presents: KVCache = []
        for i, layer in enumerate(self.layers):
            x, present = layer(x, positions, mask, expert_weights, vision, None if past is None else past[i])
            presents.append(present)
        return self.norm(x), presents


def _attention_mask(key_padding: torch.Tensor, length: int) -> torch.Tensor:
    """Causal mask over real keys, [B, 1, T, S]. Each query also sees itself, so that rows of
    padding never become empty (an empty row would turn the attention output into NaN)."""
    total = key_padding.shape[1]
    query_pos = torch.arange(total - length, total, device=key_padding.device)[:, None]
    key_pos = torch.arange(total, device=key_padding.device)[None, :]
    causal = key_pos <= query_pos
    allowed = causal[None] & key_padding.bool()[:, None, :]
    allowed = allowed | (key_pos == query_pos)[None]
    return allowed[:, None]


class TextHead(nn.Module):
    """Vocabulary projection (the release's ``text_decoder``): the base head covers the whole
    vocabulary; a small second head adds to the logits of the tokens added for images."""

    def __init__(self, config: LLMConfig) -> None:
        super().__init__()
        self.base_vocab_size = config.base_vocab_size
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        self.head_new = nn.Linear(config.hidden_size, config.vocab_size - config.base_vocab_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.head(hidden)
        added = logits[..., self.base_vocab_size :] + self.head_new(hidden)
        return torch.cat((logits[..., : self.base_vocab_size], added), dim=-1)
