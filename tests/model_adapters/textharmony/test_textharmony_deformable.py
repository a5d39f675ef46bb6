"""Deformable attention against an explicit bilinear-sampling loop, and the ignore-slot property."""

from __future__ import annotations

import math

import torch

from model_adapters.textharmony.deformable_attention import (
    MultiImageDeformableAttention,
    grid_reference_points,
    ms_deform_attn,
)


def naive_ms_deform_attn(value, level_shapes, locations, weights):
    """Per query, head, level and point: the four neighbouring pixels, weighted by distance;
    pixels outside the map count as zero."""
    batch, _, heads, dim = value.shape
    _, queries, _, levels, points, _ = locations.shape
    starts = [0]
    for h, w in level_shapes:
        starts.append(starts[-1] + h * w)
    out = torch.zeros(batch, queries, heads, dim, dtype=torch.float64)
    for n in range(batch):
        for q in range(queries):
            for m in range(heads):
                for lvl, (h, w) in enumerate(level_shapes):
                    for p in range(points):
                        x = locations[n, q, m, lvl, p, 0].item() * w - 0.5
                        y = locations[n, q, m, lvl, p, 1].item() * h - 0.5
                        x0, y0 = math.floor(x), math.floor(y)
                        sample = torch.zeros(dim, dtype=torch.float64)
                        for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                            if 0 <= yy < h and 0 <= xx < w:
                                share = (1 - abs(x - xx)) * (1 - abs(y - yy))
                                sample += share * value[n, starts[lvl] + yy * w + xx, m].double()
                        out[n, q, m] += weights[n, q, m, lvl, p].item() * sample
    return out.reshape(batch, queries, heads * dim)


def test_grid_sample_matches_explicit_bilinear_loop():
    generator = torch.Generator().manual_seed(0)
    shapes = [(4, 5), (2, 3)]
    batch, queries, heads, dim, points = 2, 3, 2, 4, 3
    value = torch.randn(batch, sum(h * w for h, w in shapes), heads, dim, generator=generator)
    # Include points outside the map and exactly on pixel centres.
    locations = torch.rand(batch, queries, heads, len(shapes), points, 2, generator=generator) * 1.4 - 0.2
    locations[0, 0, 0, 0, 0] = torch.tensor([0.5 / 5, 1.5 / 4])
    weights = torch.rand(batch, queries, heads, len(shapes), points, generator=generator)
    ours = ms_deform_attn(value, shapes, locations, weights)
    reference = naive_ms_deform_attn(value, shapes, locations, weights)
    torch.testing.assert_close(ours.double(), reference, rtol=1e-5, atol=1e-5)


def _attention(seed=0):
    torch.manual_seed(seed)
    attn = MultiImageDeformableAttention(
        d_query=8, d_value=6, d_out=8, n_levels=2, n_heads=2, n_points=2, level_sizes=(4, 2), base_size=2, max_images=5
    )
    with torch.no_grad():
        attn.ignore_token.normal_()
    return attn


def test_masked_images_change_nothing():
    """The ignore slots' total mass is constant, so an extra masked image is invisible; this is
    why a prompt can stop before the image being generated."""
    attn = _attention()
    shapes = [(4, 4), (2, 2)]
    query = torch.randn(1, 3, 8)
    reference = grid_reference_points(1, 1).expand(3, 2)
    one = torch.randn(1, 1, 20, 6)
    two = torch.cat((one, torch.randn(1, 1, 20, 6)), dim=1)
    with torch.no_grad():
        alone = attn(query, reference, attn.project_value(one), shapes, torch.ones(1, 3, 1))
        masked = attn(query, reference, attn.project_value(two), shapes, torch.tensor([[[1, 0]] * 3]))
    torch.testing.assert_close(alone, masked, rtol=1e-5, atol=1e-6)


def test_no_visible_image_gives_the_ignore_token():
    attn = _attention()
    query = torch.randn(2, 4, 8)
    features = torch.randn(2, 1, 20, 6)
    with torch.no_grad():
        out = attn(query, grid_reference_points(1, 1).expand(4, 2), attn.project_value(features), [(4, 4), (2, 2)],
                   torch.zeros(2, 4, 1))
        expected = attn.output_proj(attn.ignore_token.view(-1)).expand_as(out)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
