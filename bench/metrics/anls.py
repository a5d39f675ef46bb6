"""ANLS (Average Normalized Levenshtein Similarity) for DocVQA and InfographicVQA.

Reproduces the per-question score of the Robust Reading Competition evaluation script for
DocVQA and InfographicVQA (``evaluate_method`` of the InfographicVQA script downloadable at
rrc.cvc.uab.es/?ch=17&com=downloads and docvqa.org; DocVQA Task 1 is scored the same way).
Dataset-level ANLS is the plain mean of these scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import editdistance

__all__ = ["anls"]


def _anls_form(text: str) -> tuple[tuple[int, ...], int]:
    """Return the code points the distance is measured on, and the length used to normalise.

    The official script measures the distance on ``" ".join(text.strip().lower().split())``,
    which is lowercased, stripped and has internal whitespace runs collapsed. It normalises
    by ``len(text.upper())`` of the raw text, which is not stripped or collapsed. So
    surrounding or repeated whitespace makes the denominator larger, and characters that
    expand when uppercased ("ß" -> "SS", "ﬁ" -> "FI") count twice. Python ``str`` lengths
    and the official pure-Python Levenshtein both count Unicode code points, not UTF-16
    units.

    ``editdistance`` compares elements by hash. Passing code points (small ints, which hash
    to themselves) instead of one-character strings makes its equality test exact.
    """
    collapsed = " ".join(text.lower().split())  # split() already drops the ends strip() would
    return tuple(map(ord, collapsed)), len(text.upper())


# Reference answers recur across evaluation runs. Predictions are mostly unique, so they
# are not cached.
_answer_form = lru_cache(maxsize=1 << 16)(_anls_form)


def anls(prediction: str, answers: Sequence[str], threshold: float = 0.5) -> float:
    """ANLS of one prediction against the reference answers of its question.

    For each answer, the normalised distance is ``NL = dist / max(len(answer.upper()),
    len(prediction.upper()))``, or 0.0 when that length is 0. ``dist`` is the Levenshtein
    distance between the two texts after lowercasing, stripping and collapsing whitespace
    (see ``_anls_form`` for why the two use different lengths). The score is
    ``1 - min(NL)`` over the answers. A score strictly below ``threshold`` becomes 0, so a
    score exactly at the threshold is kept: "ab" vs "ax" scores 0.5. These are the
    official script's rules and edge cases:

    * matching ignores case and surrounding or repeated whitespace ("  New  York " matches
      "new york");
    * an empty prediction against an empty answer scores 1.0 (length 0 gives NL 0). A
      whitespace-only prediction against an empty answer also scores 1.0;
    * an empty prediction against a non-empty answer scores 0.0;
    * NL can exceed 1 when lowercasing lengthens a string ("İ" -> "i̇"). The score is then
      negative and clipped to 0 by the threshold.

    Raises:
        ValueError: if ``answers`` is empty (the official ``min`` over no answers fails too).
        TypeError: if ``answers`` is a single string.
    """
    if isinstance(answers, str):
        raise TypeError("answers must be a sequence of strings, not a single string")
    if len(answers) == 0:
        raise ValueError("at least one reference answer is required")
    predicted, predicted_length = _anls_form(prediction)
    best = math.inf
    for answer in answers:
        reference, reference_length = _answer_form(answer)
        length = max(reference_length, predicted_length)
        if length == 0 or reference == predicted:
            distance = 0.0
        else:
            distance = editdistance.eval(reference, predicted) / length
        if distance < best:
            best = distance
            if best == 0.0:
                break
    score = 1 - best
    return 0.0 if score < threshold else score
