"""Hand-computed IoU cases: continuous (x1, y1, x2, y2) boxes and polygons."""

from __future__ import annotations

import pytest

from bench.metrics.boxes import (
    box_iou,
    box_to_polygon,
    polygon_iou,
)


@pytest.mark.parametrize(
    ("pred", "gt", "expected"),
    [
        # Identical boxes.
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        # Half-overlapping 2x1 boxes: intersection 1, union 2 + 2 - 1 = 3.
        ((0, 0, 2, 1), (1, 0, 3, 1), 1 / 3),
        # Box inside box: 1 / 4.
        ((0, 0, 1, 1), (0, 0, 2, 2), 0.25),
        # Continuous coordinates, no +1: 50 / 100 exactly (with +1 it would be 66 / 121).
        ((0, 0, 10, 5), (0, 0, 10, 10), 0.5),
        # Fractional coordinates: intersection 0.5 * 1, union 1 + 1 - 0.5.
        ((0.0, 0.0, 1.0, 1.0), (0.5, 0.0, 1.5, 1.0), 1 / 3),
        # Disjoint and edge-touching boxes do not overlap.
        ((0, 0, 1, 1), (5, 5, 6, 6), 0.0),
        ((0, 0, 1, 1), (1, 0, 2, 1), 0.0),
        # Order of arguments does not matter.
        ((1, 0, 3, 1), (0, 0, 2, 1), 1 / 3),
    ],
)
def test_box_iou(pred: tuple, gt: tuple, expected: float) -> None:
    assert box_iou(pred, gt) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    ("pred", "gt"),
    [
        # Inverted corners are an empty box, not re-sorted: no credit.
        ((10, 10, 0, 0), (0, 0, 10, 10)),
        ((10, 0, 0, 10), (0, 0, 10, 10)),
        # Zero-width box (a line) has no area.
        ((5, 0, 5, 10), (0, 0, 10, 10)),
        # Two identical points: empty overlaps nothing, even itself (no 0/0).
        ((3, 3, 3, 3), (3, 3, 3, 3)),
        # Both inverted.
        ((2, 2, 1, 1), (2, 2, 1, 1)),
    ],
)
def test_box_iou_degenerate_boxes_score_zero(pred: tuple, gt: tuple) -> None:
    assert box_iou(pred, gt) == 0.0


def test_box_iou_rejects_malformed_input() -> None:
    with pytest.raises(ValueError):
        box_iou((0, 0, 1), (0, 0, 1, 1))
    with pytest.raises(ValueError):
        box_iou((0, 0, float("nan"), 1), (0, 0, 1, 1))
    with pytest.raises(ValueError):
        box_iou((0, 0, 1, 1), (0, 0, float("inf"), 1))


def test_box_to_polygon_lists_corners_clockwise_in_image_coordinates() -> None:
    assert box_to_polygon((0, 0, 2, 1)) == [(0.0, 0.0), (2.0, 0.0), (2.0, 1.0), (0.0, 1.0)]


@pytest.mark.parametrize(
    ("pred", "gt", "expected"),
    [
        # A box as a polygon gives the same IoU as box_iou: 1/3.
        (box_to_polygon((0, 0, 2, 1)), box_to_polygon((1, 0, 3, 1)), 1 / 3),
        # Right triangle (area 2) inside the 2x2 square (area 4): 2 / 4.
        ([(0, 0), (2, 0), (0, 2)], box_to_polygon((0, 0, 2, 2)), 0.5),
        # Diamond with corners on the square's edge midpoints (area 2): 2 / 4.
        ([(1, 0), (2, 1), (1, 2), (0, 1)], box_to_polygon((0, 0, 2, 2)), 0.5),
        # Self-intersecting "bow tie" over the square: repaired into two triangles of area 1
        # each (left and right of the centre), all inside the square: 2 / 4.
        ([(0, 0), (2, 2), (2, 0), (0, 2)], box_to_polygon((0, 0, 2, 2)), 0.5),
        # Quadrilateral text region vs a shifted box: square (0,0)-(2,2) and (1,1)-(3,3)
        # intersect in a unit square: 1 / (4 + 4 - 1).
        ([(0, 0), (2, 0), (2, 2), (0, 2)], box_to_polygon((1, 1, 3, 3)), 1 / 7),
        # Fewer than 3 points, or collinear points, have no area.
        ([(0, 0), (1, 1)], box_to_polygon((0, 0, 2, 2)), 0.0),
        ([(0, 0), (1, 1), (2, 2)], box_to_polygon((0, 0, 2, 2)), 0.0),
        # Disjoint polygons.
        ([(5, 5), (6, 5), (6, 6)], box_to_polygon((0, 0, 2, 2)), 0.0),
    ],
)
def test_polygon_iou(pred: list, gt: list, expected: float) -> None:
    assert polygon_iou(pred, gt) == pytest.approx(expected, abs=1e-12)
