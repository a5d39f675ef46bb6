"""Image files opened the one way every reader needs: fully loaded, converted, file closed."""

from __future__ import annotations

from pathlib import Path
from typing import Union

from PIL import Image

#: A file to open or an image already in memory.
ImageSource = Union[Path, Image.Image]


def open_image(source: ImageSource, mode: str = "RGB") -> Image.Image:
    """``source`` (a file or an image) in ``mode``; a file is read whole and closed at once, so
    no handle outlives the call."""
    if isinstance(source, Image.Image):
        return source.convert(mode)
    with Image.open(source) as image:
        return image.convert(mode)
