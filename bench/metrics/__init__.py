"""Pure metric functions, each reproducing one official evaluator; see each module's docstring
for the evaluator it follows.

Light functions are imported here directly; FID and CLIPScore pull in torch models and are
loaded on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.metrics.anls import anls
from bench.metrics.anytext import anytext_line_scores
from bench.metrics.boxes import box_iou, polygon_iou
from bench.metrics.chartqa import relaxed_accuracy
from bench.metrics.mario import mario_f_measure, mario_keywords, mario_ocr_scores
from bench.metrics.vqa import containment_accuracy, exact_match, normalize_vqa_answer, textvqa_accuracy

_LAZY = {
    "compute_fid": "bench.metrics.fid",
    "FidWeightsMissing": "bench.metrics.fid_weights",
    "InceptionFID": "bench.metrics.fid",
    "ClipScoreAccumulator": "bench.metrics.clipscore",
    "ClipModelMissing": "bench.metrics.clipscore",
    "clip_scores": "bench.metrics.clipscore",
}

__all__ = [
    "anls",
    "anytext_line_scores",
    "box_iou",
    "clip_scores",
    "compute_fid",
    "containment_accuracy",
    "exact_match",
    "mario_f_measure",
    "mario_keywords",
    "mario_ocr_scores",
    "normalize_vqa_answer",
    "polygon_iou",
    "relaxed_accuracy",
    "textvqa_accuracy",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bench.metrics' has no attribute {name!r}")
