"""Checks of annotation values as loaders read them: a wrong value is refused with the file,
the entry and the field, never scored silently wrong.

The rules, the same for every task:
- answers are a non-empty list of strings (a bare string is refused: taken as one answer it
  would score every correct prediction against a single reference);
- boxes are 4 finite numbers with x1 < x2 and y1 < y2 (pixels, top-left origin);
- polygons are at least 3 finite ``[x, y]`` points enclosing a positive area;
- a box or polygon that reaches outside its image is clipped to the image and the clipping is
  recorded as a data warning (in the manifest); one wholly outside is refused;
- image paths stay inside the dataset folder unless the task is told
  ``allow_outside_root=true``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

from bench.task import DatasetError
from bench.types import Point


def answer_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        raise DatasetError(f"{where} is the string {value!r}, not a list of answers; write it as [{value!r}]")
    if not isinstance(value, list) or not value or not all(isinstance(answer, str) for answer in value):
        raise DatasetError(f"{where} must be a non-empty list of strings, got {_short(value)}")
    return tuple(value)


def box(value: Any, where: str) -> tuple[float, float, float, float]:
    numbers = _numbers(value, where, "4 numbers [x1, y1, x2, y2]")
    if len(numbers) != 4:
        raise DatasetError(f"{where} must hold 4 numbers [x1, y1, x2, y2], got {_short(value)}")
    x1, y1, x2, y2 = numbers
    if not (x1 < x2 and y1 < y2):
        raise DatasetError(f"{where} {_short(value)} has no area: it needs x1 < x2 and y1 < y2 (top-left corner first)")
    return x1, y1, x2, y2


def polygon(value: Any, where: str) -> tuple[Point, ...]:
    expected = "a list of [x, y] points (at least 3)"
    if not isinstance(value, (list, tuple)):
        raise DatasetError(f"{where} must be {expected}, got {_short(value)}")
    points = tuple(_point(point, where, expected) for point in value)
    if len(points) < 3:
        raise DatasetError(f"{where} has {len(points)} point{'' if len(points) == 1 else 's'}; a polygon needs at least 3 points")
    if polygon_area(points) <= 0.0:
        raise DatasetError(f"{where} {_short(value)} encloses no area")
    return points


def polygon_area(points: Sequence[Point]) -> float:
    """Absolute shoelace area."""
    twice = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, (*points[1:], points[0])))
    return abs(twice) / 2.0


def clip_box(value: tuple[float, float, float, float], size: tuple[int, int], where: str,
             warnings: list[str]) -> tuple[float, float, float, float]:
    """The box within the image (``size`` = width, height); clipping is recorded in ``warnings``."""
    width, height = float(size[0]), float(size[1])
    x1, y1, x2, y2 = value
    clipped = (min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width), min(max(y2, 0.0), height))
    if clipped == value:
        return value
    if not (clipped[0] < clipped[2] and clipped[1] < clipped[3]):
        raise DatasetError(f"{where} {list(value)} lies outside its {size[0]}x{size[1]} image")
    warnings.append(f"{where} {list(value)} reached outside its {size[0]}x{size[1]} image; clipped to {list(clipped)}")
    return clipped


def clip_polygon(points: tuple[Point, ...], size: tuple[int, int], where: str, warnings: list[str]) -> tuple[Point, ...]:
    width, height = size
    clipped = tuple((min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))) for x, y in points)
    if clipped == points:
        return points
    if polygon_area(clipped) <= 0.0:
        raise DatasetError(f"{where} lies outside its {width}x{height} image")
    warnings.append(f"{where} reached outside its {width}x{height} image; its points were clipped to the image")
    return clipped


def image_inside(root: Path, name: Any, where: str, allow_outside: bool) -> Path:
    """``root / name``, refused when it leaves ``root`` (an absolute name or ``..``) unless
    allowed: a dataset folder that reads files elsewhere is not what its fingerprint describes."""
    if not isinstance(name, str) or not name:
        raise DatasetError(f"{where} must be a file name, got {_short(name)}")
    path = root / name
    if not allow_outside:
        check_inside(path, root, where)
    return path


def check_inside(path: Path, root: Path, where: str) -> None:
    folder = os.path.abspath(root)
    if os.path.commonpath([os.path.abspath(path), folder]) != folder:
        raise DatasetError(
            f"{where}: image {path} lies outside the dataset folder {root}; move it inside or pass "
            "--task-args TASK:allow_outside_root=true"
        )


def _numbers(value: Any, where: str, expected: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or not all(_is_number(v) for v in value):
        raise DatasetError(f"{where} must hold {expected}, got {_short(value)}")
    numbers = tuple(float(v) for v in value)
    if not all(math.isfinite(v) for v in numbers):
        raise DatasetError(f"{where} {_short(value)} holds a value that is not a finite number")
    return numbers


def _point(value: Any, where: str, expected: str) -> Point:
    numbers = _numbers(value, where, expected)
    if len(numbers) != 2:
        raise DatasetError(f"{where} must be {expected}; the point {_short(value)} has {len(numbers)} coordinates")
    return numbers[0], numbers[1]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
