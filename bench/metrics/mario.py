"""MARIO-Eval OCR metrics (TextDiffuser, Chen et al., 2023).

The official evaluation reads the keywords a prompt asks for (the words in single quotes),
OCRs each generated image, and compares the two as multisets. Precision and recall are averaged
over images first and the F-measure is computed from those averages, not averaged per image.
"""

from __future__ import annotations

import re
from collections import Counter

_QUOTED = re.compile(r"'(.*?)'")


def mario_keywords(prompt: str) -> list[str]:
    """Words inside single quotes of the lowercased prompt, in order."""
    words: list[str] = []
    for quoted in _QUOTED.findall(prompt.lower()):
        words.extend(quoted.split())
    return words


def mario_ocr_scores(ocr_words: list[str], keywords: list[str]) -> dict[str, float]:
    """Per-image precision, recall and exact-match accuracy of OCR words against keywords."""
    predicted = [word.strip().lower() for word in ocr_words if word.strip()]
    target = [word.strip().lower() for word in keywords if word.strip()]
    matched = sum((Counter(predicted) & Counter(target)).values())
    precision = matched / len(predicted) if predicted else 0.0
    recall = matched / len(target) if target else 0.0
    accuracy = float(" ".join(sorted(predicted)) == " ".join(sorted(target)))
    return {"precision": precision, "recall": recall, "accuracy": accuracy}


def mario_f_measure(mean_precision: float, mean_recall: float) -> float:
    total = mean_precision + mean_recall
    return 2.0 * mean_precision * mean_recall / total if total > 0 else 0.0
