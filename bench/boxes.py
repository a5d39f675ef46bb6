"""Reading a box out of a model's text answer.

Models write boxes in many shapes — ``[x1, y1, x2, y2]``, ``(x1,y1),(x2,y2)``, a list of
polygon points — and in several coordinate frames: pixels of the image, 0–1 fractions, a
0–1000 grid, or pixels of the frame the model resized the image to (TextHarmony: 448×448).
The frame is a property of the model's prompt profile, never guessed from the numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Box = tuple[float, float, float, float]

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
#: A bracketed or parenthesised group holding numbers (and nested point pairs).
_GROUP_RE = re.compile(r"[\[(<{](?:[\s,;]*[\[(]?\s*" + _NUMBER + r"\s*[\])]?)+[\s,;]*[\])>}]")


@dataclass(frozen=True)
class BoxFormat:
    #: ``pixel``: image pixels; ``normalized``: 0–1; ``grid1000``: 0–1000; ``frame``: pixels of
    #: a ``frame`` = (width, height) that the image was resized to.
    coordinates: Literal["pixel", "normalized", "grid1000", "frame"] = "pixel"
    frame: tuple[int, int] | None = None


def parse_box(text: str, box_format: BoxFormat, image_size: tuple[int, int]) -> Box | None:
    """The first box in ``text``, in image pixels, or ``None`` when there is none.

    Four numbers are a box (x1, y1, x2, y2); six or more (an even count) are polygon points
    whose bounds are the box. Corners are put in order, so (x2, y2, x1, y1) reads the same.
    """
    numbers = _first_coordinates(text)
    if numbers is None:
        return None
    if len(numbers) == 4:
        x1, y1, x2, y2 = numbers
    else:
        xs, ys = numbers[0::2], numbers[1::2]
        x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
    sx, sy = _scale(box_format, image_size)
    return (min(x1, x2) * sx, min(y1, y2) * sy, max(x1, x2) * sx, max(y1, y2) * sy)


def _first_coordinates(text: str) -> list[float] | None:
    for match in _GROUP_RE.finditer(text):
        numbers = [float(n) for n in _NUMBER_RE.findall(match.group(0))]
        if _usable(numbers):
            return numbers
        if len(numbers) == 2:
            # "(x1,y1),(x2,y2)" and point lists: gather the consecutive pairs that follow.
            pairs = _NUMBER_RE.findall(text[match.start():_end_of_point_list(text, match.start())])
            numbers = [float(n) for n in pairs]
            if _usable(numbers):
                return numbers
    numbers = [float(n) for n in _NUMBER_RE.findall(text)]
    return numbers if len(numbers) == 4 else None


def _usable(numbers: list[float]) -> bool:
    return len(numbers) == 4 or (len(numbers) >= 6 and len(numbers) % 2 == 0)


def _end_of_point_list(text: str, start: int) -> int:
    point = re.compile(r"\s*[,;]?\s*[\[(]\s*" + _NUMBER + r"\s*,\s*" + _NUMBER + r"\s*[\])]")
    position = start
    while True:
        match = point.match(text, position)
        if not match:
            return position
        position = match.end()


def _scale(box_format: BoxFormat, image_size: tuple[int, int]) -> tuple[float, float]:
    width, height = image_size
    if box_format.coordinates == "pixel":
        return 1.0, 1.0
    if box_format.coordinates == "normalized":
        return float(width), float(height)
    if box_format.coordinates == "grid1000":
        return width / 1000.0, height / 1000.0
    if box_format.frame is None:
        raise ValueError("box format 'frame' needs the frame size (width, height)")
    return width / box_format.frame[0], height / box_format.frame[1]
