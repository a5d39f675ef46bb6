"""Scoring predictions that another tool produced, with thbench's metrics.

The predictions are read in the format their tool writes (``bench.prediction_formats``: thbench
records, EvalAI/RRC submissions, ChartQA, lmms-eval and VLMEvalKit outputs, AnyText and
MARIO-Eval image folders) and matched to the task's samples. A sample with no prediction counts
as a miss, as in the official evaluators, and is reported; a prediction for an id the task does
not have is an error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bench.aggregate import aggregate
from bench.images import open_image
from bench.prediction_formats import read_predictions
from bench.store import PredictionRecord, SampleError
from bench.task import Task
from bench.types import RequestKind, Response

logger = logging.getLogger(__name__)


def score_predictions(task: Task, path: Path, output: Path | None = None, format: str = "auto") -> dict[str, Any]:
    read = read_predictions(path, task, format)
    predictions, root = read.by_id, read.image_root
    samples = task.load_samples()
    known = {str(s.id) for s in samples}
    unknown = sorted(set(predictions) - known)
    if unknown:
        raise ValueError(f"{path} ({read.format} format) has {len(unknown)} predictions for ids that {task.name} does not have, "
                         f"e.g. {', '.join(map(repr, unknown[:5]))}")
    records = []
    missing = 0
    for sample in samples:
        entry = predictions.get(str(sample.id))
        record = PredictionRecord(key=task.sample_key(sample), id=str(sample.id), request_fingerprint="", scoring_fingerprint="", seed=0, prompt="")
        problem = _problem(task, sample, entry, record.key)
        if entry is None or problem is not None:
            missing += entry is None
            record.error = problem
            record.scores = task.miss_scores(sample)
        else:
            _score_entry(task, sample, entry, root, record)
        records.append(record)
    if missing:
        logger.warning("%d of %d samples of %s have no prediction; they count as misses", missing, len(samples), task.name)
    if output is not None:
        output.write_text("".join(r.to_json() + "\n" for r in records), encoding="utf-8")
    summary = aggregate(task, records)
    summary["missing"] = missing
    return summary


def _score_entry(task: Task, sample: Any, entry: dict[str, Any], root: Path, record: PredictionRecord) -> None:
    """Score one prediction; an image that cannot be read, or a scorer that fails on this
    output, costs only this sample (recorded as its error), as in a run."""
    record.images = [str(p) for p in entry.get("images", [])]
    record.raw = entry.get("output", entry.get("raw"))
    try:
        images = tuple(open_image(root / p) for p in record.images)
    except OSError as error:
        record.error = SampleError(type(error).__name__, f"cannot read a predicted image: {error}", "input")
        record.scores = task.miss_scores(sample)
        return
    try:
        scored = task.score(sample, Response(text=record.raw, images=images))
    except Exception as error:
        record.error = SampleError(type(error).__name__, str(error), "score")
        record.scores = task.miss_scores(sample)
        return
    record.parsed, record.scores, record.details = scored.parsed, dict(scored.scores), dict(scored.details)


def _problem(task: Task, sample: Any, entry: dict[str, Any] | None, key: str) -> SampleError | None:
    """Why a prediction counts as a miss: absent, failed where it was made, or short of the
    images the task asks for (fewer images must not mean fewer lines to get wrong)."""
    if entry is None:
        return SampleError("MissingPrediction", "no prediction for this sample", "input")
    if entry.get("error"):
        stored = entry["error"]
        if isinstance(stored, dict):
            return SampleError(str(stored.get("type", "Error")), str(stored.get("message", "")), str(stored.get("stage", "model")))
        return SampleError("Error", str(stored), "model")
    if task.kind is not RequestKind.ANSWER:
        expected = task.build_request(sample, key).expected_images
        if len(entry.get("images", [])) < expected:
            return SampleError("MissingImages", f"{len(entry.get('images', []))} images given, {expected} expected", "input")
    return None
