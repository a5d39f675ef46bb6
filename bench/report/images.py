"""Images embedded in reports: small JPEG thumbnails as ``data:`` URIs, so that one HTML file
holds everything and stays a few hundred kilobytes for a full run."""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, UnidentifiedImageError

from bench.images import open_image

logger = logging.getLogger(__name__)

THUMBNAIL_SIDE = 256
JPEG_QUALITY = 80
Box = Sequence[float]


def thumbnail_uri(source: Path | Image.Image, max_side: int = THUMBNAIL_SIDE,
                  boxes: Sequence[tuple[Box, str]] = ()) -> str | None:
    """A ``data:image/jpeg;base64,…`` URI of the image shrunk to ``max_side``, with ``boxes``
    (pixel coordinates of the original, each with a colour) drawn on it; ``None`` when the file
    is missing or unreadable."""
    try:
        image = open_image(source)
    except (OSError, UnidentifiedImageError) as error:
        logger.debug("cannot embed %s: %s", source, error)
        return None
    if boxes:
        draw = ImageDraw.Draw(image)
        width = max(2, round(max(image.size) / 100))
        for box, colour in boxes:
            x1, y1, x2, y2 = (float(v) for v in box)
            draw.rectangle([min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)], outline=colour, width=width)
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
