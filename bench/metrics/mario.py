"""MARIO-Eval OCR metrics (TextDiffuser, Chen et al., 2023), as ``textdiffuser/eval/ocr_eval.py``
of microsoft/unilm computes them.

The evaluation reads the keywords a prompt asks for (the words inside single quotes), OCRs each
generated image, and compares the two as multisets. Precision and recall are summed over every
image (all subsets, all seeds) and divided by the number of images; the F-measure is then taken
from those two means, never averaged per image. The small constants of the official arithmetic
(``1e-8`` in every denominator) are kept, so the numbers agree to the last digit.
"""

from __future__ import annotations

import re
from collections import Counter

_QUOTED = re.compile(r"'(.*?)'")
#: The official script adds this to every denominator instead of testing for zero.
_EPSILON = 1e-8


def mario_keywords(prompt: str) -> list[str]:
    """The words inside single quotes of the stripped, lowercased prompt, in order, duplicates
    kept: each quoted span is split at whitespace (``str.split()``, so empty quotes give no
    word), as ``get_key_words`` of the official ``ocr_eval.py`` does to each prompt line."""
    words: list[str] = []
    for quoted in _QUOTED.findall(prompt.strip().lower()):
        words.extend(quoted.split())
    return words


def mario_ocr_scores(ocr_words: list[str], keywords: list[str]) -> dict[str, float]:
    """One image's precision, recall and accuracy, as ``get_p_r_acc`` of the official script.

    Both lists are stripped and lowercased entry by entry; nothing is dropped, so an empty OCR
    entry still counts as a prediction. Matches are the multiset intersection (each OCR word
    consumes one equal keyword). Precision is ``matches / (len(ocr) + 1e-8)`` and recall
    ``matches / (len(keywords) + 1e-8)``: zero, never undefined, when a list is empty. Accuracy is
    1 when the sorted entries joined *without a separator* are equal strings, so an image with no
    OCR output for a prompt with no keywords is accurate, and ``["ab", "c"]`` matches
    ``["a", "bc"]``.
    """
    predicted = [word.strip().lower() for word in ocr_words]
    target = [word.strip().lower() for word in keywords]
    matched = sum((Counter(predicted) & Counter(target)).values())
    precision = matched / (len(predicted) + _EPSILON)
    recall = matched / (len(target) + _EPSILON)
    accuracy = float("".join(sorted(predicted)) == "".join(sorted(target)))
    return {"precision": precision, "recall": recall, "accuracy": accuracy}


def mario_f_measure(mean_precision: float, mean_recall: float) -> float:
    """``2PR / (P + R + 1e-8)`` from precision and recall already averaged over images."""
    return 2.0 * mean_precision * mean_recall / (mean_precision + mean_recall + _EPSILON)
