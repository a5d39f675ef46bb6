"""Numbers papers report, beside the numbers thbench measures.

``results/published/<paper>.json`` holds one paper's table entries, each mapped to a thbench
task and metric, with the table it comes from and the protocol it was measured under. Values
are in thbench display units (points for percentages) and keep the printed form beside them;
an entry whose number could not be checked against the paper has ``value: null``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from bench.report.runs import RunSummary, instantiate_task, task_class
from bench.summaries import MetricEntry, TaskSummary

PUBLISHED_DIR_NAME = Path("results") / "published"


@dataclass(frozen=True)
class PublishedEntry:
    model: str
    task: str
    metric: str
    value: float | None
    printed: str | None
    table: str
    source: str
    task_options: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    arxiv: str
    main_model: str
    protocol_notes: tuple[str, ...]
    entries: tuple[PublishedEntry, ...]
    path: Path

    def models(self) -> list[str]:
        return list(dict.fromkeys(entry.model for entry in self.entries))


def default_published_dir() -> Path:
    """``results/published`` of the source checkout, else of the working directory."""
    checkout = Path(__file__).resolve().parents[2] / PUBLISHED_DIR_NAME
    return checkout if checkout.is_dir() else PUBLISHED_DIR_NAME


def available_papers(folder: Path | None = None) -> list[str]:
    folder = folder or default_published_dir()
    return sorted(path.stem for path in folder.glob("*.json"))


def load_paper(name: str, folder: Path | None = None) -> Paper:
    folder = folder or default_published_dir()
    path = folder / f"{name}.json"
    if not path.is_file():
        known = ", ".join(available_papers(folder)) or "none"
        raise FileNotFoundError(f"no published table {path}; the papers in {folder} are: {known}")
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    try:
        entries = tuple(_entry(item) for item in data["results"])
        paper = data["paper"]
        return Paper(name, paper["title"], paper.get("arxiv", ""), data.get("main_model", ""),
                     tuple(data.get("protocol_notes", [])), entries, path)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is not a published-results file ({error}); see {folder / 'README.md'}") from None


def _entry(item: dict[str, Any]) -> PublishedEntry:
    value = item.get("value")
    if value is not None and not isinstance(value, (int, float)):
        raise ValueError(f"value of {item.get('model')} {item.get('task')}/{item.get('metric')} must be a number or null")
    return PublishedEntry(
        model=item["model"], task=item["task"], metric=item["metric"],
        value=None if value is None else float(value), printed=item.get("printed"),
        table=item.get("table", ""), source=item.get("source", ""),
        task_options=dict(item.get("task_options", {})), note=item.get("note", ""),
    )


@dataclass(frozen=True)
class Measurement:
    run: RunSummary
    task: str
    value: float
    low: float
    high: float
    #: ``True`` when the run's task is the paper's benchmark with the same options; ``False``
    #: for a task of the same family on other data (e.g. the starter version).
    same_benchmark: bool

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def measurements(entry: PublishedEntry, run: RunSummary) -> list[Measurement]:
    """The run's numbers for this entry's metric: its own benchmark when the run has it with the
    same options, otherwise every task of the same family (subclasses, such as starter tasks)."""
    found = []
    for task in run.tasks:
        summary = run.summary(task)
        metric = summary.metrics.get(entry.metric) or _set_metric(summary, entry.metric)
        if metric is None:
            continue
        if run.task_name(task) == entry.task:
            if not _options_match(run, task, entry.task_options):
                continue
            same = True
        elif _same_family(run.task_name(task), entry.task):
            same = False
        else:
            continue
        found.append(Measurement(run, task, metric.display_value, *metric.display_interval, same))
    exact = [m for m in found if m.same_benchmark]
    return exact or found


def _set_metric(summary: TaskSummary, name: str) -> MetricEntry | None:
    """A set-level number (FID, CLIPScore) as a metric entry without an interval."""
    metric = summary.set_metrics.get(name)
    if metric is None or metric.value is None:
        return None
    return MetricEntry(metric.value, percent=False)


def _same_family(task: str, published_task: str) -> bool:
    measured, reference = task_class(task), task_class(published_task)
    return measured is not None and reference is not None and issubclass(measured, reference)


def _options_match(run: RunSummary, task: str, wanted: dict[str, Any]) -> bool:
    if not wanted:
        return True
    instance = instantiate_task(run, task)
    for name, value in wanted.items():
        if instance is not None and hasattr(type(instance), name):
            actual = getattr(instance, name)
        elif instance is not None:
            actual = getattr(instance.options, name, None)
        else:
            actual = run.task_manifest(task).get("config", {}).get("options", {}).get(name)
        if actual != value:
            return False
    return True


def paper_frame(paper: Paper, runs: Sequence[RunSummary], model: str | None = None, digits: int = 1) -> pd.DataFrame:
    """Published beside measured: one row per (entry, matching run); entries no run measured
    keep one row with the measured cells empty."""
    chosen = model or paper.main_model
    entries = [e for e in paper.entries if chosen in ("all", e.model)]
    if not entries:
        raise ValueError(f"{paper.path.name} has no entries for model {chosen!r}; its models: {', '.join(paper.models())}")
    rows = []
    for entry in entries:
        matched = [m for run in runs for m in measurements(entry, run)]
        base = {
            "model (paper)": entry.model,
            "task": entry.task + _options_text(entry.task_options),
            "metric": entry.metric,
            "published": "not cited" if entry.value is None else (entry.printed or f"{entry.value:g}"),
            "source": entry.table,
        }
        if not matched:
            rows.append({**base, "measured run": "–", "measured": "–", "95% CI": "–", "Δ": "–", "flag": "not measured"})
            continue
        for measurement in matched:
            rows.append({**base, **_measured_cells(entry, measurement, digits)})
    return pd.DataFrame(rows)


def _measured_cells(entry: PublishedEntry, measurement: Measurement, digits: int) -> dict[str, str]:
    run_name = measurement.run.label + ("" if measurement.same_benchmark else f" on {measurement.task}")
    cells = {
        "measured run": run_name,
        "measured": f"{measurement.value:.{digits}f}",
        "95% CI": f"{measurement.low:.{digits}f}–{measurement.high:.{digits}f}" if measurement.has_interval else "–",
    }
    flags = [] if measurement.same_benchmark else ["different data"]
    if not measurement.has_interval:
        flags.append("set-level: no interval")
    if entry.value is None:
        cells["Δ"] = "–"
    else:
        cells["Δ"] = f"{measurement.value - entry.value:+.{digits}f}"
        if measurement.has_interval and not measurement.contains(entry.value):
            flags.insert(0, "outside measured 95% CI")
    cells["flag"] = "; ".join(flags)
    return cells


def _options_text(options: dict[str, Any]) -> str:
    return "" if not options else " [" + ", ".join(f"{k}={v}" for k, v in options.items()) + "]"


def paper_notes(paper: Paper, model: str | None = None) -> list[str]:
    chosen = model or paper.main_model
    notes = [f"{paper.title} (arXiv {paper.arxiv}); published numbers from {paper.path.name}."]
    notes.extend(paper.protocol_notes)
    grouped: dict[str, list[str]] = {}
    for entry in paper.entries:
        if entry.note and chosen in ("all", entry.model):
            grouped.setdefault(entry.note, []).append(f"{entry.model} {entry.task}/{entry.metric}")
    notes.extend(f"{', '.join(names)}: {note}" for note, names in grouped.items())
    return notes

