"""Scoring predictions that another tool produced, with thbench's metrics.

Accepts thbench's own record files (``predictions/<task>/<writer>.jsonl``) as well as a minimal format, one JSON object
per line: ``{"id": "<sample id>", "output": "<text>"}`` for answer tasks, or
``{"id": ..., "images": ["a.png", ...]}`` (paths relative to the predictions file, or to the run
folder for thbench's own files). A sample with no prediction counts as a miss, as in the
official evaluators, and is reported.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bench.aggregate import aggregate
from bench.images import open_image
from bench.jsonl import iter_json_lines
from bench.store import PredictionRecord, SampleError
from bench.task import Task
from bench.types import RequestKind, Response

logger = logging.getLogger(__name__)


def read_prediction_lines(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        raise FileNotFoundError(f"no predictions file at {path}")
    by_id: dict[str, dict[str, Any]] = {}
    for number, entry in iter_json_lines(path):
        sample_id = entry.get("id", entry.get("sample_id")) if isinstance(entry, dict) else None
        if sample_id is None:
            raise ValueError(f'{path}:{number} has no "id"; each line needs the sample id it answers')
        by_id[str(sample_id)] = entry
    return by_id


def _image_root(path: Path) -> Path:
    """thbench's own record files (``predictions/<task>/<writer>.jsonl``, or
    ``predictions/<task>.jsonl`` in folders of the earlier layout) store image paths relative
    to the run folder."""
    if path.parent.name == "predictions":
        return path.parent.parent
    if path.parent.parent.name == "predictions":
        return path.parent.parent.parent
    return path.parent


def score_predictions(task: Task, path: Path, output: Path | None = None) -> dict[str, Any]:
    predictions = read_prediction_lines(path)
    samples = task.load_samples()
    known = {str(s.id) for s in samples}
    unknown = sorted(set(predictions) - known)
    if unknown:
        raise ValueError(f"{path} has predictions for ids that {task.name} does not have, e.g. {unknown[:3]}")
    root = _image_root(path)
    records = []
    missing = 0
    for sample in samples:
        entry = predictions.get(str(sample.id))
        record = PredictionRecord(key=task.sample_key(sample), id=str(sample.id), request_fingerprint="", scoring_fingerprint="", seed=0, prompt="")
        problem = _problem(task, sample, entry, record.key)
        if problem is not None:
            missing += entry is None
            record.error = problem
            record.scores = task.miss_scores(sample)
        else:
            images = [str(p) for p in entry.get("images", [])]
            text = entry.get("output", entry.get("raw"))
            record.raw, record.images = text, images
            response = Response(text=text, images=tuple(open_image(root / p) for p in images))
            scored = task.score(sample, response)
            record.parsed, record.scores, record.details = scored.parsed, dict(scored.scores), dict(scored.details)
        records.append(record)
    if missing:
        logger.warning("%d of %d samples of %s have no prediction; they count as misses", missing, len(samples), task.name)
    if output is not None:
        output.write_text("".join(r.to_json() + "\n" for r in records), encoding="utf-8")
    summary = aggregate(task, records)
    summary["missing"] = missing
    return summary


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
        expected = task.build_request(sample, key).num_images
        if len(entry.get("images", [])) < expected:
            return SampleError("MissingImages", f"{len(entry.get('images', []))} images given, {expected} expected", "input")
    return None
