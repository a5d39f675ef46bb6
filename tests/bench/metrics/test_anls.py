"""Hand-computed ANLS cases following the RRC DocVQA/InfographicVQA evaluation script.

Per answer: NL = dist(normalised texts) / max(len(raw answer.upper()), len(raw prediction.upper())),
where the distance is taken after lowercasing, stripping and collapsing whitespace. The score
is 1 - min NL, and it is set to 0 when strictly below the threshold.
"""

from __future__ import annotations

import random

import pytest

from bench.metrics.anls import anls


@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        # Identical after lowercasing and stripping: dist 0.
        (" PARIS ", ["paris"], 1.0),
        # Internal whitespace runs are collapsed before the distance: dist 0.
        ("new   york", ["New York"], 1.0),
        # One deletion out of 5: 1 - 1/5.
        ("pari", ["paris"], 0.8),
        # Best over answers: "london" is far, "paris" gives 0.8.
        ("pari", ["london", "paris"], 0.8),
        # Exactly at the threshold is kept: dist 1, length 2 -> 0.5.
        ("ab", ["ax"], 0.5),
        # dist 2, length 4 -> 0.5, kept.
        ("abcd", ["abxy"], 0.5),
        # Below the threshold: dist 2, length 3 -> 1/3 -> 0.
        ("abc", ["axy"], 0.0),
        # Completely different: 0.
        ("ab", ["xy"], 0.0),
    ],
)
def test_anls_basic(prediction: str, answers: list[str], expected: float) -> None:
    assert anls(prediction, answers) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        # Both empty: length 0 gives NL 0, so the score is 1.
        ("", [""], 1.0),
        # Whitespace-only prediction against an empty answer: dist 0 ("" vs ""), length 2.
        ("  ", [""], 1.0),
        # Empty prediction against a real answer: dist 3, length 3 -> 0.
        ("", ["abc"], 0.0),
        # The denominator is the raw length: "pari   " has 7 characters, dist("pari", "paris")
        # is 1, so 1 - 1/7 (not 1 - 1/5).
        ("pari   ", ["paris"], 6 / 7),
        # The denominator is the length after .upper(): "ß".upper() == "SS" (2), dist("s", "ß") = 1,
        # so 1 - 1/2 = 0.5 is kept (with raw lengths it would be 0).
        ("s", ["ß"], 0.5),
        # Lowercasing "İ" gives 2 code points: dist("x", "i̇") = 2 over length 1 -> NL 2,
        # score -1, clipped to 0 by the threshold.
        ("x", ["İ"], 0.0),
    ],
)
def test_anls_edge_cases(prediction: str, answers: list[str], expected: float) -> None:
    assert anls(prediction, answers) == pytest.approx(expected, abs=1e-15)


def test_anls_counts_code_points() -> None:
    # "😀" is one code point (two UTF-16 units): dist 1, length 2 -> 0.5 (UTF-16 would give 2/3).
    assert anls("😀a", ["😀b"]) == 0.5
    # Accented letters are whole characters, and case folds via lower(): "É" == "é".
    assert anls("CAFÉ", ["café"]) == 1.0
    # Precomposed é (1 code point) vs e + combining accent (2 code points): no Unicode
    # normalisation, so dist 2 (substitute, insert) over length 5 -> 0.6.
    assert anls("caf\u00e9", ["cafe\u0301"]) == pytest.approx(1 - 2 / 5, abs=1e-15)


def test_anls_threshold_parameter() -> None:
    # 0.8 is below a 0.9 threshold -> 0.
    assert anls("pari", ["paris"], threshold=0.9) == 0.0
    # With threshold 0 the raw similarity 1/3 is returned.
    assert anls("abc", ["axy"], threshold=0.0) == pytest.approx(1 / 3, abs=1e-15)


def test_anls_rejects_empty_and_bare_string() -> None:
    with pytest.raises(ValueError):
        anls("x", [])
    with pytest.raises(TypeError):
        anls("x", "x")


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _reference(prediction: str, answers: list[str], threshold: float = 0.5) -> float:
    """Direct transcription of the rule with a dynamic-programming Levenshtein."""
    values = []
    for answer in answers:
        gt = " ".join(answer.strip().lower().split())
        det = " ".join(prediction.strip().lower().split())
        dist = _levenshtein(gt, det)
        length = max(len(answer.upper()), len(prediction.upper()))
        values.append(0.0 if length == 0 else dist / length)
    score = 1 - min(values)
    return 0.0 if score < threshold else score


def test_anls_matches_dynamic_programming_reference() -> None:
    # Extra check on top of the hand-computed cases: editdistance agrees with a plain DP,
    # including long strings (its bit-parallel path) and non-ASCII text.
    rng = random.Random(11)
    alphabet = list("abcAB .-") + ["ß", "İ", "😀", "é", "\u0301", "\t", "\xa0"]
    for _ in range(2000):
        size = 90 if rng.random() < 0.1 else 8
        answers = ["".join(rng.choices(alphabet, k=rng.randint(0, size))) for _ in range(rng.randint(1, 3))]
        prediction = "".join(rng.choices(alphabet, k=rng.randint(0, size)))
        assert anls(prediction, answers) == _reference(prediction, answers)
