"""Multi-scale deformable attention, in plain PyTorch with an optional compiled fast path.

The release relies on a CUDA extension (``MultiScaleDeformableAttention``) for the sampling
step. Here the same computation runs through ``grid_sample`` on any device; when the extension
is importable and the tensors live on a GPU, it is used instead.

Sampling positions are always handled in float32, whatever the model's dtype: in bfloat16 a
position in [0, 1] is only resolved to 1/256, a whole pixel on the 256-px feature maps. The
small projections that produce offsets and attention logits run in float32 for the same reason.

Two attention modules build on the sampling step:

* ``MSDeformAttn``: Deformable-DETR attention, used inside the ViT-Adapter.
* ``MultiImageDeformableAttention``: attention from a query sequence to the multi-scale
  features of several images at once, with a learned "ignore" slot per image and level; the
  LLM's cross-attention and the image decoder's control branch both use it.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

LevelShapes = Sequence[tuple[int, int]]

try:  # the extension the release was built with, when someone compiled it for this machine
    import MultiScaleDeformableAttention as _compiled_op  # type: ignore[import-not-found]
except ImportError:
    _compiled_op = None


def has_compiled_kernel() -> bool:
    return _compiled_op is not None


def ms_deform_attn(
    value: torch.Tensor,
    level_shapes: LevelShapes,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Weighted bilinear samples of ``value`` at ``sampling_locations``.

    value: [N, S, heads, dim] with S the flattened levels in ``level_shapes`` order;
    sampling_locations: [N, Q, heads, levels, points, 2] as (x, y) in [0, 1] (pixel centres at
    (i + 0.5) / size, zero outside); attention_weights: [N, Q, heads, levels, points].
    Returns [N, Q, heads * dim].
    """
    if _compiled_op is not None and value.is_cuda:
        out = _compiled_forward(value, level_shapes, sampling_locations, attention_weights)
    else:
        out = _grid_sample_forward(value, level_shapes, sampling_locations, attention_weights)
    return out.to(value.dtype)


def _compiled_forward(value, level_shapes, sampling_locations, attention_weights):
    shapes = torch.as_tensor(level_shapes, dtype=torch.long, device=value.device)
    starts = torch.cat((shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]))
    return _compiled_op.ms_deform_attn_forward(
        value.float().contiguous(),
        shapes,
        starts,
        sampling_locations.float().contiguous(),
        attention_weights.float().contiguous(),
        1,
    )


def _grid_sample_forward(value, level_shapes, sampling_locations, attention_weights):
    batch, _, heads, dim = value.shape
    _, queries, _, levels, points, _ = sampling_locations.shape
    sizes = [h * w for h, w in level_shapes]
    per_level = value.split(sizes, dim=1)
    # grid_sample's align_corners=False grid puts pixel centres exactly where the kernel does.
    grids = 2 * sampling_locations.float() - 1
    weights = attention_weights.float().transpose(1, 2).reshape(batch * heads, queries, levels, points)
    out = None
    for level, (h, w) in enumerate(level_shapes):
        feature = per_level[level].float().permute(0, 2, 3, 1).reshape(batch * heads, dim, h, w)
        grid = grids[:, :, :, level].transpose(1, 2).reshape(batch * heads, queries, points, 2)
        sampled = F.grid_sample(feature, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        term = (sampled * weights[:, None, :, level]).sum(-1)  # [N*heads, dim, Q]
        out = term if out is None else out + term
    return out.view(batch, heads * dim, queries).transpose(1, 2).contiguous()


def _linear32(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x.float(), layer.weight.float(), layer.bias.float())


def grid_reference_points(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """Centres of a height x width grid as (x, y) in [0, 1], row-major: [H*W, 2]."""
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((grid_x.reshape(-1), grid_y.reshape(-1)), dim=-1)


def _offset_normalizer(level_shapes: LevelShapes, device: torch.device) -> torch.Tensor:
    return torch.tensor([(w, h) for h, w in level_shapes], dtype=torch.float32, device=device)


class MSDeformAttn(nn.Module):
    """Deformable attention of the ViT-Adapter: each query samples every level around its
    reference point, with a softmax over all levels and points."""

    def __init__(self, d_model: int, n_levels: int, n_heads: int, n_points: int, ratio: float) -> None:
        super().__init__()
        self.n_levels, self.n_heads, self.n_points = n_levels, n_heads, n_points
        self.value_dim = int(d_model * ratio)
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, self.value_dim)
        self.output_proj = nn.Linear(self.value_dim, d_model)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        features: torch.Tensor,
        level_shapes: LevelShapes,
    ) -> torch.Tensor:
        """query [N, Q, C]; reference_points [Q, R, 2] with R = 1 or n_levels; features [N, S, C]."""
        batch, queries, _ = query.shape
        value = self.value_proj(features).view(batch, features.shape[1], self.n_heads, -1)
        offsets = _linear32(self.sampling_offsets, query).view(
            batch, queries, self.n_heads, self.n_levels, self.n_points, 2
        )
        logits = _linear32(self.attention_weights, query).view(batch, queries, self.n_heads, -1)
        weights = logits.softmax(-1).view(batch, queries, self.n_heads, self.n_levels, self.n_points)
        normalizer = _offset_normalizer(level_shapes, query.device)
        locations = reference_points[None, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
        return self.output_proj(ms_deform_attn(value, level_shapes, locations, weights))


class MultiImageDeformableAttention(nn.Module):
    """Deformable attention from queries to the multi-scale features of several images.

    Each image gets its own sampling offsets (shared by its levels, scaled by each level's size
    relative to ``base_size``) and attention logits, conditioned on the image's position counted
    back from the query. Every (image, level) also has an "ignore" slot whose logit is fixed at
    ``-log(images * levels)`` so their total mass is constant: adding masked images changes
    nothing, and a query that may see no image attends to the learned ``ignore_token``.
    """

    def __init__(
        self,
        d_query: int,
        d_value: int,
        d_out: int,
        n_levels: int,
        n_heads: int,
        n_points: int,
        level_sizes: Sequence[int],
        base_size: int,
        max_images: int,
        d_attn: int | None = None,
    ) -> None:
        super().__init__()
        if len(level_sizes) != n_levels:
            raise ValueError(f"{len(level_sizes)} level sizes given for {n_levels} levels")
        self.n_levels, self.n_heads, self.n_points = n_levels, n_heads, n_points
        self.scale_ratios = tuple(s / base_size for s in level_sizes)
        value_dim = d_attn if d_attn is not None else d_value
        self.ignore_token = nn.Parameter(torch.zeros(1, 1, 1, value_dim), requires_grad=False)
        self.sampling_offsets = nn.Linear(d_query, n_heads * n_points * 2)
        self.dynamic_offset_mask = nn.Linear(d_query, d_query)
        self.attention_weights = nn.Linear(d_query, n_heads * n_levels * (n_points + 1))
        self.value_proj = nn.Linear(d_value, value_dim)
        self.output_proj = nn.Linear(value_dim, d_out)
        self.query_relpos = nn.Embedding(max_images, d_query)

    def project_value(self, features: torch.Tensor) -> torch.Tensor:
        """[N, images, S, C] -> [N, images * S, heads, dim]; cacheable across decoding steps."""
        batch, images, size, _ = features.shape
        return self.value_proj(features).reshape(batch, images * size, self.n_heads, -1)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        value: torch.Tensor,
        level_shapes: LevelShapes,
        image_mask: torch.Tensor,
    ) -> torch.Tensor:
        """query [N, Q, Cq]; reference_points [Q, 2] or [N, Q, 2]; value from ``project_value``;
        level_shapes: (H, W) of each level of one image; image_mask [N, images] or
        [N, Q, images], true where the query may see the image."""
        batch, queries, _ = query.shape
        images = image_mask.shape[-1]
        levels = images * self.n_levels
        mask = image_mask.long()
        if mask.dim() == 2:
            mask = mask[:, None, :].expand(batch, queries, images)
        # 1 for the nearest visible image, 2 for the one before, ...; 0 where masked.
        relpos = (mask.sum(-1, keepdim=True) + 1 - mask.cumsum(-1)) * mask  # [N, Q, images]
        q = self.dynamic_offset_mask(query)[:, None] + self.query_relpos(relpos.transpose(1, 2))

        offsets = _linear32(self.sampling_offsets, q).view(batch, images, queries, self.n_heads, 1, self.n_points, 2)
        scale = torch.tensor(self.scale_ratios, device=q.device)
        offsets = offsets * scale.view(1, 1, 1, 1, -1, 1, 1)  # [N, images, Q, heads, L, P, 2]
        offsets = offsets.permute(0, 2, 3, 1, 4, 5, 6).reshape(batch, queries, self.n_heads, levels, self.n_points, 2)

        logits = _linear32(self.attention_weights, q).view(
            batch, images, queries, self.n_heads, self.n_levels, self.n_points + 1
        )
        logits = logits.permute(0, 2, 3, 1, 4, 5).reshape(batch, queries, self.n_heads, levels, self.n_points + 1)
        hidden = (1.0 - mask.float()) * -10000.0  # [N, Q, images]
        logits = logits + hidden.repeat_interleave(self.n_levels, dim=-1)[:, :, None, :, None]
        logits[..., -1] = -math.log(levels)
        weights = logits.view(batch, queries, self.n_heads, -1).softmax(-1)
        weights = weights.view(batch, queries, self.n_heads, levels, self.n_points + 1)

        ignore_mass = weights[..., -1].sum(-1, keepdim=True)  # [N, Q, heads, 1]
        ignored = (ignore_mass * self.ignore_token.float().view(self.n_heads, -1)).flatten(2).to(value.dtype)

        all_shapes = list(level_shapes) * images
        normalizer = _offset_normalizer(all_shapes, q.device)
        if reference_points.dim() == 2:
            reference_points = reference_points[None]
        locations = reference_points[:, :, None, None, None, :] + offsets / normalizer[None, None, None, :, None, :]
        sampled = ms_deform_attn(value, all_shapes, locations, weights[..., :-1].contiguous())
        return self.output_proj(sampled + ignored)
