"""A comparison as Markdown, sized for a CI comment: verdict first, then the table, then notes."""

from __future__ import annotations

import math

import pandas as pd

from bench.report.compare import Comparison, MetricComparison, TaskComparison
from bench.report.tables import markdown_table

#: Sample ids listed per task when some samples are in only one run.
LISTED_IDS = 10

METHOD = (
    "Paired over the samples both runs share (same keys): 95% interval of new − base from a paired "
    "bootstrap ({resamples} resamples; derived metrics recomputed per resample), p-value from a "
    "two-sided paired sign-flip permutation test ({resamples} permutations). "
    "Gate: {gate}, α = {alpha}, allowed drop {max_drop} (display units: points for percentages)."
)


def comparison_frame(comparison: Comparison, digits: int = 1) -> pd.DataFrame:
    rows = []
    for task in comparison.tasks:
        gated = {id(m) for m in comparison.gated(task)}
        for metric in task.metrics:
            rows.append(_row(comparison, task, metric, id(metric) in gated, digits))
    columns = ["task", "metric", "n", "base", "new", "Δ", "95% CI of Δ", "p", "verdict"]
    return pd.DataFrame(rows, columns=columns)


def _row(comparison: Comparison, task: TaskComparison, metric: MetricComparison, gated: bool, digits: int) -> dict[str, str]:
    scale = metric.scale
    low, high = metric.ci95
    # Percentages keep ``digits``; raw values (IoU, lengths, FID) need two more.
    digits = digits if metric.percent else digits + 2
    name = metric.metric + (" ★" if metric.primary else "") + (" (derived)" if metric.derived else "")
    return {
        "task": task.task,
        "metric": name,
        "n": str(task.shared),
        "base": _number(metric.base * scale, digits),
        "new": _number(metric.new * scale, digits),
        "Δ": signed_number(metric.delta * scale, digits),
        "95% CI of Δ": f"[{signed_number(low * scale, digits)}, {signed_number(high * scale, digits)}]",
        "p": p_value_text(metric.p_value),
        "verdict": comparison.verdict(metric, gated),
    }


def comparison_markdown(comparison: Comparison, digits: int = 1) -> str:
    regressions = comparison.regressions()
    lines = ["## thbench compare", ""]
    lines.append(f"- base: `{comparison.base.label}` · model fingerprint `{comparison.base.adapter_fingerprint}`")
    lines.append(f"- new: `{comparison.new.label}` · model fingerprint `{comparison.new.adapter_fingerprint}`")
    lines.append("")
    if regressions:
        listed = ", ".join(f"{task} {m.metric} −{m.drop:.{digits}f}" for task, m in regressions)
        lines.append(f"**Result: {len(regressions)} significant regression{'s' if len(regressions) != 1 else ''}** ({listed})")
    else:
        lines.append("**Result: no significant regression**")
    lines.append("")
    frame = comparison_frame(comparison, digits)
    if len(frame):
        lines.append(markdown_table(frame).rstrip("\n"))
        lines.append("")
        lines.append("★ headline metric.")
    lines.append("")
    notes = list(comparison.notes)
    for task in comparison.tasks:
        if task.only_base or task.only_new:
            notes.append(
                f"{task.task}: {len(task.only_base)} sample(s) only in base{_ids(task.only_base)}, "
                f"{len(task.only_new)} only in new{_ids(task.only_new)}; compared on the {task.shared} shared"
            )
        if task.errors_base or task.errors_new:
            notes.append(f"{task.task}: failed samples (scored as misses) {task.errors_base} in base, {task.errors_new} in new")
        notes.extend(f"{task.task}: {note}" for note in task.notes)
    if notes:
        lines.append("Notes:")
        lines.extend(f"- {note}" for note in notes)
        lines.append("")
    lines.append(
        METHOD.format(
            resamples=comparison.resamples,
            gate="headline metrics" if comparison.gate == "primary" else "every shown metric",
            alpha=comparison.alpha,
            max_drop=comparison.max_drop,
        )
    )
    return "\n".join(lines) + "\n"


def _ids(ids: tuple[str, ...]) -> str:
    if not ids:
        return ""
    shown = ", ".join(ids[:LISTED_IDS])
    more = f", … {len(ids) - LISTED_IDS} more" if len(ids) > LISTED_IDS else ""
    return f" ({shown}{more})"


def _number(value: float, digits: int) -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def signed_number(value: float, digits: int) -> str:
    return "–" if not math.isfinite(value) else f"{value:+.{digits}f}"


def p_value_text(p: float) -> str:
    if not math.isfinite(p):
        return "–"
    return f"{p:.3f}" if p >= 0.001 else "<0.001"
