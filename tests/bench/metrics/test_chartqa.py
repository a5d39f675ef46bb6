"""Hand-computed ChartQA relaxed-accuracy cases following pix2struct ``relaxed_correctness``."""

from __future__ import annotations

import pytest

from bench.metrics.chartqa import relaxed_accuracy


@pytest.mark.parametrize(
    ("prediction", "answer", "expected"),
    [
        # Exact numeric match.
        ("45", "45", 1.0),
        # |47 - 45| / 45 = 0.044 <= 0.05.
        ("47", "45", 1.0),
        # |48 - 45| / 45 = 0.067 > 0.05.
        ("48", "45", 0.0),
        # The bound is inclusive: |105 - 100| / 100 = 0.05.
        ("105", "100", 1.0),
        ("95", "100", 1.0),
        # Just outside: 5.1 / 100.
        ("94.9", "100", 0.0),
        # Relative to the gold answer: |100 - 95.3| / 95.3 = 0.0493 passes, but
        # |100 - 95.2| / 95.2 = 0.0504 fails, although relative to the prediction
        # (4.8 / 100 = 0.048) it would pass.
        ("100", "95.3", 1.0),
        ("100", "95.2", 0.0),
        # Negative numbers use abs(gold): |-10.4 + 10| / 10 = 0.04.
        ("-10.4", "-10", 1.0),
        # float() syntax: exponent and surrounding whitespace/newline are accepted.
        ("1e3", "1000", 1.0),
        (" 45\n", "45", 1.0),
    ],
)
def test_numeric_answers(prediction: str, answer: str, expected: float) -> None:
    assert relaxed_accuracy(prediction, answer) == expected


@pytest.mark.parametrize(
    ("prediction", "answer", "expected"),
    [
        # A trailing "%" divides by 100, on both sides.
        ("45%", "0.45", 1.0),
        ("0.45", "45%", 1.0),
        ("45%", "45%", 1.0),
        # Only the side with "%" is divided: 45 vs 0.45.
        ("45", "45%", 0.0),
        ("45%", "45", 0.0),
        # All trailing "%" are stripped: "45%%" is 0.45.
        ("45%%", "0.45", 1.0),
        # "%" followed by whitespace is not a percentage: no number, so string comparison.
        ("45%\n", "45%", 0.0),
    ],
)
def test_percentages(prediction: str, answer: str, expected: float) -> None:
    assert relaxed_accuracy(prediction, answer) == expected


@pytest.mark.parametrize(
    ("prediction", "answer", "expected"),
    [
        # A gold value of 0 falls back to string equality: "0" == "0".
        ("0", "0", 1.0),
        # ...so a numerically equal but differently written prediction fails.
        ("0.0", "0", 0.0),
        ("0", "0%", 0.0),
        # ...and any non-zero prediction fails.
        ("0.01", "0", 0.0),
    ],
)
def test_zero_gold_answer(prediction: str, answer: str, expected: float) -> None:
    assert relaxed_accuracy(prediction, answer) == expected


@pytest.mark.parametrize(
    ("prediction", "answer", "expected"),
    [
        # Non-numeric answers: case-insensitive exact match.
        ("Yes", "yes", 1.0),
        ("Democrats", "DEMOCRATS", 1.0),
        ("no", "yes", 0.0),
        # No stripping for string comparison.
        ("yes ", "yes", 0.0),
        # One side numeric, the other not: string comparison.
        ("forty", "40", 0.0),
        ("40", "forty", 0.0),
        # Thousands separators do not parse, so "1,000" is compared as a string.
        ("1,000", "1000", 0.0),
        ("1,000", "1,000", 1.0),
        # A gold "nan" parses, is non-zero, and NaN never compares equal.
        ("nan", "nan", 0.0),
    ],
)
def test_non_numeric_answers(prediction: str, answer: str, expected: float) -> None:
    assert relaxed_accuracy(prediction, answer) == expected


def test_tolerance_parameter() -> None:
    # |48 - 45| / 45 = 0.067: wrong at 5%, right at 10%.
    assert relaxed_accuracy("48", "45", tolerance=0.1) == 1.0
    # Tolerance 0 requires numeric equality ("45.0" == 45).
    assert relaxed_accuracy("45.0", "45", tolerance=0.0) == 1.0
    assert relaxed_accuracy("45.1", "45", tolerance=0.0) == 0.0
