"""``thbench report``: leaderboard rows, columns, sorting and formats."""

from __future__ import annotations

import csv
import io
import json

import pytest

from bench.cli import main
from bench.report.leaderboard import leaderboard, select_columns, sort_rows
from bench.report.leaderboard_output import render
from bench.report.runs import RunSummary, load_run
from bench.store import RunStore


@pytest.fixture(scope="module")
def two_runs(make_run):
    return make_run("oracle", model_args={}), make_run("oracle-wrong-40", model_args={"wrong_fraction": "0.4"})


def _correct(run_dir) -> float:
    values = [record.scores["correct"] for record in RunStore(run_dir).read_predictions("report-say").values()]
    return 100 * sum(values) / len(values)


def test_one_row_per_run_with_intervals_errors_and_fingerprint(two_runs):
    frame = leaderboard([load_run(r) for r in two_runs])
    assert list(frame["run"]) == ["oracle", "oracle-wrong-40"]
    assert frame.loc[1, "report-say correct"] == pytest.approx(_correct(two_runs[1]))
    assert frame.loc[1, "report-say correct ci_low"] < frame.loc[1, "report-say correct"] < frame.loc[1, "report-say correct ci_high"]
    assert list(frame["errors"]) == [0, 0] and list(frame["samples"]) == [60, 60]
    manifest = json.loads((two_runs[1] / "manifest.json").read_text())
    assert frame.loc[1, "fingerprint"] == manifest["adapter"]["fingerprint"]
    assert "report-say length" not in frame.columns  # headline metrics only by default
    assert "report-say length" in leaderboard([load_run(r) for r in two_runs], all_metrics=True).columns


def test_the_checkpoint_is_the_option_the_adapter_declares(make_run, tmp_path):
    swept = make_run("oracle-at-700", model_args={"checkpoint": "train/checkpoint-700"})
    assert list(leaderboard([load_run(swept)])["checkpoint"]) == ["train/checkpoint-700"]

    def summary(adapter: str, **options: str) -> RunSummary:
        return RunSummary(tmp_path, adapter, "fingerprint", {"tasks": {}}, {"adapter": {"options": options}})

    assert summary("monkey", model="/weights/monkey", device="cpu").checkpoint == "/weights/monkey"
    assert summary("hf-vlm", model="/weights/qwen").checkpoint == "/weights/qwen"
    assert summary("textharmony", checkpoint="/ckpt/pytorch_model.bin", vicuna="/vicuna").checkpoint == "/ckpt/pytorch_model.bin"
    # An option merely called like a checkpoint names none when the adapter declares another or none.
    assert summary("monkey", checkpoint="/elsewhere").checkpoint is None
    assert summary("glyph-render", path="/fonts").checkpoint is None
    assert summary("no-such-model", model="/weights").checkpoint is None


def test_sorting_puts_the_best_first_in_the_metric_direction(two_runs):
    frame = leaderboard([load_run(r) for r in two_runs], all_metrics=True)
    assert list(sort_rows(frame, "report-say correct")["run"]) == ["oracle", "oracle-wrong-40"]
    # length: lower is better, and the degraded run's answers are longer
    assert list(sort_rows(frame, "report-say/length")["run"]) == ["oracle", "oracle-wrong-40"]
    assert list(sort_rows(frame, "report-say correct", ascending=True)["run"]) == ["oracle-wrong-40", "oracle"]
    with pytest.raises(ValueError, match="not a column"):
        sort_rows(frame, "report-say nonsense")


def test_column_patterns_select_and_order_metrics(two_runs):
    frame = leaderboard([load_run(r) for r in two_runs], all_metrics=True)
    chosen = select_columns(frame, ["*length", "report-say/correct"])
    metrics = [c for c in chosen.columns if c.startswith("report-say ") and not c.endswith((" ci_low", " ci_high", " errors", " n", " total"))]
    assert metrics == ["report-say length", "report-say correct"]
    with pytest.raises(ValueError, match="matches no column"):
        select_columns(frame, ["*textvqa*"])


def test_formats(two_runs, tmp_path):
    frame = leaderboard([load_run(r) for r in two_runs])
    value = f"{_correct(two_runs[1]):.1f}"
    markdown = render(frame, "md")
    assert markdown.splitlines()[1].startswith("|--") and value in markdown
    rows = list(csv.DictReader(io.StringIO(render(frame, "csv"))))
    assert float(rows[1]["report-say correct"]) == pytest.approx(_correct(two_runs[1]), abs=1e-3)
    assert rows[1]["errors"] == "0"
    latex = render(frame, "latex")
    assert "\\begin{tabular}" in latex and "oracle-wrong-40" in latex and "report-say correct" in latex
    page = render(frame, "html")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and value in page


def test_latex_and_markdown_escape_what_would_break_them():
    import pandas as pd

    from bench.report.tables import latex_table, markdown_table

    frame = pd.DataFrame([{"model": "a_b & 50%", "note": "x|y"}])
    assert "a\\_b \\& 50\\%" in latex_table(frame)
    assert "x\\|y" in markdown_table(frame)


def test_cli_writes_the_table_and_the_page(two_runs, report_data, tmp_path, capsys):
    table, page = tmp_path / "board.tex", tmp_path / "report.html"
    assert main(["report", str(two_runs[0]), str(two_runs[1]), "--format", "latex", "--output", str(table),
                 "--sort", "report-say correct", "--ascending", "--html", str(page), "--data-dir", str(report_data),
                 "--worst", "5"]) == 0
    text = table.read_text()
    assert text.index("& oracle-wrong-40 &") < text.index("& oracle &")
    # five worst samples of each run, each with its input image
    assert page.read_text().count('<img src="data:image/jpeg;base64,') == 10
    assert main(["report", str(two_runs[0].parent), "--columns", "*correct"]) == 0
    assert "report-say correct" in capsys.readouterr().out


def test_rows_of_one_model_say_what_sets_them_apart(make_run):
    runs = [load_run(make_run("oracle")), load_run(make_run("oracle-wrong-40", model_args={"wrong_fraction": "0.4"})),
            load_run(make_run("oracle-seed-3", seed=3))]
    frame = leaderboard(runs)
    assert list(frame["setting"]) == ["seed=0, wrong_fraction=0.0", "seed=0, wrong_fraction=0.4", "seed=3, wrong_fraction=0.0"]
    shown = render(frame, "md")
    assert "| setting" in shown and "seed=3, wrong_fraction=0.0" in shown
    alone = leaderboard(runs[:1])
    assert list(alone["setting"]) == [""] and "setting" not in render(alone, "md")
