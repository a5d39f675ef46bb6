"""AnyText's text conditions drawn from texts and polygons (``t3_dataset.py`` of the release):
the glyph line (the text alone, 80 × 512, read by the OCR recogniser), the glyph canvas (the text
drawn inside its polygon's rotated rectangle at twice the image's resolution) and the position
mask (the filled polygon).

The release runs Pillow 9.5, whose ``getsize`` and ``getoffset`` are the right/bottom and
left/top of ``getbbox``; they are written so here. Arrays are float64 0/1, (H, W, 1), as the
release hands them on.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

LINE_SIZE = (512, 80)
#: The glyph canvas is drawn at this multiple of the image's resolution.
GLYPH_SCALE = 2
#: Rectangles within this many degrees of a right angle and taller than wide are drawn vertically.
VERTICAL_ANGLE = 10


class FontError(FileNotFoundError):
    pass


def load_font(path: Path | None) -> ImageFont.FreeTypeFont:
    """The font glyphs are drawn with; the release ships Arial Unicode (``font/Arial_Unicode.ttf``)."""
    if path is None or not Path(path).is_file():
        raise FontError(
            f"AnyText draws its glyphs with a font file and {path} is not one; pass --model-args font_path=FILE.ttf "
            "(the release uses Arial_Unicode.ttf; any TrueType font covering the texts works, e.g. "
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf from `apt-get install fonts-dejavu-core`)"
        )
    return ImageFont.truetype(str(path), size=60)


def insert_spaces(text: str, count: int) -> str:
    return text if count == 0 else (" " * count).join(text)


def draw_glyph_line(font: ImageFont.FreeTypeFont, text: str) -> np.ndarray:
    """``draw_glyph``: the text centred on a black 512 × 80 line, 90 % of its width or height."""
    width, height = LINE_SIZE
    base = font.font_variant(size=50)
    image = Image.new(mode="1", size=LINE_SIZE, color=0)
    left, top, right, bottom = base.getbbox(text)
    ratio = min(width * 0.9 / max(right - left, 5), height * 0.9 / max(bottom - top, 5))
    sized = font.font_variant(size=int(50 * ratio))
    offset_x, offset_y, text_width, text_height = sized.getbbox(text)
    x = (image.width - text_width) // 2
    y = (image.height - text_height) // 2 - offset_y // 2
    ImageDraw.Draw(image).text((x, y), text, font=sized, fill="white")
    return np.expand_dims(np.array(image), axis=2).astype(np.float64)


def draw_glyph_canvas(font: ImageFont.FreeTypeFont, text: str, polygon: np.ndarray, width: int, height: int,
                      scale: int = GLYPH_SCALE, add_space: bool = True) -> np.ndarray:
    """``draw_glyph2``: the text fitted into the polygon's minimum-area rectangle, rotated with
    it, on a black (height × scale, width × scale) canvas; widened with spaces while it fits
    (``add_space``); drawn character under character when the rectangle is upright and tall."""
    rect = min_area_rect(polygon * scale)
    box = np.intp(cv2.boxPoints(rect))
    w, h = rect[1]
    angle = rect[2]
    if angle < -45:
        angle += 90
    angle = -angle
    if w < h:
        angle += 90
    vertical = False
    box_width = max(box[:, 0]) - min(box[:, 0])
    if abs(angle) % 90 < VERTICAL_ANGLE or abs(90 - abs(angle) % 90) % 90 < VERTICAL_ANGLE:
        if max(box[:, 1]) - min(box[:, 1]) >= box_width:
            vertical, angle = True, 0

    canvas = Image.fromarray(np.zeros((height * scale, width * scale, 3), np.uint8))
    measure = ImageDraw.Draw(Image.new("RGB", canvas.size, "white"))
    _, _, base_width, base_height = measure.textbbox(xy=(0, 0), text=text, font=font)
    text_w = min(w, h) * (base_width / base_height)
    if text_w <= max(w, h):
        if len(text) > 1 and not vertical and add_space:
            for count in range(1, 100):
                _, _, spaced_width, spaced_height = measure.textbbox(xy=(0, 0), text=insert_spaces(text, count), font=font)
                if min(w, h) * (spaced_width / spaced_height) > max(w, h):
                    break
            text = insert_spaces(text, count - 1)
        font_size = min(w, h) * 0.80
    else:
        shrink = 0.75 if vertical else 0.85
        font_size = min(w, h) / (text_w / max(w, h)) * shrink
    sized = font.font_variant(size=int(font_size))
    left, top, right, bottom = sized.getbbox(text)
    text_width, text_height = right - left, bottom - top

    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    if not vertical:
        draw.text((rect[0][0] - text_width // 2, rect[0][1] - text_height // 2 - top), text, font=sized, fill=(255, 255, 255, 255))
    else:
        x = min(box[:, 0]) + box_width // 2 - text_height // 2
        y = min(box[:, 1])
        for char in text:
            draw.text((x, y), char, font=sized, fill=(255, 255, 255, 255))
            y += sized.getbbox(char)[3]
    rotated = layer.rotate(angle, expand=True, center=(rect[0][0], rect[0][1]))
    canvas.paste(rotated, (int((canvas.width - rotated.width) / 2), int((canvas.height - rotated.height) / 2)), rotated)
    return np.expand_dims(np.array(canvas.convert("1")), axis=2).astype(np.float64)


def min_area_rect(points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float], float]:
    """``cv2.minAreaRect`` as OpenCV 4.5-4.x gives it (the release's 4.7): the angle in (0, 90]
    and the sizes to match. OpenCV 5 reports the same rectangle with the angle in [-90, 0)."""
    center, (w, h), angle = cv2.minAreaRect(points)
    while angle <= 0:
        angle, w, h = angle + 90, h, w
    while angle > 90:
        angle, w, h = angle - 90, h, w
    return center, (w, h), angle


def draw_position(polygon: np.ndarray, width: int, height: int) -> np.ndarray:
    """The benchmark script's ``draw_pos``: the filled polygon on a black canvas."""
    image = np.zeros((height, width, 1))
    cv2.fillPoly(image, [polygon.reshape((-1, 1, 2))], color=255)
    return image / 255.0
