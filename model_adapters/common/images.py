"""Request images as PIL images: the runner opens files before calling an adapter, but an
adapter called directly may still receive a path."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def open_image(source: Image.Image | Path, mode: str = "RGB") -> Image.Image:
    if isinstance(source, Image.Image):
        return source.convert(mode)
    with Image.open(source) as image:
        return image.convert(mode)


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` at ``size`` (width, height); untouched when it already is."""
    return image if image.size == size else image.resize(size, Image.Resampling.BICUBIC)
