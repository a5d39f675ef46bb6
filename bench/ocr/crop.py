"""Cutting text lines out of an image the way AnyText's evaluation does (``eval/eval_dgocr.py``
and ``cldm/recognizer.py`` of tyxsspa/AnyText), so that a recogniser sees the crops behind the
published Sen.ACC and NED.

For each line:

1. rasterise its polygon (``cv2.fillPoly``, vertices truncated to integers) into a mask;
2. take the largest outer contour's minimum-area rectangle, its corners truncated to integers
   and ordered top-left, top-right, bottom-right, bottom-left by sorting on x, then on y;
   an empty mask falls back to the box (0, 0)-(100, 100), as the official code does;
3. fit the similarity transform (rotation, uniform scale, shift: Umeyama's least squares) from
   those corners to an upright rectangle as wide and as tall as the longer of its opposite sides;
4. resample the image through it with ``affine_grid``/``grid_sample`` (bilinear, zeros outside,
   ``align_corners=True``, the transform expressed in the ``2x/size - 1`` coordinates the
   official code uses), clamp to [0, 255] and keep the top-left ``int(width) x int(height)``
   pixels, never more than the image itself.

Then the recogniser's input (``pre_process``): a crop more than 1.2 times taller than wide is
turned 90 degrees anticlockwise; it is scaled to height 48 and width ``ceil(48 * w / h)`` (at
most 320) by bilinear interpolation with ``align_corners=True`` and padded with black on the
right to 48 x 320.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

CROP_HEIGHT = 48
CROP_WIDTH = 320
#: Taller than this times the width counts as vertical text and is turned.
VERTICAL_RATIO = 1.2
#: The official code's box for a mask without any contour.
FALLBACK_BOX = np.array([[0, 0], [100, 0], [100, 100], [0, 100]])

PolygonPoints = Sequence[Sequence[float]]


def image_tensor(image: Image.Image) -> torch.Tensor:
    """RGB pixels as a float32 (3, H, W) tensor in [0, 255], the official crop's input."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float()


def polygon_mask(height: int, width: int, polygon: PolygonPoints) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    points = np.asarray(polygon, dtype=np.float64).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(mask, [points], 255)
    return mask


def text_box(mask: np.ndarray) -> np.ndarray:
    """Integer corners (top-left, top-right, bottom-right, bottom-left) of the minimum-area
    rectangle around the mask's largest outer contour."""
    _, binary = cv2.threshold(mask, 127, 255, cv2.THRESH_BINARY)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return FALLBACK_BOX.copy()
    largest = max(contours, key=cv2.contourArea)
    corners = cv2.boxPoints(cv2.minAreaRect(largest)).astype(np.intp)
    by_x = sorted(corners, key=lambda point: point[0])
    top_left, bottom_left = sorted(by_x[:2], key=lambda point: point[1])
    top_right, bottom_right = sorted(by_x[2:], key=lambda point: point[1])
    return np.array([top_left, top_right, bottom_right, bottom_left])


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3x3 similarity (rotation, uniform scale, translation) that maps ``source`` points
    onto ``target`` points best in least squares (Umeyama, 1991)."""
    source = np.asarray(source)
    target = np.asarray(target)
    count, dim = source.shape
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = target_centred.T @ source_centred / count
    signs = np.ones(dim)
    if np.linalg.det(covariance) < 0:
        signs[-1] = -1
    transform = np.eye(dim + 1)
    u, singular, vt = np.linalg.svd(covariance)
    rank = np.linalg.matrix_rank(covariance)
    if rank == 0:
        return np.full_like(transform, np.nan)
    if rank == dim - 1 and np.linalg.det(u) * np.linalg.det(vt) <= 0:
        flipped = signs.copy()
        flipped[-1] = -1
        transform[:dim, :dim] = u @ np.diag(flipped) @ vt
    elif rank == dim - 1:
        transform[:dim, :dim] = u @ vt
    else:
        transform[:dim, :dim] = u @ np.diag(signs) @ vt
    scale = (singular @ signs) / source_centred.var(axis=0).sum()
    transform[:dim, dim] = target_mean - scale * (transform[:dim, :dim] @ source_mean)
    transform[:dim, :dim] *= scale
    return transform


def rectify_polygon(pixels: torch.Tensor, polygon: PolygonPoints) -> torch.Tensor:
    """The upright crop (3, h, w) of one line from a (3, H, W) float image."""
    channels, height, width = pixels.shape
    box = text_box(polygon_mask(height, width, polygon)).astype(np.float32)
    crop_width = max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3]))
    crop_height = max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2]))
    upright = np.array([[0, 0], [crop_width, 0], [crop_width, crop_height], [0, crop_height]], dtype=np.float32)
    columns, rows = min(int(crop_width), width), min(int(crop_height), height)
    if columns < 1 or rows < 1:
        return pixels.new_zeros((channels, max(rows, 0), max(columns, 0)))
    to_unit = np.array([[2 / width, 0, -1], [0, 2 / height, -1], [0, 0, 1]])
    transform = similarity_transform(box, upright)
    theta = torch.from_numpy(np.linalg.inv(to_unit @ transform @ np.linalg.inv(to_unit))[:2]).float()
    # affine_grid over the whole image, restricted to the rows and columns that are kept.
    xs = _unit_steps(width)[:columns]
    ys = _unit_steps(height)[:rows]
    base = torch.stack(
        (xs.expand(rows, columns), ys[:, None].expand(rows, columns), torch.ones(rows, columns)), dim=-1
    )
    grid = base.view(1, rows * columns, 3).bmm(theta.t()[None]).view(1, rows, columns, 2)
    sampled = F.grid_sample(pixels[None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return sampled[0].clamp(0, 255)


def normalize_line_crop(crop: torch.Tensor) -> Image.Image:
    """The 48 x 320 recogniser input of a (3, h, w) crop, as an RGB image."""
    channels, height, width = crop.shape
    if height > width * VERTICAL_RATIO:
        crop = crop.transpose(1, 2).flip(dims=[1])
        channels, height, width = crop.shape
    canvas = torch.zeros((channels, CROP_HEIGHT, CROP_WIDTH), dtype=torch.float32)
    if height >= 1 and width >= 1:
        wanted = math.ceil(CROP_HEIGHT * (width / float(height)))
        resized_width = CROP_WIDTH if wanted > CROP_WIDTH else int(wanted)
        resized = F.interpolate(crop[None], size=(CROP_HEIGHT, resized_width), mode="bilinear", align_corners=True)
        canvas[:, :, :resized_width] = resized[0]
    pixels = canvas.permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(np.ascontiguousarray(pixels), mode="RGB")


def line_crops(image: Image.Image, polygons: Sequence[PolygonPoints]) -> list[Image.Image]:
    """Recogniser inputs for every polygon of one image, in order."""
    pixels = image_tensor(image)
    return [normalize_line_crop(rectify_polygon(pixels, polygon)) for polygon in polygons]


def _unit_steps(steps: int) -> torch.Tensor:
    """``affine_grid``'s sample positions along one axis with ``align_corners=True``."""
    if steps <= 1:
        return torch.zeros(max(steps, 1))
    return torch.linspace(-1, 1, steps)
