"""Text positions as pixels: polygon masks, and polygons carried from one image size to another."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
from PIL import Image

from bench.types import Polygon


def polygon_mask(size: tuple[int, int], polygons: Sequence[Polygon]) -> Image.Image:
    """White (255) inside any of ``polygons``, black elsewhere; ``size`` is (width, height)."""
    width, height = size
    mask = np.zeros((height, width), dtype=np.uint8)
    for polygon in polygons:
        cv2.fillPoly(mask, [pixel_points(polygon)], 255)
    return Image.fromarray(mask)


def pixel_points(polygon: Sequence[Sequence[float]]) -> np.ndarray:
    """A polygon as the int32 points OpenCV draws, rounded to the pixel."""
    return np.round(np.asarray(polygon, dtype=np.float64)).astype(np.int32)


def scale_polygon(polygon: Polygon, source: tuple[int, int], target: tuple[int, int]) -> Polygon:
    """Map a polygon from an image of size ``source`` to the same place in one of size ``target``."""
    sx, sy = target[0] / source[0], target[1] / source[1]
    return tuple((float(x) * sx, float(y) * sy) for x, y in polygon)
