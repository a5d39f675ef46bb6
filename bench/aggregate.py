"""From per-sample scores to the numbers in a table: means, derived metrics, 95% intervals."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from bench.error_budget import first_failures
from bench.records import PredictionRecord
from bench.stats import bootstrap_means, percentile_interval
from bench.summaries import MetricEntry
from bench.task import MetricSpec, Task


def aggregate(task: Task, records: Sequence[PredictionRecord]) -> dict[str, Any]:
    n = len(records)
    errors = sum(record.error is not None for record in records)
    failed = [(r.id, r.error.stage, r.error.type, r.error.message) for r in records if r.error is not None]
    summary: dict[str, Any] = {
        "n": n,
        "errors": errors,
        "first_errors": [example.to_json() for example in first_failures(failed)],
        "refused": sum(bool(record.refused) for record in records),
        "primary": task.headline(),
        "metrics": {},
    }
    if n == 0 or not task.metrics:
        return summary
    names = [metric.name for metric in task.metrics]
    misses = task.miss_scores()
    values = np.empty((n, len(names)), dtype=np.float64)
    for row, record in enumerate(records):
        scores = record.scores
        values[row] = [scores.get(name, misses[name]) for name in names]
    means = values.mean(axis=0)
    resampled = bootstrap_means(values)
    for index, metric in enumerate(task.metrics):
        summary["metrics"][metric.name] = _entry(metric, float(means[index]), resampled[:, index])
    if task.derived:
        point = task.derive({name: means[i : i + 1] for i, name in enumerate(names)})
        spread = task.derive({name: resampled[:, i] for i, name in enumerate(names)})
        for metric in task.derived:
            summary["metrics"][metric.name] = _entry(metric, float(point[metric.name][0]), spread[metric.name])
    return summary


def _entry(metric: MetricSpec, value: float, resampled: np.ndarray) -> dict[str, Any]:
    interval = percentile_interval(resampled)
    return MetricEntry(value, interval, metric.percent, metric.higher_is_better, metric.description, metric.shown).to_json()
