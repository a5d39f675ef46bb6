"""From a harness request to AnyText's inputs: the prompt with ``*`` placeholders, the canvas and
each text line's polygon on it, and the rendered text conditions.

Prompt. A prompt that already holds one ``*`` per text line (the ``anytext`` prompt style of
AnyText-benchmark) is used as is. Otherwise the texts are written into it double-quoted (the
caption's own quoted strings rewritten in the request's order, else ``, with "t1" "t2" written on
it`` appended) and each quoted string becomes `` * ``, as the ModelScope pipeline's
``modify_prompt`` does. Line i of the request fills placeholder i and is drawn at polygon i, as the
benchmark script pairs them. Texts are cut to ``max_chars`` characters and at most ``max_lines``
lines are kept (the benchmark script's 20 and 20).

Canvas. Generation samples a ``size`` square with the request's polygons scaled onto it; a request
without positions gets one full-width row per text. Editing samples the source image resized as
the ModelScope pipeline resizes it: the longer side to at most 768, then each side down to a
multiple of 64.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
from PIL import ImageFont

from bench.types import Polygon
from model_adapters.anytext.glyphs import GLYPH_SCALE, draw_glyph_canvas, draw_glyph_line, draw_position
from model_adapters.common.geometry import pixel_points, scale_polygon

PLACEHOLDER = "*"
#: The benchmark script's (``eval/anytext_singleGPU.py``) quality suffix and negative prompt.
ADDED_PROMPT = "best quality, extremely detailed"
NEGATIVE_PROMPT = (
    "longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer digits, cropped, "
    "worst quality, low quality, watermark"
)
_QUOTED = re.compile(r'"([^"]*)"')
_OTHER_QUOTES = ("'{}'", "“{}”", "‘{}’")
MAX_EDIT_SIDE = 768
SIDE_MULTIPLE = 64


@dataclass(frozen=True)
class TextLines:
    """A request's text conditions, one entry per line: glyph lines (80, 512, 1), glyph
    canvases (2H, 2W, 1) and position masks (H, W, 1), float 0/1."""

    lines: Sequence[np.ndarray]
    glyphs: Sequence[np.ndarray]
    positions: Sequence[np.ndarray]

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.positions[0].shape[:2]
        return width, height


@dataclass(frozen=True)
class TextLayout:
    texts: tuple[str, ...]
    polygons: tuple[Polygon, ...]


def limited(texts: Sequence[str], polygons: Sequence[Polygon], max_chars: int, max_lines: int) -> TextLayout:
    if len(texts) != len(polygons):
        raise ValueError(f"{len(texts)} texts for {len(polygons)} positions")
    return TextLayout(tuple(text[:max_chars] for text in texts[:max_lines]), tuple(polygons[:max_lines]))


def placeholder_prompt(caption: str, texts: Sequence[str]) -> str:
    if caption.count(PLACEHOLDER) == len(texts):
        return caption
    quoted = quoted_prompt(caption.replace(PLACEHOLDER, " "), texts)
    for text in texts:
        quoted = quoted.replace(f'"{text.replace(chr(34), chr(39))}"', f" {PLACEHOLDER} ", 1)
    return quoted


def canvas_polygons(polygons: Sequence[Polygon], source: tuple[int, int], canvas: tuple[int, int]) -> list[np.ndarray]:
    return [pixel_points(scale_polygon(polygon, source, canvas)) for polygon in polygons]


def edit_canvas(image: np.ndarray) -> np.ndarray:
    """``resize_image`` of the ModelScope pipeline."""
    height, width = image.shape[:2]
    if max(height, width) > MAX_EDIT_SIDE:
        factor = MAX_EDIT_SIDE / max(height, width)
        image = cv2.resize(image, (int(round(width * factor)), int(round(height * factor))))
        height, width = image.shape[:2]
    if min(height, width) < SIDE_MULTIPLE:
        raise ValueError(f"AnyText edits images of at least {SIDE_MULTIPLE} px a side, got {width}×{height}")
    return cv2.resize(image, (width - width % SIDE_MULTIPLE, height - height % SIDE_MULTIPLE))


def render(font: ImageFont.FreeTypeFont, texts: Sequence[str], polygons: Sequence[np.ndarray], size: tuple[int, int],
           add_space: bool = True) -> TextLines:
    """The text conditions on a canvas of ``size`` (width, height). No text: one empty line, as
    the ModelScope pipeline conditions a prompt without quoted text."""
    width, height = size
    if not texts:
        empty = np.zeros((80, 512, 1))
        return TextLines([empty], [np.zeros((height * GLYPH_SCALE, width * GLYPH_SCALE, 1))], [np.zeros((height, width, 1))])
    return TextLines(
        lines=[draw_glyph_line(font, text) for text in texts],
        glyphs=[draw_glyph_canvas(font, text, polygon, width, height, add_space=add_space) for text, polygon in zip(texts, polygons)],
        positions=[draw_position(polygon, width, height) for polygon in polygons],
    )


def quoted_prompt(caption: str, texts: Sequence[str]) -> str:
    """The caption with exactly ``texts`` double-quoted, in the given order.

    Texts quoted another way ('x', “x”, ‘x’) are requoted with double quotes; when the caption's
    double-quoted strings are then the texts (in any order) they are rewritten in place in the
    wanted order, else the caption's double quotes are dropped and the texts appended.
    """
    texts = [text.replace('"', "'") for text in texts]
    requoted = caption
    for text in texts:
        if f'"{text}"' in requoted:
            continue
        for pattern in _OTHER_QUOTES:
            if pattern.format(text) in requoted:
                requoted = requoted.replace(pattern.format(text), f'"{text}"', 1)
                break
    if sorted(_QUOTED.findall(requoted)) == sorted(texts):
        remaining = iter(texts)
        return _QUOTED.sub(lambda _: f'"{next(remaining)}"', requoted)
    if not texts:
        return caption.replace('"', "")
    listed = " ".join(f'"{text}"' for text in texts)
    return f"{caption.replace(chr(34), '').rstrip(' ,.')}, with {listed} written on it"


def stacked_rows(count: int, size: int) -> list[Polygon]:
    """A layout for texts that come without one: full-width rows, stacked from the top, with a
    margin so that neighbouring regions never touch."""
    if count == 0:
        return []
    band = size / count
    margin_x, margin_y = size * 0.1, band * 0.2
    rows = []
    for index in range(count):
        top, bottom = index * band + margin_y, (index + 1) * band - margin_y
        rows.append(((margin_x, top), (size - margin_x, top), (size - margin_x, bottom), (margin_x, bottom)))
    return rows
