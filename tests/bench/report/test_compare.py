"""``thbench compare``: paired intervals and p-values, the regression gate and its exit code."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.report.compare import compare_runs
from bench.report.compare_text import comparison_markdown
from bench.report.runs import load_run
from bench.stats import paired_statistics
from bench.store import RunStore


def _scores(run_dir: Path, task: str, metric: str) -> dict[str, float]:
    return {record.id: record.scores[metric] for record in RunStore(run_dir).read_predictions(task).values()}


# -- the statistics, against values derived by hand ----------------------------------------------

def test_identical_scores_give_a_zero_interval_and_p_of_one():
    scores = np.array([[1.0], [0.0], [1.0], [1.0]])
    result = paired_statistics(scores, scores.copy(), ["correct"])["correct"]
    assert result.delta == 0 and result.ci95 == (0.0, 0.0) and result.p_value == 1.0


def test_sign_flip_p_value_matches_the_exact_permutation_distribution():
    # 20 samples, 10 of which drop from 1 to 0: the statistic reaches |−0.5| only when all ten
    # non-zero differences flip the same way, probability 2 / 2**10 ≈ 0.002.
    base = np.ones((20, 1))
    many = base.copy()
    many[:10] = 0.0
    result = paired_statistics(base, many, ["correct"], resamples=4000)["correct"]
    assert result.delta == pytest.approx(-0.5)
    assert result.p_value < 0.01
    assert result.ci95[1] < 0  # the whole interval is a drop
    # Two drops out of 20: |sum of two random signs| = 2 with probability 1/2.
    few = base.copy()
    few[:2] = 0.0
    assert paired_statistics(base, few, ["correct"], resamples=4000)["correct"].p_value == pytest.approx(0.5, abs=0.05)


def test_ratio_metrics_are_recomputed_from_resampled_means():
    hits_base = np.array([3.0, 1.0, 2.0, 1.0])
    hits_new = np.array([0.0, 1.0, 2.0, 1.0])
    lines = np.array([3.0, 1.0, 2.0, 1.0])
    ratio = lambda means: {"line_accuracy": means["hits"] / means["lines"]}  # noqa: E731
    result = paired_statistics(np.c_[hits_base, lines], np.c_[hits_new, lines], ["hits", "lines"], ratio)
    # sum(hits)/sum(lines): 7/7 → 4/7; the mean of per-item ratios would give 1 → 0.75.
    assert result["line_accuracy"].delta == pytest.approx(4 / 7 - 1)
    assert result["line_accuracy"].base == pytest.approx(1.0)


# -- real runs -----------------------------------------------------------------------------------

def test_two_runs_of_the_same_adapter_show_no_significant_difference(make_run, tmp_path):
    # Same adapter, 10% wrong answers drawn from each run's seed: the runs differ only by chance.
    first = make_run("noisy-seed0", model_args={"noise": "0.1"}, seed=0)
    second = make_run("noisy-seed1", model_args={"noise": "0.1"}, seed=1)
    assert _scores(first, "report-say", "correct") != _scores(second, "report-say", "correct")
    summary = tmp_path / "summary.md"
    status = main(["compare", str(first), str(second), "--gate", "all", "--output", str(summary)])
    assert status == 0
    text = summary.read_text()
    assert "no significant regression" in text and "REGRESSION" not in text


def test_a_degraded_adapter_is_reported_and_fails_the_check(make_run, tmp_path):
    base = make_run("oracle", model_args={})
    degraded = make_run("oracle-wrong-40", model_args={"wrong_fraction": "0.4"})
    before, after = _scores(base, "report-say", "correct"), _scores(degraded, "report-say", "correct")
    expected = 100 * (np.mean(list(after.values())) - np.mean(list(before.values())))
    assert expected < -25  # the fixed 40% (by question hash) really is wrong

    summary = tmp_path / "ci-comment.md"
    assert main(["compare", str(base), str(degraded), "--output", str(summary)]) == 1
    text = summary.read_text()
    assert "1 significant regression" in text and "REGRESSION" in text
    assert f"{expected:+.1f}" in text

    comparison = compare_runs(load_run(base), load_run(degraded))
    (task, metric), = comparison.regressions()
    assert task == "report-say" and metric.metric == "correct" and metric.primary
    assert metric.drop == pytest.approx(-expected)
    assert metric.p_value < 0.001 and metric.ci95[1] < 0


def test_an_allowed_drop_passes_but_is_still_reported(make_run):
    base = make_run("oracle", model_args={})
    degraded = make_run("oracle-wrong-40", model_args={"wrong_fraction": "0.4"})
    assert main(["compare", str(base), str(degraded), "--max-drop", "60"]) == 0
    text = comparison_markdown(compare_runs(load_run(base), load_run(degraded), max_drop=60))
    assert "no significant regression" in text and "significant drop (within allowed)" in text


def test_a_lower_is_better_metric_drops_when_it_rises(make_run):
    base = make_run("oracle", model_args={})
    degraded = make_run("oracle-wrong-40", model_args={"wrong_fraction": "0.4"})
    comparison = compare_runs(load_run(base), load_run(degraded), gate="all")
    length = next(m for t in comparison.tasks for m in t.metrics if m.metric == "length")
    # Wrong answers are N + 1000: longer, and longer is worse for this metric.
    assert length.delta > 0 and length.drop > 0 and not length.percent
    assert ("report-say", length) in comparison.regressions()


def test_derived_metrics_are_compared_on_a_generation_task(make_run):
    base = make_run("painter", model="report-painter", tasks=["report-lines"])
    degraded = make_run("painter-wrong-40", model="report-painter", tasks=["report-lines"], model_args={"wrong_fraction": "0.4"})
    hits_before, hits_after = _scores(base, "report-lines", "hits"), _scores(degraded, "report-lines", "hits")
    lines = _scores(base, "report-lines", "lines")
    expected = sum(hits_after.values()) / sum(lines.values()) - sum(hits_before.values()) / sum(lines.values())
    comparison = compare_runs(load_run(base), load_run(degraded))
    task, = comparison.tasks
    metric, = task.metrics  # hits and lines are hidden; only the derived ratio is shown
    assert metric.metric == "line_accuracy" and metric.derived and metric.primary
    assert metric.delta == pytest.approx(expected)
    assert comparison.regressions()


def test_samples_in_only_one_run_are_listed(make_run):
    base = make_run("oracle", model_args={})
    shorter = make_run("oracle-first-50", model_args={"noise": "0"}, limit=50)
    comparison = compare_runs(load_run(base), load_run(shorter))
    task, = comparison.tasks
    assert task.shared == 50 and task.only_new == ()
    assert task.only_base == tuple(sorted(f"q{i}" for i in range(50, 60)))
    text = comparison_markdown(comparison)
    assert "10 sample(s) only in base (q50, q51," in text and "compared on the 50 shared" in text


def test_runs_on_different_data_are_flagged(make_run, say_dataset, tmp_path):
    other_root = tmp_path / "other-data"
    say_dataset(other_root / "report-say")
    (other_root / "report-say" / "questions.json").write_text(
        (other_root / "report-say" / "questions.json").read_text().replace('"answers": ["7"]', '"answers": ["seven"]')
    )
    base = make_run("oracle", model_args={})
    moved = make_run("oracle-other-data", model_args={"noise": "0"}, data_root=other_root)
    text = comparison_markdown(compare_runs(load_run(base), load_run(moved)))
    assert "DATASET DIFFERS" in text


def test_a_task_whose_plugin_is_gone_falls_back_to_per_sample_metrics(make_run, tmp_path):
    base = make_run("painter", model="report-painter", tasks=["report-lines"])
    degraded = make_run("painter-wrong-40", model="report-painter", tasks=["report-lines"], model_args={"wrong_fraction": "0.4"})
    renamed = []
    for source in (base, degraded):
        target = tmp_path / source.name
        shutil.copytree(source, target)
        for name in ("scores.json", "manifest.json"):
            path = target / name
            path.write_text(path.read_text().replace('"report-lines"', '"report-lines-uninstalled"'))
        for folder in ("predictions", "selections"):
            (target / folder / "report-lines").rename(target / folder / "report-lines-uninstalled")
        renamed.append(target)
    comparison = compare_runs(load_run(renamed[0]), load_run(renamed[1]))
    task, = comparison.tasks
    assert task.task == "report-lines-uninstalled"
    # the ratio cannot be recomputed; its per-sample sums are compared (and gated) instead
    assert [m.metric for m in task.metrics] == ["hits", "lines"]
    assert any("not installed" in note and "line_accuracy" in note for note in task.notes)
    assert [m.metric for _, m in comparison.regressions()] == ["hits"]
    assert "per-sample metrics only" in comparison_markdown(comparison)


def test_runs_that_share_no_sample_give_no_verdict(make_run, starter_runs, caplog):
    """A regression gate that compared nothing must not pass."""
    toy = make_run("oracle", model_args={})
    assert main(["compare", str(toy), str(starter_runs["ocr"])]) == 2
    assert "share none" in caplog.text
