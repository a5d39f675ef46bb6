"""Ablation table: runs of one model that differ in one adapter option, one row per value.

Each row shows the run's headline metric per task (as the leaderboard shows it) and, for every
value but the baseline, the paired difference from the baseline run on the samples both
answered: the same paired bootstrap interval and sign-flip p-value as ``thbench compare``.
The baseline is the option's default unless named, since an ablation asks what changing the
default costs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

from bench.adapter import ADAPTERS
from bench.registry import UnknownNameError
from bench.report.compare import TaskComparison, compare_task, matching_labels
from bench.report.compare_text import p_value_text, signed_number
from bench.report.leaderboard import display_frame, leaderboard
from bench.report.runs import RunSummary
from bench.stats import DEFAULT_BOOTSTRAP_SEED, PAIRED_RESAMPLES

METHOD = (
    "Δ: paired over the samples both runs share, new − baseline, in display units; 95% interval from a "
    "paired bootstrap and p from a two-sided sign-flip permutation test ({resamples} each), as in thbench compare."
)


class AblationError(ValueError):
    """The runs do not form an ablation of the option."""


@dataclass(frozen=True)
class AblationRow:
    value: Any
    run: RunSummary
    #: Task -> comparison with the baseline run; empty for the baseline row.
    differences: dict[str, TaskComparison]


@dataclass(frozen=True)
class Ablation:
    option: str
    baseline: Any
    rows: tuple[AblationRow, ...]
    tasks: tuple[str, ...]
    resamples: int
    notes: tuple[str, ...] = ()


def ablation(
    runs: Sequence[RunSummary],
    option: str,
    baseline: str | None = None,
    resamples: int = PAIRED_RESAMPLES,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
) -> Ablation:
    """Rows in the order the runs are given, the baseline first."""
    if not runs:
        raise AblationError("an ablation needs runs")
    models = sorted({run.model for run in runs})
    if len(models) > 1:
        raise AblationError(f"an ablation compares runs of one model; these are of {', '.join(models)}")
    by_value: dict[str, RunSummary] = {}
    for run in runs:
        options = run.adapter_options
        if option not in options:
            known = ", ".join(sorted(options)) or "none"
            raise AblationError(f"{run.run_dir} does not record the option {option!r}; its options: {known}")
        key = _text(options[option])
        if key in by_value:
            raise AblationError(f"{by_value[key].run_dir} and {run.run_dir} both have {option}={key}; give one run per value")
        by_value[key] = run
    base_key = baseline if baseline is not None else _default(models[0], option)
    if base_key is None:
        raise AblationError(f"{models[0]} declares no default for {option!r}; name the baseline value (--ablation-base)")
    if base_key not in by_value:
        raise AblationError(f"no run has the baseline {option}={base_key}; the runs have {', '.join(by_value)}")
    base = by_value[base_key]
    tasks = tuple(dict.fromkeys(task for run in runs for task in run.tasks))
    rows = [AblationRow(base.adapter_options[option], base, {})]
    for key, run in by_value.items():
        if key == base_key:
            continue
        differences = {base_label: compare_task(base, run, base_label, resamples=resamples, seed=seed, new_task=label)
                       for base_label, label in matching_labels(base, run)}
        rows.append(AblationRow(run.adapter_options[option], run, differences))
    return Ablation(option, base.adapter_options[option], tuple(rows), tasks, resamples, tuple(_notes(rows, option)))


def ablation_frame(result: Ablation, digits: int = 1) -> pd.DataFrame:
    """Display strings: the option's value, the run, then per task its headline and Δ."""
    runs = [row.run for row in result.rows]
    shown = display_frame(leaderboard(runs), digits)
    frame = pd.DataFrame({result.option: [_text(row.value) for row in result.rows], "run": list(shown["run"])})
    for task in result.tasks:
        headline = [c for c in shown.columns if c.startswith(f"{task} ")]
        for column in headline:
            frame[column] = list(shown[column])
        frame[f"{task} Δ vs {_text(result.baseline)}"] = [_difference(row, task, digits) for row in result.rows]
    frame["errors"] = list(shown["errors"])
    return frame


def ablation_notes(result: Ablation) -> list[str]:
    notes = list(result.notes)
    for row in result.rows:
        for task, comparison in row.differences.items():
            where = f"{result.option}={_text(row.value)}, {task}"
            if comparison.only_base or comparison.only_new:
                notes.append(f"{where}: compared on the {comparison.shared} samples both runs answered")
            notes.extend(f"{where}: {note}" for note in comparison.notes)
    return notes


def _difference(row: AblationRow, task: str, digits: int) -> str:
    if not row.differences:
        return "baseline"
    comparison = row.differences.get(task)
    headline = next((m for m in comparison.metrics if m.primary), None) if comparison else None
    if headline is None:
        return "–"
    places = digits if headline.percent else digits + 2
    low, high = headline.ci95
    scale = headline.scale
    interval = f"[{signed_number(low * scale, places)}, {signed_number(high * scale, places)}]"
    return f"{signed_number(headline.delta * scale, places)} {interval} p={p_value_text(headline.p_value)}"


def _notes(rows: Sequence[AblationRow], option: str) -> list[str]:
    """Options other than the ablated one that differ between runs make the rows incomparable."""
    notes = []
    base = {k: v for k, v in rows[0].run.adapter_options.items() if k != option}
    for row in rows[1:]:
        other = {k: v for k, v in row.run.adapter_options.items() if k != option}
        changed = sorted(k for k in set(base) | set(other) if base.get(k) != other.get(k))
        if changed:
            notes.append(f"{option}={_text(row.value)} also differs from the baseline in {', '.join(changed)}")
        if row.run.manifest.get("seed") != rows[0].run.manifest.get("seed"):
            notes.append(f"{option}={_text(row.value)} ran with another seed than the baseline")
    return notes


def _default(model: str, option: str) -> str | None:
    try:
        options_type = ADAPTERS.get(model).Options
    except UnknownNameError:
        return None
    for field in dataclasses.fields(options_type):
        if field.name == option and field.default is not dataclasses.MISSING:
            return _text(field.default)
    return None


def _text(value: Any) -> str:
    """How an option value is written on the command line (and so matched against)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)
