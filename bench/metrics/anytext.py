"""AnyText-benchmark line metrics (AnyText, Tuo et al., 2024): sentence accuracy and NED.

Each ground-truth text line is cropped from the generated image and recognised; the reading is
compared with the line's text exactly (case-sensitive) for sentence accuracy, and by a
normalised edit distance over character ids for NED.
"""

from __future__ import annotations

import editdistance


def anytext_line_scores(prediction: str, text: str, lang: str = "en") -> dict[str, float]:
    distance = editdistance.eval(list(prediction), list(text))
    ned = 1.0 - distance / (max(len(prediction), len(text)) + 1e-5)
    return {"sentence_accuracy": float(prediction == text), "ned": ned}
