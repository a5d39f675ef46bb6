"""``thbench samples``: a run's current records as rows, for the user's own analysis.

One row per sample of the records a task configuration was scored from (like lm-eval's logged
samples): JSON Lines keep nested values as they are; CSV flattens per-sample scores into
``score.<metric>`` columns and JSON-encodes parsed outputs, so that ``pandas.read_csv`` gives
one column per metric.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable, TextIO

from bench.records import PredictionRecord
from bench.report.runs import load_run

FIXED_COLUMNS = ("key", "id", "raw", "parsed", "images", "error_type", "error_stage", "error_message")


def sample_rows(run_dir: Path, task: str) -> list[dict[str, Any]]:
    run = load_run(run_dir)
    if task not in run.tasks:
        known = ", ".join(sorted(run.tasks)) or "none"
        raise ValueError(f"{run_dir} has no scores for {task!r}; its tasks: {known}")
    return [_row(record) for record in run.predictions(task).values()]


def write_sample_rows(run_dir: Path, task: str, output_format: str, stream: TextIO) -> None:
    rows = sample_rows(run_dir, task)
    if output_format == "jsonl":
        stream.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        return
    metrics = _metric_names(rows)
    writer = csv.DictWriter(stream, fieldnames=[*FIXED_COLUMNS, *(f"score.{m}" for m in metrics)])
    writer.writeheader()
    for row in rows:
        flat = {name: row[name] for name in FIXED_COLUMNS}
        flat["parsed"] = json.dumps(row["parsed"], ensure_ascii=False)
        flat["images"] = ";".join(row["images"])
        flat.update({f"score.{m}": row["scores"].get(m) for m in metrics})
        writer.writerow(flat)


def _row(record: PredictionRecord) -> dict[str, Any]:
    error = record.error
    return {
        "key": record.key,
        "id": record.id,
        "raw": record.raw,
        "parsed": record.parsed,
        "images": list(record.images),
        "scores": dict(record.scores),
        "error_type": error.type if error else None,
        "error_stage": error.stage if error else None,
        "error_message": error.message if error else None,
    }


def _metric_names(rows: Iterable[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row["scores"]))
    return list(names)
