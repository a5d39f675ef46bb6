"""Arguments of ``thbench report`` and ``thbench compare``, apart from their handlers so that
building the command line imports no report code (pandas and the rest load only for a report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.runner import DEFAULT_RESULTS_ROOT
from bench.stats import PAIRED_RESAMPLES

FORMATS = ["md", "csv", "latex", "html"]


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", type=Path, help=f"run folders or folders of runs (default: {DEFAULT_RESULTS_ROOT})")
    parser.add_argument("--format", choices=FORMATS, default="md", help="table format (html: a complete page)")
    parser.add_argument("--output", type=Path, help="write the table to a file instead of printing it")
    parser.add_argument("--all-metrics", action="store_true", help="every metric, not only each task's headline")
    parser.add_argument("--columns", help='metric columns to show, comma-separated shell patterns, e.g. "*textvqa*,*/anls"')
    parser.add_argument("--sort", metavar="COLUMN", help='sort by a column, best first, e.g. "starter-textvqa accuracy"')
    parser.add_argument("--ascending", action="store_true", help="sort lowest first whatever the metric's direction")
    parser.add_argument("--digits", type=int, default=1, help="decimals shown (default: 1)")
    parser.add_argument("--paper", metavar="NAME", help="show a paper's published numbers beside the measured ones (e.g. textharmony)")
    parser.add_argument("--paper-model", metavar="MODEL", help="which of the paper's models to show (default: the paper's own; 'all')")
    parser.add_argument("--published-dir", type=Path, help="folder of published-results files (default: results/published)")
    parser.add_argument("--trend", action="store_true", help="each metric against the checkpoint step parsed from the adapter options")
    parser.add_argument("--step-option", metavar="OPTION", help="adapter option holding the checkpoint (default: the declared one, then any)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML report (tables, charts, galleries)")
    parser.add_argument("--data-dir", type=Path, help="benchmark data root, for input images in the HTML report (default: $THBENCH_DATA or data)")
    parser.add_argument("--gallery", type=int, default=8, help="generated samples shown per task in the HTML report")
    parser.add_argument("--worst", type=int, default=8, help="lowest-scoring understanding samples shown per task in the HTML report")
    parser.add_argument("--ablation", metavar="OPTION",
                        help="one row per value of this adapter option (e.g. gate), each with its paired difference from the baseline run")
    parser.add_argument("--ablation-base", metavar="VALUE", help="the baseline value of --ablation (default: the adapter's default)")


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", type=Path, help="the reference run folder")
    parser.add_argument("new", type=Path, help="the run folder to check")
    parser.add_argument("--max-drop", type=float, default=0.0,
                        help="largest allowed drop, in the metric's display units (points for percentages); default 0")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level of the paired test (default 0.05)")
    parser.add_argument("--gate", choices=["primary", "all"], default="primary",
                        help="metrics whose significant drop fails the check: each task's headline (default) or every shown metric")
    parser.add_argument("--resamples", type=int, default=PAIRED_RESAMPLES, help=f"bootstrap resamples and permutations (default {PAIRED_RESAMPLES})")
    parser.add_argument("--digits", type=int, default=1, help="decimals shown (default: 1)")
    parser.add_argument("--output", type=Path, help="also write the Markdown summary to a file (e.g. for a CI comment)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML comparison page")
    parser.add_argument("--data-dir", type=Path, help="benchmark data root, for input images in the HTML page")
