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
4. resample the image through it as torch's ``affine_grid``/``grid_sample`` do (bilinear, zeros
   outside, ``align_corners=True``, the transform expressed in the ``2x/size - 1`` coordinates
   the official code uses), clamp to [0, 255] and keep the top-left ``int(width) x int(height)``
   pixels, never more than the image itself.

Then the recogniser's input (``pre_process``): a crop more than 1.2 times taller than wide is
turned 90 degrees anticlockwise; it is scaled to height 48 and width ``ceil(48 * w / h)`` (at
most 320) by bilinear interpolation with ``align_corners=True`` and padded with black on the
right to 48 x 320.

The resampling is written in NumPy, single-threaded: torch's thread pool costs more than the
arithmetic on crops this small, and the results agree with torch's kernels to float rounding.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np
from PIL import Image

CROP_HEIGHT = 48
CROP_WIDTH = 320
#: Taller than this times the width counts as vertical text and is turned.
VERTICAL_RATIO = 1.2
#: The official code's box for a mask without any contour.
FALLBACK_BOX = np.array([[0, 0], [100, 0], [100, 100], [0, 100]])

PolygonPoints = Sequence[Sequence[float]]


def image_array(image: Image.Image) -> np.ndarray:
    """RGB pixels as a float32 (H, W, 3) array in [0, 255], the official crop's input."""
    return np.asarray(image.convert("RGB"), dtype=np.float32)


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
    onto ``target`` points best in least squares (Umeyama, 1991), in the dtype of the points
    (float32 for the crop's corners, as in the official code)."""
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
    # Float64 arithmetic on float32 statistics, as NumPy 1.x evaluated the official expression.
    scale = 1.0 / float(source_centred.var(axis=0).sum()) * float(singular @ signs)
    transform[:dim, dim] = target_mean - scale * (transform[:dim, :dim] @ source_mean)
    transform[:dim, :dim] *= scale
    return transform


def rectify_polygon(pixels: np.ndarray, polygon: PolygonPoints) -> np.ndarray:
    """The upright crop (h, w, 3) of one line from a float32 (H, W, 3) image."""
    height, width, channels = pixels.shape
    box = text_box(polygon_mask(height, width, polygon)).astype(np.float32)
    crop_width = max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3]))
    crop_height = max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2]))
    upright = np.array([[0, 0], [crop_width, 0], [crop_width, crop_height], [0, crop_height]], dtype=np.float32)
    columns, rows = min(int(crop_width), width), min(int(crop_height), height)
    if columns < 1 or rows < 1:
        return np.zeros((max(rows, 0), max(columns, 0), channels), dtype=np.float32)
    to_unit = np.array([[2 / width, 0, -1], [0, 2 / height, -1], [0, 0, 1]])
    transform = similarity_transform(box, upright)
    theta = np.linalg.inv(to_unit @ transform @ np.linalg.inv(to_unit))[:2].astype(np.float32)
    # affine_grid over the whole image, restricted to the rows and columns that are kept.
    xs = _unit_steps(width)[:columns][None, :]
    ys = _unit_steps(height)[:rows][:, None]
    grid_x = theta[0, 0] * xs + theta[0, 1] * ys + theta[0, 2]
    grid_y = theta[1, 0] * xs + theta[1, 1] * ys + theta[1, 2]
    return np.clip(_grid_sample(pixels, grid_x, grid_y), 0, 255)


def normalize_line_crop(crop: np.ndarray) -> Image.Image:
    """The 48 x 320 recogniser input of an (h, w, 3) crop, as an RGB image."""
    height, width = crop.shape[:2]
    if height > width * VERTICAL_RATIO:
        crop = np.rot90(crop)
        height, width = crop.shape[:2]
    canvas = np.zeros((CROP_HEIGHT, CROP_WIDTH, crop.shape[2]), dtype=np.float32)
    if height >= 1 and width >= 1:
        wanted = math.ceil(CROP_HEIGHT * (width / float(height)))
        resized_width = CROP_WIDTH if wanted > CROP_WIDTH else int(wanted)
        canvas[:, :resized_width] = _resize_align_corners(crop, CROP_HEIGHT, resized_width)
    pixels = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="RGB")


def line_crops(image: Image.Image, polygons: Sequence[PolygonPoints]) -> list[Image.Image]:
    """Recogniser inputs for every polygon of one image, in order."""
    pixels = image_array(image)
    return [normalize_line_crop(rectify_polygon(pixels, polygon)) for polygon in polygons]


def _unit_steps(steps: int) -> np.ndarray:
    """``affine_grid``'s sample positions along one axis with ``align_corners=True``."""
    if steps <= 1:
        return np.zeros(max(steps, 1), dtype=np.float32)
    # torch's float32 linspace: from the start below halfway, from the end above it.
    step = np.float32(2) / np.float32(steps - 1)
    index = np.arange(steps, dtype=np.float32)
    return np.where(index < steps // 2, np.float32(-1) + step * index, np.float32(1) - step * (steps - 1 - index))


def _grid_sample(pixels: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray) -> np.ndarray:
    """``grid_sample`` (bilinear, zeros outside, ``align_corners=True``) of an (H, W, C) image at
    unit coordinates; the result is (h, w, C)."""
    height, width = pixels.shape[:2]
    x = (grid_x + 1) / 2 * (width - 1)
    y = (grid_y + 1) / 2 * (height - 1)
    left, top = np.floor(x), np.floor(y)
    right, bottom = left + 1, top + 1
    result = np.zeros(grid_x.shape + pixels.shape[2:], dtype=np.float32)
    for corner_x, corner_y, weight in (
        (left, top, (right - x) * (bottom - y)),
        (right, top, (x - left) * (bottom - y)),
        (left, bottom, (right - x) * (y - top)),
        (right, bottom, (x - left) * (y - top)),
    ):
        inside = (corner_x >= 0) & (corner_x < width) & (corner_y >= 0) & (corner_y < height)
        columns = np.where(inside, corner_x, 0).astype(np.intp)
        rows = np.where(inside, corner_y, 0).astype(np.intp)
        result += np.where(inside, weight, 0)[..., None] * pixels[rows, columns]
    return result


def _resize_align_corners(image: np.ndarray, out_height: int, out_width: int) -> np.ndarray:
    """Bilinear resize of an (h, w, C) image with ``align_corners=True``, as ``F.interpolate``."""
    rows, row_weight = _source_positions(image.shape[0], out_height)
    columns, column_weight = _source_positions(image.shape[1], out_width)
    top, bottom = image[rows[0]], image[rows[1]]
    row0, row1 = (1 - row_weight)[:, None, None], row_weight[:, None, None]
    col0, col1 = (1 - column_weight)[None, :, None], column_weight[None, :, None]
    return row0 * (col0 * top[:, columns[0]] + col1 * top[:, columns[1]]) + row1 * (
        col0 * bottom[:, columns[0]] + col1 * bottom[:, columns[1]]
    )


def _source_positions(size: int, out_size: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    scale = np.float32((size - 1) / (out_size - 1)) if out_size > 1 else np.float32(0)
    position = scale * np.arange(out_size, dtype=np.float32)
    lower = position.astype(np.intp)
    upper = np.minimum(lower + 1, size - 1)
    return (lower, upper), (position - lower).astype(np.float32)
