"""Request images as PIL images: the runner opens files before calling an adapter, but an
adapter called directly may still receive a path."""

from __future__ import annotations

from PIL import Image

from bench.images import open_image

__all__ = ["open_image", "resized"]


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` at ``size`` (width, height); untouched when it already is."""
    return image if image.size == size else image.resize(size, Image.Resampling.BICUBIC)
