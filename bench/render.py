"""Drawing text with known fonts and known boxes: the starter suite's data and the
``glyph-render`` baseline both need it.

Everything random is driven by a ``random.Random`` passed in, so a given seed always gives the
same pixels on the same Pillow/FreeType build.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_FOLDERS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"), Path("/usr/local/share/fonts"))
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansCondensed-Bold.ttf",
)

PALETTE_DARK = [(20, 20, 20), (30, 40, 110), (120, 20, 20), (10, 80, 40), (70, 30, 90)]
PALETTE_LIGHT = [(250, 250, 245), (255, 240, 200), (220, 235, 255), (235, 255, 235), (255, 225, 225)]


class FontsMissingError(FileNotFoundError):
    pass


@functools.lru_cache(maxsize=None)
def font_paths() -> tuple[Path, ...]:
    found = []
    for name in FONT_FILES:
        for folder in FONT_FOLDERS:
            if (folder / name).is_file():
                found.append(folder / name)
                break
    if not found:
        raise FontsMissingError(
            "the starter suite renders text with the DejaVu fonts, and none was found in "
            f"{', '.join(map(str, FONT_FOLDERS))}; install them with `apt-get install fonts-dejavu-core`"
        )
    return tuple(found)


@functools.lru_cache(maxsize=256)
def load_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def pick_font(rng: random.Random, size: int, bold_only: bool = False) -> ImageFont.FreeTypeFont:
    paths = [p for p in font_paths() if "Bold" in p.name] if bold_only else list(font_paths())
    return load_font(rng.choice(paths or list(font_paths())), size)


@dataclass(frozen=True)
class DrawnText:
    text: str
    #: Tight box of the ink, (x1, y1, x2, y2) in pixels.
    box: tuple[float, float, float, float]
    #: Corners of the text's rotated rectangle (clockwise from top-left).
    polygon: tuple[tuple[float, float], ...]


def text_size(font: ImageFont.FreeTypeFont, text: str) -> tuple[float, float]:
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom - top


def fit_font(path: Path, text: str, max_width: float, max_height: float, largest: int = 120) -> ImageFont.FreeTypeFont:
    """The largest size of ``path`` at which ``text`` fits the given box."""
    size = largest
    while size > 6:
        font = load_font(path, size)
        width, height = text_size(font, text)
        if width <= max_width and height <= max_height:
            return font
        size -= 2
    return load_font(path, 6)


def draw_text(image: Image.Image, position: tuple[float, float], text: str, font: ImageFont.FreeTypeFont,
              fill: tuple[int, int, int], angle: float = 0.0) -> DrawnText:
    """Draw ``text`` with its ink's top-left at ``position``, optionally rotated about its
    centre, and return where the ink actually went."""
    left, top, right, bottom = font.getbbox(text)
    width, height = right - left, bottom - top
    pad = 4
    layer = Image.new("L", (math.ceil(width) + 2 * pad, math.ceil(height) + 2 * pad), 0)
    ImageDraw.Draw(layer).text((pad - left, pad - top), text, font=font, fill=255)
    x, y = position
    if angle:
        rotated = layer.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
        dx = (rotated.width - layer.width) / 2
        dy = (rotated.height - layer.height) / 2
        origin = (int(round(x - pad - dx)), int(round(y - pad - dy)))
        layer = rotated
    else:
        origin = (int(round(x - pad)), int(round(y - pad)))
    colour = Image.new("RGB", layer.size, fill)
    image.paste(colour, origin, layer)
    ink = np.asarray(layer) > 64
    ys, xs = np.nonzero(ink)
    box = (
        float(origin[0] + xs.min()), float(origin[1] + ys.min()),
        float(origin[0] + xs.max() + 1), float(origin[1] + ys.max() + 1),
    )
    polygon = _rotated_rectangle(x, y, width, height, angle)
    return DrawnText(text, box, polygon)


def _rotated_rectangle(x: float, y: float, width: float, height: float, angle: float) -> tuple[tuple[float, float], ...]:
    cx, cy = x + width / 2, y + height / 2
    theta = np.deg2rad(-angle)  # PIL rotates counter-clockwise; image y points down
    cos, sin = np.cos(theta), np.sin(theta)
    corners = []
    for dx, dy in ((-width / 2, -height / 2), (width / 2, -height / 2), (width / 2, height / 2), (-width / 2, height / 2)):
        corners.append((round(cx + dx * cos - dy * sin, 1), round(cy + dx * sin + dy * cos, 1)))
    return tuple(corners)


def textured_background(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A vertical gradient with soft blobs: enough clutter that detection is not trivial."""
    width, height = size
    top = np.array([rng.randint(60, 230) for _ in range(3)], dtype=np.float32)
    bottom = np.array([rng.randint(60, 230) for _ in range(3)], dtype=np.float32)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    pixels = top * (1 - ramp) + bottom * ramp
    image = Image.fromarray(np.broadcast_to(pixels, (height, width, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(3, 7)):
        cx, cy, r = rng.randint(0, width), rng.randint(0, height), rng.randint(20, width // 3)
        shade = tuple(rng.randint(40, 220) for _ in range(3))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=shade)
    return image.filter(ImageFilter.GaussianBlur(radius=rng.uniform(6, 14)))


def degrade(image: Image.Image, rng: random.Random, blur: float, noise: float) -> Image.Image:
    """Camera-like blur and sensor noise, both optional (0 disables)."""
    if blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(radius=blur))
    if noise > 0:
        generator = np.random.default_rng(rng.randint(0, 2**31 - 1))
        pixels = np.asarray(image, dtype=np.float32)
        noisy = pixels + generator.normal(0.0, noise, pixels.shape)
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return image
