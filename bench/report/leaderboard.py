"""Leaderboard: one row per run, one column per task metric, read from run stores."""

from __future__ import annotations

import fnmatch
from typing import Any, Literal, Sequence

import pandas as pd

from bench.report.runs import RunSummary, find_runs, load_run
from bench.report.tables import markdown_table
from bench.summaries import TaskSummary

__all__ = ["Format", "RunSummary", "find_runs", "load_run", "leaderboard", "select_columns", "sort_rows",
           "metric_columns", "display_frame", "markdown_table"]

Format = Literal["md", "csv", "latex", "html"]

FIXED_COLUMNS = ("step", "model", "run", "setting", "fingerprint", "checkpoint", "errors", "samples")
_COMPANIONS = (" ci_low", " ci_high", " errors", " n", " total")


def leaderboard(runs: Sequence[RunSummary], all_metrics: bool = False) -> pd.DataFrame:
    """Numbers as floats (percent metrics ×100) with ``… ci_low`` / ``… ci_high`` companions,
    and per-task ``<task> errors`` / ``<task> n``; formatting for display happens in
    :func:`bench.report.leaderboard_output.render`. ``frame.attrs["higher_is_better"]`` tells sorting which way is better."""
    rows = []
    better: dict[str, bool] = {}
    percent: dict[str, bool] = {}
    #: Each metric column's task label (labels may contain spaces, so columns are never split).
    column_tasks: dict[str, str] = {}
    settings = distinguishing_settings(runs)
    for run in runs:
        row: dict[str, Any] = {
            "model": run.model,
            "run": run.run_dir.name,
            "setting": settings[run.run_dir],
            "fingerprint": run.adapter_fingerprint,
            "checkpoint": run.checkpoint or "",
            "errors": 0,
            "samples": 0,
        }
        for task, stored in run.tasks.items():
            summary = TaskSummary.from_json(stored)
            row["errors"] += summary.errors
            row["samples"] += summary.n
            row[f"{task} errors"] = summary.errors
            row[f"{task} n"] = summary.n
            row[f"{task} total"] = summary.total
            for metric, entry in summary.shown_metrics().items():
                if not all_metrics and metric != summary.primary:
                    continue
                column = f"{task} {metric}"
                row[column] = entry.display_value
                row[f"{column} ci_low"], row[f"{column} ci_high"] = entry.display_interval
                better[column] = entry.higher_is_better
                percent[column] = entry.percent
                column_tasks[column] = task
            if all_metrics:
                for metric, value in summary.set_metrics.items():
                    if value.value is not None:
                        row[f"{task} {metric}"] = value.value
                        column_tasks[f"{task} {metric}"] = task
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if column in ("errors", "samples") or column.endswith((" errors", " n", " total")):
            frame[column] = frame[column].astype("Int64")
    frame.attrs["higher_is_better"] = better
    frame.attrs["percent"] = percent
    frame.attrs["column_tasks"] = column_tasks
    return frame


def distinguishing_settings(runs: Sequence[RunSummary]) -> dict[Any, str]:
    """For each run, what sets it apart from the other runs of the same model in the table
    (seed, prompt profiles, adapter options whose values differ), as ``k=v, ...``; empty for a
    model with one run. Without it two rows of one model read as a contradiction."""
    by_model: dict[str, list[RunSummary]] = {}
    for run in runs:
        by_model.setdefault(run.model, []).append(run)
    described: dict[Any, str] = {}
    for group in by_model.values():
        facts = [_run_settings(run) for run in group]
        names = sorted({name for fact in facts for name in fact})
        differing = [name for name in names if len({repr(fact.get(name)) for fact in facts}) > 1]
        for run, fact in zip(group, facts):
            described[run.run_dir] = ", ".join(f"{name}={fact.get(name, '-')}" for name in differing)
    return described


def _run_settings(run: RunSummary) -> dict[str, Any]:
    facts: dict[str, Any] = {"seed": run.manifest.get("seed")}
    profiles = {str(entry.get("config", {}).get("prompt_profile", {}).get("name"))
                for entry in run.manifest.get("tasks", {}).values()
                if isinstance(entry.get("config", {}).get("prompt_profile"), dict)}
    if profiles:
        facts["profile"] = "+".join(sorted(profiles))
    facts.update(run.adapter_options)
    return facts


def metric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in FIXED_COLUMNS and not c.endswith(_COMPANIONS)]


def select_columns(frame: pd.DataFrame, patterns: Sequence[str]) -> pd.DataFrame:
    """Keep the metric columns matching any of ``patterns`` (shell-style, case-insensitive;
    ``task/metric`` and ``task metric`` both work), in the order the patterns are given."""
    chosen: list[str] = []
    available = metric_columns(frame)
    for pattern in patterns:
        wanted = pattern.strip().replace("/", " ").lower()
        matches = [c for c in available if fnmatch.fnmatchcase(c.lower(), wanted) and c not in chosen]
        if not matches:
            raise ValueError(f"--columns {pattern!r} matches no column; the columns are: {', '.join(available)}")
        chosen.extend(matches)
    bands = {f"{c} ci_low" for c in available} | {f"{c} ci_high" for c in available}
    fixed = [c for c in frame.columns if c not in available and c not in bands]
    companions = [c for column in chosen for c in (f"{column} ci_low", f"{column} ci_high") if c in frame.columns]
    result = frame[fixed + chosen + companions]
    result.attrs = dict(frame.attrs)
    return result


def sort_rows(frame: pd.DataFrame, column: str, ascending: bool | None = None) -> pd.DataFrame:
    """Best first for a metric (its direction from ``higher_is_better``), alphabetical for text
    columns; ``ascending`` overrides. Runs without the metric go last."""
    name = column.strip().replace("/", " ")
    if name not in frame.columns:
        lowered = {c.lower(): c for c in frame.columns}
        if name.lower() not in lowered:
            raise ValueError(f"--sort {column!r} is not a column; the columns are: {', '.join(metric_columns(frame) + ['model', 'run', 'errors'])}")
        name = lowered[name.lower()]
    if ascending is None:
        better = frame.attrs.get("higher_is_better", {})
        if name in better:
            ascending = not better[name]
        elif name == "errors":
            ascending = True
        else:
            ascending = frame[name].dtype == object
    result = frame.sort_values(name, ascending=ascending, na_position="last", kind="stable").reset_index(drop=True)
    result.attrs = dict(frame.attrs)
    return result


def display_frame(frame: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """Strings such as ``72.3 (63.0–80.1)``; missing cells (a task the model cannot do) are
    shown as ``–``; a metric without an interval (set-level) is shown alone."""
    columns = ["model", "run"] + [c for c in ("setting", "checkpoint") if c in frame.columns and frame[c].astype(bool).any()]
    shown = frame[columns].copy()
    if "fingerprint" in frame.columns:
        shown["fingerprint"] = frame["fingerprint"]
    percent = frame.attrs.get("percent", {})
    for column in metric_columns(frame):
        low_column, high_column = f"{column} ci_low", f"{column} ci_high"
        # Percentages keep ``digits``; raw values (IoU, FID) need two more to say anything.
        places = digits if percent.get(column, False) else digits + 2
        if low_column not in frame.columns:
            shown[column] = ["–" if pd.isna(v) else f"{v:.{places}f}" for v in frame[column]]
            continue
        shown[column] = [
            "–" if pd.isna(value) else f"{value:.{places}f} ({low:.{places}f}–{high:.{places}f})"
            for value, low, high in zip(frame[column], frame[low_column], frame[high_column])
        ]
        shown[column] = _mark_partial(shown[column], frame, frame.attrs.get("column_tasks", {}).get(column))
    shown["errors"] = [f"{int(e)}/{int(n)}" for e, n in zip(frame["errors"], frame["samples"])]
    return shown


def _mark_partial(cells: pd.Series, frame: pd.DataFrame, task: str | None) -> list[str]:
    """A score over part of a task (``--limit``) says so: ``[n=5/50]``."""
    if task is None:
        return list(cells)
    n_column, total_column = f"{task} n", f"{task} total"
    if n_column not in frame.columns or total_column not in frame.columns:
        return list(cells)
    marked = []
    for cell, n, total in zip(cells, frame[n_column], frame[total_column]):
        partial = cell != "–" and not pd.isna(n) and not pd.isna(total) and int(n) < int(total)
        marked.append(f"{cell} [n={int(n)}/{int(total)}]" if partial else cell)
    return marked
