"""Reading a box (or polygon) out of a model's text answer.

Models write regions in many shapes — ``[x1, y1, x2, y2]``, ``(x1,y1),(x2,y2)``,
``<box>(x1,y1),(x2,y2)</box>``, ``(x1,y1)(x2,y2)``, a list of polygon points — and in several
coordinate frames: pixels of the image, 0–1 fractions, a 0–1000 (or 0–999) grid, or pixels of
the square frame the model resized the image to. The frame and the syntax are properties of
the model's prompt profile, never guessed from the numbers.

Four syntaxes:

``auto``
    The first bracketed group of numbers. Four numbers are a box ``(x1, y1, x2, y2)`` as
    written; six or more (an even count) are polygon points. A group of two numbers is a
    point: the points that follow it directly (``(x1,y1),(x2,y2)``, ``[[x, y], [x, y], …]``)
    are gathered, two points being the corners of a box and three or more a polygon. Failing
    all that, a text holding exactly four numbers is read as a box.
``point_list``
    The answer is a list of polygon vertices (TextHarmony writes ``[[x, y], [x, y], …]``): the
    region is the bounding box of all points of the first list, read as far as it is complete
    (an answer cut off by the token limit keeps its finished points).
``paired_points``
    ``parse_box`` of ``TextHarmony/utils/grounding_score.py`` (github.com/bytedance/TextHarmony,
    inherited from MM-Interleaved), reproduced exactly: the first match of
    ``\\((.*?)\\)\\((.*?)\\)``, each group split on commas into exactly two numbers read by
    Python's ``float``; anything else is no box (the release scores it as ``(0, 0, 0, 0)``,
    which has IoU 0, the same verdict).
``qwen_points``
    The same reading with Qwen-VL's pattern ``\\((.*?)\\),\\((.*?)\\)`` (a comma between the two
    points), as ``eval_mm/evaluate_grounding.py`` of github.com/QwenLM/Qwen-VL parses
    ``<box>(x1,y1),(x2,y2)</box>`` answers; the release's failures score ``(0, 0, 0, 0)`` too.

Box corners are kept as written: a model that writes ``(x2, y2, x1, y1)`` gets an empty box
and no credit, as with the torchvision-based evaluators (see ``bench.metrics.boxes.box_iou``).
Bounds of point lists are sorted by construction.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

Box = tuple[float, float, float, float]
Point = tuple[float, float]

Coordinates = Literal["pixel", "normalized", "grid", "frame"]
Syntax = Literal["auto", "point_list", "paired_points", "qwen_points"]

#: A number not glued to a word ("x1" holds no coordinate).
_NUMBER = r"(?<![\w.])[-+]?\d+(?:\.\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
#: A bracketed or parenthesised group holding numbers (and nested point pairs).
_GROUP_RE = re.compile(r"[\[(<{](?:[\s,;]*[\[(]?\s*" + _NUMBER + r"\s*[\])]?)+[\s,;]*[\])>}]")
#: One ``(x, y)`` or ``[x, y]`` point, optionally after a separator.
_POINT_RE = re.compile(r"\s*[,;]?\s*[\[(]\s*(" + _NUMBER + r")\s*,\s*(" + _NUMBER + r")\s*[\])]")
_PAIRED_POINTS_RE = re.compile(r"\((.*?)\)\((.*?)\)")
_QWEN_POINTS_RE = re.compile(r"\((.*?)\),\((.*?)\)")


@dataclass(frozen=True)
class BoxFormat:
    """How a profile's answers write regions.

    ``coordinates``: ``pixel`` (pixels of the image file), ``normalized`` (0–1 of width and
    height), ``grid`` (0–``grid`` across the image: 1000 for Qwen-VL-style models, 999 for
    MM-Interleaved/TextHarmony's ``grounding_score.py``), ``frame`` (pixels of a
    ``frame`` = (width, height) that the whole image was resized to).
    """

    coordinates: Coordinates = "pixel"
    grid: float = 1000.0
    frame: tuple[int, int] | None = None
    syntax: Syntax = "auto"

    def __post_init__(self) -> None:
        if self.coordinates == "frame" and self.frame is None:
            raise ValueError("box coordinates 'frame' need the frame size (width, height)")
        if self.coordinates == "grid" and not self.grid > 0:
            raise ValueError(f"box coordinates 'grid' need a positive grid size, got {self.grid}")


@dataclass(frozen=True)
class Region:
    """A parsed answer in image pixels: its box, and its polygon when it was one."""

    box: Box
    polygon: tuple[Point, ...] | None = None


def parse_region(text: str, box_format: BoxFormat, image_size: tuple[int, int]) -> Region | None:
    """The first region in ``text``, in pixels of an image of ``image_size`` = (width, height),
    or ``None`` when the answer holds none in the profile's syntax."""
    if box_format.syntax == "paired_points":
        found = _paired_points(text, _PAIRED_POINTS_RE)
    elif box_format.syntax == "qwen_points":
        found = _paired_points(text, _QWEN_POINTS_RE)
    elif box_format.syntax == "point_list":
        found = _point_list(text)
    else:
        found = _auto(text)
    if found is None:
        return None
    box, points = found
    if not all(math.isfinite(v) for v in box):
        return None
    sx, sy = _scale(box_format, image_size)
    scaled_box = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
    polygon = tuple((x * sx, y * sy) for x, y in points) if points and len(points) >= 3 else None
    return Region(scaled_box, polygon)


# -- syntaxes ------------------------------------------------------------------------------

_Found = tuple[Box, tuple[Point, ...] | None]


def _auto(text: str) -> _Found | None:
    for match in _GROUP_RE.finditer(text):
        numbers = _numbers(match.group(0))
        if len(numbers) == 4:
            return (numbers[0], numbers[1], numbers[2], numbers[3]), None
        if len(numbers) >= 6 and len(numbers) % 2 == 0:
            return _bounds(_pairs(numbers))
        if len(numbers) == 2:
            points = _points_from(text, match.start())
            if len(points) == 2:
                (x1, y1), (x2, y2) = points
                return (x1, y1, x2, y2), None
            if len(points) >= 3:
                return _bounds(points)
    numbers = _numbers(text)
    if len(numbers) == 4:
        return (numbers[0], numbers[1], numbers[2], numbers[3]), None
    return None


def _point_list(text: str) -> _Found | None:
    for match in _GROUP_RE.finditer(text):
        numbers = _numbers(match.group(0))
        if len(numbers) == 2:
            points = _points_from(text, match.start())
        elif len(numbers) >= 4 and len(numbers) % 2 == 0:
            points = _pairs(numbers)
        else:
            continue
        if len(points) >= 2:
            return _bounds(points)
    return None


def _paired_points(text: str, pattern: re.Pattern[str]) -> _Found | None:
    match = pattern.search(text)
    if match is None:
        return None
    corners: list[float] = []
    for group in match.groups():
        parts = group.split(",")
        if len(parts) != 2:
            return None
        try:
            corners.extend(float(part) for part in parts)
        except ValueError:
            return None
    x1, y1, x2, y2 = corners
    return (x1, y1, x2, y2), None


# -- helpers -------------------------------------------------------------------------------

def _numbers(text: str) -> list[float]:
    return [float(n) for n in _NUMBER_RE.findall(text)]


def _pairs(numbers: list[float]) -> tuple[Point, ...]:
    return tuple(zip(numbers[0::2], numbers[1::2]))


def _points_from(text: str, start: int) -> tuple[Point, ...]:
    """The run of complete ``(x, y)`` points that starts at ``start`` (or just inside it, for a
    nested list ``[[x, y], ...``)."""
    if not _POINT_RE.match(text, start):
        start += 1
    points: list[Point] = []
    position = start
    while True:
        match = _POINT_RE.match(text, position)
        if not match:
            return tuple(points)
        points.append((float(match.group(1)), float(match.group(2))))
        position = match.end()


def _bounds(points: tuple[Point, ...]) -> _Found:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys)), points


def _scale(box_format: BoxFormat, image_size: tuple[int, int]) -> tuple[float, float]:
    width, height = image_size
    if box_format.coordinates == "pixel":
        return 1.0, 1.0
    if box_format.coordinates == "normalized":
        return float(width), float(height)
    if box_format.coordinates == "grid":
        return width / box_format.grid, height / box_format.grid
    assert box_format.frame is not None
    return width / box_format.frame[0], height / box_format.frame[1]
