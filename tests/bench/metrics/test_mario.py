"""MARIO-Eval metrics against hand-worked cases and against a literal rewrite of the official
``textdiffuser/eval/ocr_eval.py`` rules (list removal, sums over images) on random inputs."""

from __future__ import annotations

import random

import pytest

from bench.metrics import mario_f_measure, mario_keywords, mario_ocr_scores


# -- a literal rewrite of the official rules, kept deliberately naive ------------------------------
def reference_keywords(line: str) -> list[str]:
    """Scan for '...' spans by hand (a quote, then the nearest quote with no newline between),
    then split each span at whitespace."""
    text = line.strip().lower()
    words: list[str] = []
    position = 0
    while position < len(text):
        if text[position] == "'":
            end = position + 1
            while end < len(text) and text[end] not in "'\n":
                end += 1
            if end < len(text) and text[end] == "'":
                words.extend(text[position + 1 : end].split())
                position = end + 1
                continue
        position += 1
    return words


def reference_image_scores(pred: list[str], gt: list[str]) -> tuple[float, float, int]:
    pred = [p.strip().lower() for p in pred]
    gt = [g.strip().lower() for g in gt]
    pred_left, gt_left = list(pred), list(gt)
    for word in pred:
        if word in gt_left:
            pred_left.remove(word)
            gt_left.remove(word)
    precision = (len(pred) - len(pred_left)) / (len(pred) + 1e-8)
    recall = (len(gt) - len(gt_left)) / (len(gt) + 1e-8)
    accuracy = 1 if "".join(sorted(pred)) == "".join(sorted(gt)) else 0
    return precision, recall, accuracy


def reference_totals(images: list[tuple[list[str], list[str]]]) -> dict[str, float]:
    """Sums over every image, divided by the image count; F from the two means."""
    p = r = acc = 0.0
    for pred, gt in images:
        ip, ir, ia = reference_image_scores(pred, gt)
        p, r, acc = p + ip, r + ir, acc + ia
    p, r, acc = p / len(images), r / len(images), acc / len(images)
    return {"precision": p, "recall": r, "accuracy": acc, "f_measure": 2 * p * r / (p + r + 1e-8)}


# -- hand-worked cases -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("A sign that says 'Hello World'", ["hello", "world"]),
        ("'Open' and 'OPEN' again", ["open", "open"]),  # duplicates stay
        ("a poster of '' and ' ' nothing", []),  # empty quotes give no word
        ("  'Café'  ", ["café"]),
        ("book titled 'The   End' by 'x'", ["the", "end", "x"]),
        ("it's 'fine'", ["s"]),  # the apostrophe opens a span, as in the official regex
        ("no quotes at all", []),
        ("an 'unclosed quote", []),
        ('double "quotes" are not keywords', []),
    ],
)
def test_keywords(prompt, expected):
    assert mario_keywords(prompt) == expected


def test_scores_by_hand():
    # 2 of 3 OCR words match 2 of 2 keywords
    scores = mario_ocr_scores(["Hello", "world", "xyz"], ["hello", "world"])
    # the official denominators carry + 1e-8
    assert scores["precision"] == 2 / (3 + 1e-8)
    assert scores["recall"] == 2 / (2 + 1e-8) and scores["recall"] < 1.0
    assert scores["accuracy"] == 0.0


def test_multiset_matching_and_joined_accuracy():
    # "open" read twice, asked once: one match
    scores = mario_ocr_scores(["open", "open"], ["open"])
    assert scores["precision"] == pytest.approx(0.5) and scores["recall"] == pytest.approx(1.0)
    # sorted entries joined without a separator: "ab"+"c" equals "a"+"bc"
    assert mario_ocr_scores(["ab", "c"], ["a", "bc"])["accuracy"] == 1.0
    assert mario_ocr_scores([" World ", "HELLO"], ["hello", "world"])["accuracy"] == 1.0


def test_empty_sides():
    nothing = mario_ocr_scores([], [])
    assert nothing == {"precision": 0.0, "recall": 0.0, "accuracy": 1.0}
    assert mario_ocr_scores([], ["a"]) == {"precision": 0.0, "recall": 0.0, "accuracy": 0.0}
    assert mario_ocr_scores(["a"], []) == {"precision": 0.0, "recall": 0.0, "accuracy": 0.0}
    # an empty OCR entry is a prediction: it lowers precision and still joins to ""
    blank = mario_ocr_scores(["", "a"], ["a"])
    assert blank["precision"] == pytest.approx(0.5) and blank["accuracy"] == 1.0


def test_f_measure_from_means():
    assert mario_f_measure(0.5, 1.0) == pytest.approx(2 * 0.5 / 1.5)
    assert mario_f_measure(0.0, 0.0) == 0.0
    # differs from the mean of per-image F values: images (1, 0) and (0, 1) -> F of means 0.5
    assert mario_f_measure(0.5, 0.5) == pytest.approx(0.5)


# -- random inputs against the literal rewrite ---------------------------------------------------
ALPHABET = ["a", "b", "A", "B", " ", "'", "\t", "\n", "\u3000", "é", "'"]


def _random_text(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(length))


def test_keywords_match_the_rewrite_on_random_prompts():
    rng = random.Random(11)
    for _ in range(3000):
        prompt = _random_text(rng, rng.randint(0, 24))
        assert mario_keywords(prompt) == reference_keywords(prompt), repr(prompt)


def test_scores_match_the_rewrite_on_random_readings():
    rng = random.Random(12)
    vocabulary = ["a", "A", "b", " b", "ab", "", "c "]
    for _ in range(3000):
        pred = [rng.choice(vocabulary) for _ in range(rng.randint(0, 5))]
        gt = [rng.choice(vocabulary) for _ in range(rng.randint(0, 5))]
        scores = mario_ocr_scores(pred, gt)
        precision, recall, accuracy = reference_image_scores(pred, gt)
        assert scores["precision"] == precision and scores["recall"] == recall and scores["accuracy"] == accuracy


def test_totals_match_the_rewrite():
    """Mean over images of the per-image scores and F from the means equal the official sums."""
    rng = random.Random(13)
    vocabulary = ["open", "sale", "Open", "cafe", "x"]
    images = [
        ([rng.choice(vocabulary) for _ in range(rng.randint(0, 4))], [rng.choice(vocabulary) for _ in range(rng.randint(0, 3))])
        for _ in range(400)
    ]
    per_image = [mario_ocr_scores(pred, gt) for pred, gt in images]
    means = {name: sum(s[name] for s in per_image) / len(per_image) for name in ("precision", "recall", "accuracy")}
    expected = reference_totals(images)
    for name in ("precision", "recall", "accuracy"):
        assert means[name] == pytest.approx(expected[name], abs=1e-12)
    assert mario_f_measure(means["precision"], means["recall"]) == pytest.approx(expected["f_measure"], abs=1e-12)
