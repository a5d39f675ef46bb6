"""ChartQA relaxed accuracy.

ChartQA (Masry et al., 2022, section 5.1) counts a numeric answer as correct when it lies
within 5% of the gold answer, and requires an exact match otherwise. The paper gives the rule
only in prose. The implementation that results are commonly reported with is
``relaxed_correctness`` in ``pix2struct/metrics.py`` of github.com/google-research/pix2struct,
and that is the function reproduced here. TextHarmony's ``evaluate_utils.py`` copies it
unchanged, but its ``evaluate_relaxed_accuracy`` passes the model answer as the gold argument
(swapped), so there the tolerance is relative to the prediction. Its ``evaluate.py`` (which
has a ChartQA image path) never calls it. It computes the containment "Accuracy"
(``bench.metrics.vqa.containment_accuracy``) for every VQA set instead.
"""

from __future__ import annotations

__all__ = ["relaxed_accuracy"]


def _to_number(text: str) -> float | None:
    """Parse a ChartQA answer the way pix2struct does, or return None if it is not a number.

    A text ending in "%" loses all trailing "%" and is divided by 100. Anything else goes
    straight to ``float``. Python's ``float`` accepts surrounding whitespace, "1_000",
    "1e3", "inf", "nan" and non-ASCII decimal digits. It rejects thousands separators
    ("1,000"), currency signs and units. "45% " (space after the sign) is not a percentage
    and does not parse.
    """
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_accuracy(prediction: str, answer: str, tolerance: float = 0.05) -> float:
    """1.0 if ``prediction`` is relaxed-correct for the gold ``answer``, else 0.0.

    The rules of pix2struct ``relaxed_correctness(target, prediction, max_relative_change)``:

    * both strings go through the same number parsing (``_to_number``), so "45%" against
      "0.45" is correct, while "45" against "45%" is not (45 vs 0.45);
    * if both parse and the gold value is non-zero, the prediction is correct when
      ``abs(pred - gold) / abs(gold) <= tolerance``. The bound is inclusive, so "105"
      against "100" is correct;
    * otherwise (either side not a number, or the gold value is 0) the strings must be
      equal ignoring case, with no stripping. So "0.0" against "0" is wrong, and "yes "
      against "yes" is wrong, but " 45\\n" against "45" is right because ``float``
      ignores the whitespace;
    * a gold "nan" is never matched (NaN compares false).

    Nothing is stripped, as in pix2struct. Decoded model output often ends in a space or
    newline, which makes percentages and text answers fail. Strip it before calling, as
    TextHarmony's ``evaluate_relaxed_accuracy`` does.
    """
    predicted = _to_number(prediction)
    gold = _to_number(answer)
    if predicted is not None and gold is not None and gold != 0:
        return 1.0 if abs(predicted - gold) / abs(gold) <= tolerance else 0.0
    return 1.0 if prediction.lower() == answer.lower() else 0.0
