"""Hand-computed cases for the EvalAI answer processor, TextVQA accuracy and containment accuracy.

Each expectation is worked out from the rules of mmf ``m4c_evaluators.EvalAIAnswerProcessor``
/ ``TextVQAAccuracyEvaluator`` and TextHarmony ``evaluate_exact_match_accuracy``. The
comment next to each case names the rule it exercises.
"""

from __future__ import annotations

import itertools
import random

import pytest

from bench.metrics.vqa import containment_accuracy, normalize_vqa_answer, textvqa_accuracy

PUNCTUATION_MARKS = list(';/[]"{}()=+\\_-><@`!')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Tokenisation: lowercase first.
        ("Coca Cola", "coca cola"),
        ("CAFÉ", "café"),
        # Every comma is deleted, between digits or not (VQA v2 would space "red,blue").
        ("1,000,000", "1000000"),
        ("red,blue", "redblue"),
        ("red, blue", "red blue"),
        # "?" is deleted, not replaced by a space.
        ("why?not", "whynot"),
        # "'s" is split into its own token, after lowercasing ("'S" too).
        ("Joe's", "joe 's"),
        ("JOE'S", "joe 's"),
        # Only the ASCII apostrophe is split, and a bare apostrophe is kept.
        ("joe\u2019s", "joe\u2019s"),
        ("dogs'", "dogs'"),
    ],
)
def test_tokenisation_rules(text: str, expected: str) -> None:
    assert normalize_vqa_answer(text) == expected


@pytest.mark.parametrize("mark", PUNCTUATION_MARKS)
def test_punctuation_mark_touching_no_space_becomes_space(mark: str) -> None:
    # No occurrence touches a space, so every occurrence becomes a space.
    assert normalize_vqa_answer(f"x{mark}y") == "x y"


@pytest.mark.parametrize("mark", PUNCTUATION_MARKS)
def test_punctuation_mark_touching_a_space_is_deleted_everywhere(mark: str) -> None:
    # The trailing " {mark}" touches a space, so the mark inside "x{mark}y" is deleted too.
    assert normalize_vqa_answer(f"x{mark}y {mark}") == "xy"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The decision is per mark: "-" touches no space (spaced), "(" follows a space
        # (deleted), ")" touches no space (spaced).
        ("x-y (z)", "x y z"),
        # Characters outside the official list are kept.
        ("2:30", "2:30"),
        ("50%", "50%"),
        ("$5", "$5"),
        ("#1", "#1"),
        ("a&w", "a&w"),
        ("x*y", "x*y"),
        ("x|y", "x|y"),
        ("~x", "~x"),
        ("x^2", "x^2"),
        ("don't", "don't"),
    ],
)
def test_punctuation_rule_details(text: str, expected: str) -> None:
    assert normalize_vqa_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A period not followed by a digit is deleted.
        ("end.", "end"),
        ("3.", "3"),
        ("u.s.a.", "usa"),
        ("e.g. 5", "eg 5"),
        # A period followed by a digit is kept, including Unicode digits (\d).
        ("3.5", "3.5"),
        (".5", ".5"),
        ("v1.2.3", "v1.2.3"),
        ("3.\u0665", "3.\u0665"),
        # Punctuation runs before the period rule: "3.-5" -> "3. 5" -> "3 5".
        ("3.-5", "3 5"),
        # At most 32 periods are deleted (re.UNICODE == 32 passed as ``count``).
        ("x." * 33, "x" * 33 + "."),
        ("." * 40, "." * 8),
    ],
)
def test_period_rule(text: str, expected: str) -> None:
    assert normalize_vqa_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Number words zero..ten (and "none") become digits, whole tokens only.
        ("two", "2"),
        ("Ten", "10"),
        ("none", "0"),
        ("zero", "0"),
        ("eleven", "eleven"),
        ("twenty one", "twenty 1"),
        ("someone", "someone"),
        # The hyphen becomes a space first, so "one" is then a whole token.
        ("one-way", "1 way"),
    ],
)
def test_number_words(text: str, expected: str) -> None:
    assert normalize_vqa_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Articles a/an/the are dropped as whole tokens.
        ("the cat", "cat"),
        ("an apple", "apple"),
        ("The A Team", "team"),
        ("A", ""),
        ("theatre", "theatre"),
        # "a-team" -> "a team" -> "team".
        ("a-team", "team"),
    ],
)
def test_articles(text: str, expected: str) -> None:
    assert normalize_vqa_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Missing apostrophes are restored from the official table.
        ("dont", "don't"),
        ("cant", "can't"),
        ("i dont know", "i don't know"),
        ("twas", "'twas"),
        ("oclock", "o'clock"),
        ("yall'll", "y'all'll"),
        ("couldnt've", "couldn't've"),
        # Whole tokens only, and only listed variants.
        ("dontcare", "dontcare"),
        ("couldntve", "couldntve"),
        ("wed", "wed"),
        # Quirk: "whats" is repaired, but "what's" has its "'s" split off first.
        ("whats", "what's"),
        ("what's", "what 's"),
        # Quirk: the official table maps "somebody'd" to "somebodyd".
        ("somebody'd", "somebodyd"),
        # Quirk: the "Im"/"Ive" keys are capitalised, so lowercase tokens never match them.
        ("im", "im"),
        ("ive", "ive"),
        # A "'s" key is reachable when a deleted period rejoins the letters.
        ("ow'.s'at", "'ow's'at"),
    ],
)
def test_contractions(text: str, expected: str) -> None:
    assert normalize_vqa_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Surrounding whitespace is stripped and internal runs are collapsed.
        ("  red   blue \n", "red blue"),
        ("red\nblue", "red blue"),
        ("red\u00a0blue", "red blue"),
        # \t becomes a space before the punctuation rule, so " -" touches a space and
        # every "-" is deleted.
        ("x\t-y-z", "x yz"),
        # \r does not, so the hyphens are spaced.
        ("x\r-y-z", "x y z"),
        # Empty results.
        ("", ""),
        ("   ", ""),
        ("the", ""),
    ],
)
def test_whitespace(text: str, expected: str) -> None:
    assert normalize_vqa_answer(text) == expected


def _ten(matching: int, answer: str = "coca cola", other: str = "pepsi") -> list[str]:
    return [answer] * matching + [other] * (10 - matching)


@pytest.mark.parametrize(
    ("matching", "expected"),
    [
        # m matching answers out of 10. A subset that leaves out a match has m - 1 matches
        # (m of them); a subset that leaves out another answer has m matches (10 - m of them).
        (0, 0.0),
        # (1 * 0 + 9 * 1/3) / 10 = 0.3
        (1, 0.3),
        # (2 * 1/3 + 8 * 2/3) / 10 = 0.6
        (2, 0.6),
        # (3 * 2/3 + 7 * 1) / 10 = 0.9
        (3, 0.9),
        # every subset keeps at least 3 matches
        (4, 1.0),
        (10, 1.0),
    ],
)
def test_textvqa_leave_one_out_with_ten_answers(matching: int, expected: float) -> None:
    assert textvqa_accuracy("coca cola", _ten(matching)) == pytest.approx(expected, abs=1e-15)


def test_textvqa_position_of_matches_does_not_matter() -> None:
    # Same m = 2 as above, with the matches at the end: (8 * 2/3 + 2 * 1/3) / 10 = 0.6.
    answers = ["pepsi"] * 8 + ["coca cola"] * 2
    assert textvqa_accuracy("coca cola", answers) == pytest.approx(0.6, abs=1e-15)


def test_textvqa_normalises_prediction_and_answers() -> None:
    # "The Coca-Cola." and "coca cola" both normalise to "coca cola" (article, hyphen,
    # period); "Two" and "2" both to "2". Four matches -> 1.0.
    answers = ["coca cola", "Coca-Cola", "the coca cola", "COCA COLA."] + ["pepsi"] * 6
    assert textvqa_accuracy("The Coca-Cola.", answers) == 1.0
    assert textvqa_accuracy("Two", ["2", "two", "2", "2"] + ["3"] * 6) == 1.0


def test_textvqa_is_exact_match_after_normalisation() -> None:
    # "coca" is a substring of the answers but not equal to them: no credit.
    assert textvqa_accuracy("coca", _ten(10)) == 0.0


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        # One answer: the only subset is empty, so no prediction can score.
        (["yes"], 0.0),
        # Three identical answers: each subset keeps 2 matches -> 2/3.
        (["yes"] * 3, 2 / 3),
        # Four identical answers: each subset keeps 3 matches -> 1.
        (["yes"] * 4, 1.0),
        # Five answers, two matches: (2 * 1/3 + 3 * 2/3) / 5 = 8/15.
        (["yes", "yes", "no", "no", "no"], 8 / 15),
    ],
)
def test_textvqa_other_lengths_use_the_same_definition(answers: list[str], expected: float) -> None:
    assert textvqa_accuracy("yes", answers) == pytest.approx(expected, abs=1e-15)


def test_textvqa_rejects_empty_and_bare_string() -> None:
    with pytest.raises(ValueError):
        textvqa_accuracy("yes", [])
    with pytest.raises(TypeError):
        textvqa_accuracy("yes", "yes")


def _leave_one_out_reference(prediction: str, answers: list[str]) -> float:
    """Direct transcription of the definition: enumerate the n subsets explicitly."""
    predicted = normalize_vqa_answer(prediction)
    processed = [normalize_vqa_answer(a) for a in answers]
    scores = []
    for left_out in range(len(processed)):
        rest = processed[:left_out] + processed[left_out + 1 :]
        scores.append(min(1, rest.count(predicted) / 3))
    return sum(scores) / len(scores)


def test_textvqa_matches_explicit_subsets_bit_for_bit() -> None:
    # Extra check on top of the hand-computed cases: every match pattern of 10 answers.
    for pattern in itertools.product((True, False), repeat=10):
        answers = ["Yes." if hit else "no" for hit in pattern]
        assert textvqa_accuracy("yes", answers) == _leave_one_out_reference("yes", answers)
    rng = random.Random(7)
    pool = ["yes", "Yes!", "no", "two", "2", "the end", "end", "coca-cola", "coca cola"]
    for _ in range(500):
        answers = [rng.choice(pool) for _ in range(rng.randint(1, 12))]
        prediction = rng.choice(pool)
        assert textvqa_accuracy(prediction, answers) == _leave_one_out_reference(prediction, answers)


@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        # The answer occurs inside the stripped, lowercased prediction.
        ("The answer is Coca-Cola.", ["coca-cola"], 1.0),
        # The answer is stripped and lowercased too.
        ("paris.", ["  Paris "], 1.0),
        # "." is removed from the prediction only, so an answer with "." never matches...
        ("3.5", ["3.5"], 0.0),
        ("St. Louis", ["st. louis"], 0.0),
        # ...but one without "." matches the dot-free prediction.
        ("St. Louis", ["st louis"], 1.0),
        # Substring matches count.
        ("12", ["2"], 1.0),
        ("not now", ["no"], 1.0),
        # Any one of several answers is enough.
        ("london", ["paris", "London"], 1.0),
        ("berlin", ["paris", "london"], 0.0),
        # An empty or blank answer is contained in everything.
        ("anything", [""], 1.0),
        ("", ["  "], 1.0),
        # An empty prediction contains no non-empty answer.
        ("", ["yes"], 0.0),
        # No other normalisation: commas, articles and number words are compared verbatim.
        ("1,000", ["1000"], 0.0),
        ("two", ["2"], 0.0),
    ],
)
def test_containment_accuracy(prediction: str, answers: list[str], expected: float) -> None:
    assert containment_accuracy(prediction, answers) == expected


def test_containment_rejects_empty_and_bare_string() -> None:
    with pytest.raises(ValueError):
        containment_accuracy("yes", [])
    with pytest.raises(TypeError):
        containment_accuracy("yes", "yes")
