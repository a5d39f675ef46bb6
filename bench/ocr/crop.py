"""Cutting one text line out of an image along its polygon, the way AnyText's evaluation does,
so that the recogniser sees the same crops as in the published numbers.

Steps: rasterise the polygon, keep its largest contour, take the minimum-area rectangle around
it, warp that rectangle upright, turn it when it is much taller than wide (vertical text), then
scale to the recogniser's height and pad to its width.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
from PIL import Image

CROP_HEIGHT = 48
CROP_WIDTH = 320
#: Taller than this times the width counts as vertical text and is turned.
VERTICAL_RATIO = 1.2


def rectify_polygon(image: Image.Image, polygon: Sequence[Sequence[float]]) -> Image.Image:
    """Upright crop of the minimum-area rectangle around ``polygon``."""
    rgb = np.asarray(image.convert("RGB"))
    mask = np.zeros(rgb.shape[:2], dtype=np.uint8)
    points = np.round(np.asarray(polygon, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(mask, [points], 255)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        raise ValueError("the polygon covers no pixel of the image")
    contour = max(contours, key=cv2.contourArea)
    rectangle = cv2.minAreaRect(contour)
    corners = _order_corners(cv2.boxPoints(rectangle))
    width = int(round(max(np.linalg.norm(corners[0] - corners[1]), np.linalg.norm(corners[2] - corners[3]))))
    height = int(round(max(np.linalg.norm(corners[0] - corners[3]), np.linalg.norm(corners[1] - corners[2]))))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32)
    transform = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    crop = cv2.warpPerspective(rgb, transform, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if height > VERTICAL_RATIO * width:
        crop = np.rot90(crop)
    return Image.fromarray(np.ascontiguousarray(crop))


def normalize_line_crop(crop: Image.Image) -> Image.Image:
    """Scale to the recogniser's height, keep the aspect ratio up to its width, pad the rest."""
    width, height = crop.size
    new_width = min(CROP_WIDTH, max(1, int(round(width * CROP_HEIGHT / max(height, 1)))))
    resized = crop.resize((new_width, CROP_HEIGHT), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (CROP_WIDTH, CROP_HEIGHT), (0, 0, 0))
    canvas.paste(resized, (0, 0))
    return canvas


def _order_corners(points: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left."""
    points = np.asarray(points, dtype=np.float64)
    sums = points.sum(axis=1)
    differences = np.diff(points, axis=1).ravel()
    return np.array(
        [points[np.argmin(sums)], points[np.argmin(differences)], points[np.argmax(sums)], points[np.argmax(differences)]]
    )
