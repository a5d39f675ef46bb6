"""``glyph-render``: writes the requested text with a font, no model involved.

For generation it draws each requested text on a plain canvas (inside its polygon when the
request gives a layout, else one line each, centred); for editing it paints each polygon with
the colour around it and writes the new text inside. No image model can beat clean glyphs on
OCR-based metrics, so its scores are the ceiling those metrics allow with a given OCR engine,
and a check that the scorers read clean text correctly.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw

from bench.adapter import ModelAdapter, register_adapter
from bench.render import fit_font, font_paths
from bench.types import EditImageRequest, GenerateImageRequest, Polygon, RequestKind

_QUOTED = re.compile(r"['\"“‘](.+?)['\"”’]")


@dataclass(frozen=True)
class GlyphRenderOptions:
    #: Index into the DejaVu fonts found on the machine (0: DejaVu Sans).
    font: int = 1
    #: Fraction of the available width/height the text may use.
    fill: float = 0.8


@register_adapter("glyph-render")
class GlyphRenderAdapter(ModelAdapter):
    supported_kinds = frozenset({RequestKind.GENERATE_IMAGE, RequestKind.EDIT_IMAGE})
    Options = GlyphRenderOptions
    default_batch_size = 8

    def _font_path(self):
        paths = font_paths()
        return paths[self.options.font % len(paths)]

    def generate_image(self, requests: Sequence[GenerateImageRequest]) -> list[list[Image.Image]]:
        return [[self._generate(request, index) for index in range(request.num_images)] for request in requests]

    def edit_image(self, requests: Sequence[EditImageRequest]) -> list[list[Image.Image]]:
        return [[self._edit(request, index) for index in range(request.num_images)] for request in requests]

    def _generate(self, request: GenerateImageRequest, index: int) -> Image.Image:
        rng = random.Random(request.seed + index)
        background = tuple(rng.randint(215, 255) for _ in range(3))
        ink = tuple(rng.randint(0, 50) for _ in range(3))
        image = Image.new("RGB", (request.width, request.height), background)
        texts = list(request.texts) or _QUOTED.findall(request.prompt)
        if request.positions and len(request.positions) == len(texts):
            for text, polygon in zip(texts, request.positions):
                self._write_in_polygon(image, polygon, text, ink)
            return image
        if not texts:
            return image
        slot = request.height / len(texts)
        for row, text in enumerate(texts):
            top = row * slot
            polygon = ((0.0, top), (float(request.width), top), (float(request.width), top + slot), (0.0, top + slot))
            self._write_in_polygon(image, polygon, text, ink)
        return image

    def _edit(self, request: EditImageRequest, index: int) -> Image.Image:
        image = request.image.copy() if isinstance(request.image, Image.Image) else Image.open(request.image).convert("RGB")
        for polygon, text in zip(request.polygons, request.texts):
            background = _surrounding_colour(image, polygon)
            ImageDraw.Draw(image).polygon([tuple(p) for p in polygon], fill=background)
            ink = (0, 0, 0) if sum(background) > 3 * 110 else (255, 255, 255)
            self._write_in_polygon(image, polygon, text, ink)
        return image

    def _write_in_polygon(self, image: Image.Image, polygon: Polygon, text: str, ink: tuple[int, ...]) -> None:
        """Fit ``text`` to the polygon's rectangle, turned with it."""
        (cx, cy), (width, height), angle = text_rectangle(polygon)
        font = fit_font(self._font_path(), text, width * self.options.fill, height * self.options.fill, largest=200)
        left, top, right, bottom = font.getbbox(text)
        layer = Image.new("L", (right - left + 8, bottom - top + 8), 0)
        ImageDraw.Draw(layer).text((4 - left, 4 - top), text, font=font, fill=255)
        if abs(angle) > 0.5:
            layer = layer.rotate(-angle, resample=Image.Resampling.BICUBIC, expand=True)
        origin = (int(round(cx - layer.width / 2)), int(round(cy - layer.height / 2)))
        image.paste(Image.new("RGB", layer.size, tuple(ink)), origin, layer)


def text_rectangle(polygon: Polygon) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Centre, (width, height) and clockwise angle in degrees of the text box.

    A quadrilateral is read as text annotations write it (top-left, top-right, bottom-right,
    bottom-left), so its first edge gives the writing direction; other polygons take the
    minimum-area rectangle, with the longer side as the writing direction.
    """
    points = np.asarray(polygon, dtype=np.float64)
    if len(points) == 4:
        top, side = points[1] - points[0], points[3] - points[0]
        centre = points.mean(axis=0)
        angle = float(np.degrees(np.arctan2(top[1], top[0])))
        return (float(centre[0]), float(centre[1])), (float(np.hypot(*top)), float(np.hypot(*side))), angle
    (cx, cy), (width, height), angle = cv2.minAreaRect(points.astype(np.float32))
    if width < height:
        width, height, angle = height, width, angle - 90.0
    angle = (angle + 90.0) % 180.0 - 90.0
    return (cx, cy), (width, height), angle


def _surrounding_colour(image: Image.Image, polygon: Polygon) -> tuple[int, int, int]:
    """Median colour of a thin band just outside the polygon: what the text sits on."""
    pixels = np.asarray(image.convert("RGB"))
    inside = np.zeros(pixels.shape[:2], dtype=np.uint8)
    cv2.fillPoly(inside, [np.round(np.asarray(polygon)).astype(np.int32)], 1)
    band = cv2.dilate(inside, np.ones((9, 9), np.uint8)) - inside
    if not band.any():
        return (255, 255, 255)
    return tuple(int(v) for v in np.median(pixels[band.astype(bool)], axis=0))

