"""Box parsing from model text: syntaxes and coordinate frames, with hand-computed results."""

from __future__ import annotations

import pytest

from bench.boxes import BoxFormat, parse_region


def parse_box(text: str, box_format: BoxFormat, size: tuple[int, int]):
    """The box of the parsed region (None when nothing parses): what most cases check."""
    region = parse_region(text, box_format, size)
    return None if region is None else region.box

PIXEL = BoxFormat("pixel")
SIZE = (200, 100)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[10, 20, 30, 40]", (10, 20, 30, 40)),
        ("The box is (10,20),(30,40).", (10, 20, 30, 40)),
        ("<ref>EXIT</ref><box>(10,20),(30,40)</box>", (10, 20, 30, 40)),
        ("(10,20)(30,40)", (10, 20, 30, 40)),
        ("[[10, 20], [30, 40]]", (10, 20, 30, 40)),
        ("x1=10 y1=20 x2=30 y2=40", (10, 20, 30, 40)),
        ("[10.5, 20.25, 30, 40]", (10.5, 20.25, 30, 40)),
        # Polygon points: the box of their bounds.
        ("[[12, 5], [40, 8], [38, 30], [10, 27]]", (10, 5, 40, 30)),
        ("(12,5),(40,8),(38,30),(10,27)", (10, 5, 40, 30)),
        ("[12, 5, 40, 8, 38, 30, 10, 27]", (10, 5, 40, 30)),
        # Corners are kept as written (no credit for swapped corners downstream).
        ("[30, 40, 10, 20]", (30, 40, 10, 20)),
        # A bracketed word with a number is not a box.
        ("(2 letters) at [1, 2, 3, 4]", (1, 2, 3, 4)),
    ],
)
def test_auto_syntax_in_pixels(text: str, expected: tuple) -> None:
    assert parse_box(text, PIXEL, SIZE) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "I cannot find it.", "[1, 2, 3]", "page 3 of 12", "(1,2)"])
def test_no_region(text: str) -> None:
    assert parse_box(text, PIXEL, SIZE) is None


def test_polygon_answers_keep_their_points() -> None:
    region = parse_region("[[12, 5], [40, 8], [38, 30]]", PIXEL, SIZE)
    assert region is not None and region.polygon == ((12, 5), (40, 8), (38, 30))
    assert parse_region("[10, 20, 30, 40]", PIXEL, SIZE).polygon is None


@pytest.mark.parametrize(
    ("box_format", "text", "expected"),
    [
        # 0-1 fractions of a 200x100 image.
        (BoxFormat("normalized"), "[0.1, 0.2, 0.5, 0.9]", (20, 20, 100, 90)),
        # 0-1000 grid: 250/1000 of 200 = 50.
        (BoxFormat("grid"), "<box>(250,500),(750,1000)</box>", (50, 50, 150, 100)),
        # 0-999 grid (TextHarmony's grounding_score.py): 999 maps to the far edge.
        (BoxFormat("grid", grid=999.0, syntax="paired_points"), "(0,333)(999,999)", (0, 100 * 333 / 999, 200, 100)),
        # A 448x448 frame of the whole image: x * 200 / 448, y * 100 / 448.
        (BoxFormat("frame", frame=(448, 448), syntax="point_list"), "[[112, 224], [224, 224], [224, 448], [112, 448]]", (50, 50, 100, 100)),
    ],
)
def test_coordinate_frames(box_format: BoxFormat, text: str, expected: tuple) -> None:
    assert parse_box(text, box_format, SIZE) == pytest.approx(expected)


def test_frame_and_grid_need_their_size() -> None:
    with pytest.raises(ValueError, match="frame size"):
        BoxFormat("frame")
    with pytest.raises(ValueError, match="positive grid"):
        BoxFormat("grid", grid=0)


POINT_LIST = BoxFormat("pixel", syntax="point_list")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[185, 376], [186, 277], [437, 283], [436, 382]]", (185, 277, 437, 382)),
        # Cut off by the token limit: the finished points count.
        ("[[185, 376], [186, 277], [437, 283], [43", (185, 277, 437, 376)),
        # Two points are polygon vertices, so their bounds (sorted), not corners as written.
        ("[[40, 30], [10, 5]]", (10, 5, 40, 30)),
        ("[40, 30, 10, 5]", (10, 5, 40, 30)),
    ],
)
def test_point_list_syntax(text: str, expected: tuple) -> None:
    assert parse_box(text, POINT_LIST, SIZE) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["[[185, 376], [18", "no text here", "[5, 6, 7]"])
def test_point_list_without_two_points(text: str) -> None:
    assert parse_box(text, POINT_LIST, SIZE) is None


PAIRED = BoxFormat("pixel", syntax="paired_points")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(010,020)(030,040)</box>", (10, 20, 30, 40)),
        # float() accepts spaces around the numbers and exponents.
        ("( 10 , 2e1 )(30,40)", (10, 20, 30, 40)),
        # The lazy groups stretch to the first ")(" pair.
        ("note (a) then (1,2)(3,4)", None),
        # Not adjacent: the release's pattern needs ")(".
        ("(10,20),(30,40)", None),
        # Three numbers in a group: the release's unpacking fails, no box.
        ("(10,20,5)(30,40)", None),
        ("(10)(30,40)", None),
        # Non-finite numbers are no box (the release's IoU would be NaN, never >= 0.5).
        ("(nan,1)(2,3)", None),
        # Corners as written.
        ("(30,40)(10,20)", (30, 40, 10, 20)),
    ],
)
def test_paired_points_reproduce_grounding_score_parse_box(text: str, expected: tuple | None) -> None:
    result = parse_box(text, PAIRED, SIZE)
    assert result == (pytest.approx(expected) if expected is not None else None)


QWEN = BoxFormat("pixel", syntax="qwen_points")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(100,250),(500,749)</box>", (100, 250, 500, 749)),
        ("<ref>OPEN</ref><box>(1,2),(3,4)</box> and (5,6),(7,8)", (1, 2, 3, 4)),
        # Adjacent points without the comma are not Qwen-VL's pattern.
        ("(10,20)(30,40)", None),
        # The lazy groups take the first "),(" pair: "(a)" holds no comma, no box.
        ("note (a),(1,2)", None),
        ("(10,20,5),(30,40)", None),
    ],
)
def test_qwen_points_reproduce_qwen_vl_grounding_evaluation(text: str, expected: tuple | None) -> None:
    result = parse_box(text, QWEN, SIZE)
    assert result == (pytest.approx(expected) if expected is not None else None)
