"""From per-sample scores to the numbers in a table: means, derived metrics, 95% intervals."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from bench.stats import bootstrap_counts, percentile_interval, resampled_means
from bench.store import PredictionRecord
from bench.task import MetricSpec, Task


def aggregate(task: Task, records: Sequence[PredictionRecord]) -> dict[str, Any]:
    n = len(records)
    errors = sum(record.error is not None for record in records)
    summary: dict[str, Any] = {
        "n": n,
        "errors": errors,
        "primary": task.headline(),
        "metrics": {},
    }
    if n == 0 or not task.metrics:
        return summary
    names = [metric.name for metric in task.metrics]
    misses = task.miss_scores()
    values = np.array(
        [[float(record.scores.get(name, misses[name])) for name in names] for record in records], dtype=np.float64
    )
    means = values.mean(axis=0)
    resampled = resampled_means(values, bootstrap_counts(n))
    for index, metric in enumerate(task.metrics):
        summary["metrics"][metric.name] = _entry(metric, float(means[index]), resampled[:, index])
    if task.derived:
        point = task.derive({name: means[i : i + 1] for i, name in enumerate(names)})
        spread = task.derive({name: resampled[:, i] for i, name in enumerate(names)})
        for metric in task.derived:
            summary["metrics"][metric.name] = _entry(metric, float(point[metric.name][0]), spread[metric.name])
    return summary


def _entry(metric: MetricSpec, value: float, resampled: np.ndarray) -> dict[str, Any]:
    low, high = percentile_interval(resampled)
    return {
        "value": value,
        "ci95": [low, high],
        "percent": metric.percent,
        "higher_is_better": metric.higher_is_better,
        "description": metric.description,
        "shown": metric.shown,
    }
