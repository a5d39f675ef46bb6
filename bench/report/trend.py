"""Checkpoint sweeps: each metric against the training step parsed from the adapter options."""

from __future__ import annotations

import html
import logging
from typing import Sequence

import pandas as pd

from bench.report.charts import Point, Series, line_chart
from bench.report.html import page
from bench.report.leaderboard import display_frame, leaderboard, metric_columns
from bench.report.runs import RunSummary, run_step
from bench.report.tables import TextFormat, html_table, render_strings

logger = logging.getLogger(__name__)


def trend_frame(runs: Sequence[RunSummary], option: str | None = None, all_metrics: bool = False) -> pd.DataFrame:
    """The leaderboard of runs with a parsable step, with a ``step`` column, sorted by step."""
    steps = {run.run_dir: run_step(run, option) for run in runs}
    missing = [run.label for run in runs if steps[run.run_dir] is None]
    if missing:
        where = f"option {option!r}" if option else "the checkpoint options"
        if len(missing) == len(runs):
            raise ValueError(
                f"no checkpoint step found in {where} of any run ({', '.join(missing)}); name checkpoints like "
                "checkpoint-12000, step_12000 or 12k, or pick the option with --step-option"
            )
        logger.warning("left out of the trend, no step in %s: %s", where, ", ".join(missing))
    kept = [run for run in runs if steps[run.run_dir] is not None]
    frame = leaderboard(kept, all_metrics=all_metrics)
    frame.insert(0, "step", [steps[run.run_dir] for run in kept])
    result = frame.sort_values(["step", "model"], kind="stable").reset_index(drop=True)
    result.attrs = dict(frame.attrs)
    return result


def render_trend(frame: pd.DataFrame, fmt: TextFormat = "md", digits: int = 1) -> str:
    if fmt == "csv":
        return frame.to_csv(index=False, float_format=f"%.{digits + 2}f")
    if fmt == "html":
        return trend_page(frame, digits)
    shown = display_frame(frame, digits)
    shown.insert(0, "step", [str(step) for step in frame["step"]])
    return render_strings(shown, fmt)


def trend_page(frame: pd.DataFrame, digits: int = 1, title: str = "thbench checkpoint sweep") -> str:
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for column in metric_columns(frame):
        series = []
        for model, group in frame.groupby("model", sort=False):
            points = tuple(
                Point(float(row["step"]), float(row[column]), _optional(row, f"{column} ci_low"), _optional(row, f"{column} ci_high"))
                for _, row in group.iterrows()
                if pd.notna(row[column])
            )
            if points:
                series.append(Series(str(model), points))
        if series:
            parts.append(line_chart(column, series, x_label="checkpoint step"))
    shown = display_frame(frame, digits)
    shown.insert(0, "step", [str(step) for step in frame["step"]])
    parts.append(html_table(shown))
    return page(title, "\n".join(parts))


def _optional(row: pd.Series, column: str) -> float | None:
    return float(row[column]) if column in row and pd.notna(row[column]) else None
