"""The ``thbench report`` and ``thbench compare`` commands: arguments and handlers, kept beside
the report code."""

from __future__ import annotations

import argparse
import html
import logging
from pathlib import Path

import pandas as pd

from bench.report.ablation import METHOD as ABLATION_METHOD
from bench.report.ablation import ablation, ablation_frame, ablation_notes
from bench.report.compare import compare_runs
from bench.report.compare_text import comparison_markdown
from bench.report.html import comparison_page, page, runs_page
from bench.report.leaderboard import leaderboard, select_columns, sort_rows
from bench.report.leaderboard_output import render
from bench.report.published import load_paper, paper_frame, paper_notes
from bench.report.runs import RunSummary, load_run, load_runs
from bench.report.tables import html_table, render_strings
from bench.report.trend import render_trend, trend_frame
from bench.runner import DEFAULT_RESULTS_ROOT

logger = logging.getLogger(__name__)

def report_command(args: argparse.Namespace) -> int:
    if args.paper:
        return _paper_report(args)
    runs = load_runs(args.runs or [DEFAULT_RESULTS_ROOT])
    if args.ablation:
        return _ablation_report(args, runs)
    if args.trend:
        frame = trend_frame(runs, args.step_option, all_metrics=args.all_metrics or bool(args.columns))
        frame = select_columns(frame, _patterns(args.columns)) if args.columns else frame
        _emit(render_trend(frame, args.format, args.digits), args.output)
        if args.html:
            _write(args.html, render_trend(frame, "html", args.digits))
        return 0
    frame = leaderboard(runs, all_metrics=args.all_metrics or bool(args.columns))
    if args.columns:
        frame = select_columns(frame, _patterns(args.columns))
    if args.sort:
        frame = sort_rows(frame, args.sort, ascending=True if args.ascending else None)
    _emit(render(frame, args.format, args.digits), args.output)
    if args.html:
        by_name = {run.run_dir.name: run for run in runs}
        ordered = [by_name[name] for name in frame["run"]] if len(by_name) == len(runs) else runs
        _write(args.html, runs_page(ordered, args.data_dir, args.gallery, args.worst, args.digits))
    return 0


def _ablation_report(args: argparse.Namespace, runs: list[RunSummary]) -> int:
    result = ablation(runs, args.ablation, args.ablation_base)
    text = render_strings(ablation_frame(result, args.digits), args.format)
    lines = [*ablation_notes(result), ABLATION_METHOD.format(resamples=result.resamples)]
    if args.format == "md":
        text += "\n" + "".join(f"- {line}\n" for line in lines)
    elif args.format == "latex":
        text += "".join(f"% {line}\n" for line in lines)
    _emit(text, args.output)
    return 0


def _paper_report(args: argparse.Namespace) -> int:
    paper = load_paper(args.paper, args.published_dir)
    paths = args.runs or [DEFAULT_RESULTS_ROOT]
    runs = load_runs(paths, allow_none=True) if args.runs or DEFAULT_RESULTS_ROOT.is_dir() else []
    if not runs:
        logger.warning("no runs found in %s: showing the published numbers alone", ", ".join(map(str, paths)))
    frame = paper_frame(paper, runs, args.paper_model, args.digits)
    notes = paper_notes(paper, args.paper_model)
    text = render_strings(frame, args.format)
    if args.format == "md":
        text += "\n" + "".join(f"- {note}\n" for note in notes)
    elif args.format == "latex":
        text += "".join(f"% {note}\n" for note in notes)
    elif args.format == "html":
        text = _paper_page(paper.title, frame, notes)
    _emit(text, args.output)
    if args.html:
        _write(args.html, _paper_page(paper.title, frame, notes))
    return 0


def _paper_page(title: str, frame: pd.DataFrame, notes: list[str]) -> str:
    body = [f"<h1>Published vs measured: {html.escape(title)}</h1>", html_table(frame)]
    body += [f'<p class="note">{html.escape(note)}</p>' for note in notes]
    return page(f"Published vs measured: {title}", "\n".join(body))


def compare_command(args: argparse.Namespace) -> int:
    """Exit status 1 when a gated metric dropped significantly by more than ``--max-drop``."""
    if not 0 < args.alpha < 1:
        raise ValueError(f"--alpha must be between 0 and 1, got {args.alpha}")
    if args.resamples < 100:
        raise ValueError(f"--resamples must be at least 100, got {args.resamples}")
    comparison = compare_runs(load_run(args.base), load_run(args.new), alpha=args.alpha, max_drop=args.max_drop,
                              gate=args.gate, resamples=args.resamples)
    text = comparison_markdown(comparison, args.digits)
    print(text, end="")
    if args.output:
        _write(args.output, text)
    if args.html:
        _write(args.html, comparison_page(comparison, args.data_dir, digits=args.digits))
    if comparison.regressions():
        return 1
    if not comparison.tasks or comparison.untested():
        # A gate that compared nothing must not pass.
        what = ", ".join(comparison.untested()) if comparison.tasks else "any task (the runs share none)"
        logger.error("nothing to compare for %s; no verdict", what)
        return 2
    return 0


def _patterns(text: str) -> list[str]:
    return [pattern.strip() for pattern in text.split(",") if pattern.strip()]


def _emit(text: str, output: Path | None) -> None:
    if output:
        _write(output, text)
    else:
        print(text, end="")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    logger.info("wrote %s", path)
