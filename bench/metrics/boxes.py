"""Box and polygon IoU, and grounding accuracy at IoU thresholds.

Boxes are ``(x1, y1, x2, y2)`` in continuous pixel coordinates. The area is
``(x2 - x1) * (y2 - y1)``, with no "+1" pixel-inclusive convention. This is the convention of
``torchvision.ops.box_iou``, which TextHarmony's ``TextHarmony/utils/grounding_score.py``
(github.com/bytedance/TextHarmony) uses, and of MDETR's RefCOCO evaluator
(``datasets/refexp.py`` of github.com/ashkamath/mdetr, which turns COCO ``x, y, w, h`` into
``x, y, x + w, y + h``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["IOU_THRESHOLDS", "box_iou", "box_to_polygon", "polygon_iou"]

IOU_THRESHOLDS: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _check_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    if len(box) != 4:
        raise ValueError(f"a box needs 4 numbers (x1, y1, x2, y2), got {len(box)}")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise ValueError(f"box coordinates must be finite, got {tuple(box)!r}")
    return x1, y1, x2, y2


def box_iou(pred: Sequence[float], gt: Sequence[float]) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes, with continuous coordinates.

    For valid boxes (x1 <= x2, y1 <= y2) this equals ``torchvision.ops.box_iou`` (in float64). For broken
    boxes torchvision returns meaningless values (negative areas, 0/0). Here an inverted box
    (x2 < x1 or y2 < y1) counts as empty, with no area, and so does a zero-width or
    zero-height box. An empty box overlaps nothing, even an identical empty box, so its IoU
    is 0.0. The corners are not re-sorted: a model that writes its corners in the wrong
    order gets no credit, just as in torchvision-based evaluations, where such boxes never
    reach IoU 0.5.

    Raises:
        ValueError: if a box does not have 4 coordinates or a coordinate is NaN or infinite.
            A parser that cannot read a box should score it as 0, not pass NaN.
    """
    px1, py1, px2, py2 = _check_box(pred)
    gx1, gy1, gx2, gy2 = _check_box(gt)
    pred_area = max(0.0, px2 - px1) * max(0.0, py2 - py1)
    gt_area = max(0.0, gx2 - gx1) * max(0.0, gy2 - gy1)
    inter_w = min(px2, gx2) - max(px1, gx1)
    inter_h = min(py2, gy2) - max(py1, gy1)
    inter = inter_w * inter_h if inter_w > 0 and inter_h > 0 else 0.0
    union = pred_area + gt_area - inter
    return inter / union if union > 0 else 0.0


def box_to_polygon(box: Sequence[float]) -> list[tuple[float, float]]:
    """Corners of an ``(x1, y1, x2, y2)`` box, to compare a box with a polygon."""
    x1, y1, x2, y2 = _check_box(box)
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def polygon_iou(pred: Sequence[Sequence[float]], gt: Sequence[Sequence[float]]) -> float:
    """Intersection over union of two polygons given as sequences of ``(x, y)`` points.

    Used when the ground truth is a polygon (text-line quadrilaterals and curved text). Pass
    a predicted box through :func:`box_to_polygon`. Shapely does the geometry. A
    self-intersecting ring (a "bow tie" from points in the wrong order) is repaired with
    ``shapely.make_valid``, which keeps the area enclosed by both lobes. ``buffer(0)``,
    the other common fix, can drop a lobe. A polygon with fewer than 3 points, or with no
    area (collinear points), is empty, and its IoU is 0.0, as with an empty box in
    :func:`box_iou`.
    """
    import shapely  # Imported only when polygons are scored: shapely takes a while to import.

    def region(points: Sequence[Sequence[float]]) -> shapely.Geometry | None:
        if len(points) < 3:
            return None
        shape = shapely.make_valid(shapely.Polygon([(float(x), float(y)) for x, y in points]))
        return shape if shape.area > 0 else None

    pred_region = region(pred)
    gt_region = region(gt)
    if pred_region is None or gt_region is None:
        return 0.0
    inter = pred_region.intersection(gt_region).area
    union = pred_region.area + gt_region.area - inter
    return inter / union if union > 0 else 0.0
