"""Leaderboard: one row per run, one column per task metric, read from run stores."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import pandas as pd

from bench.store import RunStore

Format = Literal["md", "csv", "latex", "html"]


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    model: str
    adapter_fingerprint: str
    scores: dict[str, Any]
    manifest: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.model} ({self.run_dir.name})"


def find_runs(paths: Sequence[Path]) -> list[Path]:
    """Run folders among ``paths``: each path is a run, or a folder holding runs."""
    found: list[Path] = []
    for path in paths:
        if (path / "scores.json").is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.glob("*/scores.json")))
    return found


def load_run(run_dir: Path) -> RunSummary:
    store = RunStore(run_dir)
    scores = store.read_scores()
    if not scores:
        raise FileNotFoundError(f"{run_dir} has no scores.json; is it a thbench run folder?")
    manifest = store.read_manifest()
    return RunSummary(run_dir, scores.get("model", "?"), scores.get("adapter_fingerprint", ""), scores, manifest)


def leaderboard(runs: Sequence[RunSummary], all_metrics: bool = False) -> pd.DataFrame:
    """Numbers as floats (percent metrics ×100) with ``… ci_low`` / ``… ci_high`` companions;
    formatting for display happens in :func:`render`."""
    rows = []
    for run in runs:
        row: dict[str, Any] = {"model": run.model, "run": run.run_dir.name, "errors": 0, "samples": 0}
        for task, summary in run.scores.get("tasks", {}).items():
            row["errors"] += summary.get("errors", 0)
            row["samples"] += summary.get("n", 0)
            for metric, entry in summary.get("metrics", {}).items():
                if not entry.get("shown", True) or (not all_metrics and metric != summary.get("primary")):
                    continue
                scale = 100.0 if entry.get("percent") else 1.0
                column = f"{task} {metric}"
                row[column] = entry["value"] * scale
                row[f"{column} ci_low"] = entry["ci95"][0] * scale
                row[f"{column} ci_high"] = entry["ci95"][1] * scale
        rows.append(row)
    return pd.DataFrame(rows)


def metric_columns(frame: pd.DataFrame) -> list[str]:
    fixed = {"model", "run", "errors", "samples"}
    return [c for c in frame.columns if c not in fixed and not c.endswith((" ci_low", " ci_high"))]


def display_frame(frame: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """Strings such as ``72.3 (63.0–80.1)``; missing cells (a task the model cannot do) are
    shown as ``–``."""
    shown = frame[["model", "run"]].copy()
    for column in metric_columns(frame):
        shown[column] = [
            "–" if pd.isna(value) else f"{value:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"
            for value, low, high in zip(frame[column], frame[f"{column} ci_low"], frame[f"{column} ci_high"])
        ]
    shown["errors"] = [f"{int(e)}/{int(n)}" for e, n in zip(frame["errors"], frame["samples"])]
    return shown


def render(frame: pd.DataFrame, fmt: Format = "md", digits: int = 1) -> str:
    if fmt == "csv":
        return frame.to_csv(index=False, float_format=f"%.{digits + 2}f")
    shown = display_frame(frame, digits)
    if fmt == "md":
        return markdown_table(shown)
    if fmt == "latex":
        latex = shown.copy()
        latex.columns = [_latex_escape(str(c)) for c in latex.columns]
        for column in latex.columns:
            latex[column] = [_latex_escape(str(v)) for v in latex[column]]
        return latex.to_latex(index=False, escape=False)
    if fmt == "html":
        return shown.to_html(index=False, escape=True, border=0, classes="leaderboard")
    raise ValueError(f"unknown format {fmt!r}; use md, csv, latex or html")


def markdown_table(frame: pd.DataFrame) -> str:
    header = [str(c) for c in frame.columns]
    rows = [[str(v).replace("|", "\\|") for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), separator, *(line(r) for r in rows)]) + "\n"


def _latex_escape(text: str) -> str:
    replacements = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(replacements.get(ch, ch) for ch in text)

