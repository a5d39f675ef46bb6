"""``thbench report --ablation``: one row per option value, paired differences from the baseline."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.report.ablation import AblationError, ablation, ablation_frame
from bench.report.compare import compare_runs
from bench.report.runs import load_run


@pytest.fixture(scope="module")
def sweep(make_run):
    """The oracle at its default (no wrong answers) and two degraded settings."""
    return {
        "0.0": make_run("oracle", model_args={}),
        "0.4": make_run("oracle-wrong-40", model_args={"wrong_fraction": "0.4"}),
        "0.1": make_run("oracle-wrong-10", model_args={"wrong_fraction": "0.1"}),
    }


def test_rows_follow_the_runs_with_the_default_as_baseline(sweep):
    runs = [load_run(sweep[v]) for v in ("0.4", "0.0", "0.1")]
    result = ablation(runs, "wrong_fraction")
    assert [row.value for row in result.rows] == [0.0, 0.4, 0.1]
    assert result.rows[0].differences == {}
    frame = ablation_frame(result)
    assert list(frame["wrong_fraction"]) == ["0.0", "0.4", "0.1"]
    assert list(frame.columns) == ["wrong_fraction", "run", "report-say correct", "report-say Δ vs 0.0", "errors"]
    assert frame["report-say Δ vs 0.0"][0] == "baseline"


def test_differences_are_those_of_compare(sweep):
    base, degraded = load_run(sweep["0.0"]), load_run(sweep["0.4"])
    result = ablation([base, degraded], "wrong_fraction")
    expected = next(m for m in compare_runs(base, degraded).tasks[0].metrics if m.primary)
    got = next(m for m in result.rows[1].differences["report-say"].metrics if m.primary)
    assert got == expected
    assert expected.delta < -0.25 and expected.p_value < 0.01
    cell = ablation_frame(result)["report-say Δ vs 0.0"][1]
    assert cell.startswith(f"{expected.delta * 100:+.1f} [") and cell.endswith("p=<0.001")


def test_a_named_baseline_and_the_command(sweep, capsys):
    code = main(["report", "--ablation", "wrong_fraction", "--ablation-base", "0.1", *map(str, sweep.values())])
    assert code == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 0.")]
    assert [row.split("|")[1].strip() for row in rows] == ["0.1", "0.0", "0.4"]
    assert "Δ vs 0.1" in out and "paired bootstrap" in out
    # Against the 10%-wrong baseline the oracle gains and the 40%-wrong run loses.
    assert rows[1].split("|")[4].strip().startswith("+") and rows[2].split("|")[4].strip().startswith("-")


def test_runs_that_are_not_an_ablation_are_refused(sweep, make_run):
    base = load_run(sweep["0.0"])
    with pytest.raises(AblationError, match="one run per value"):
        ablation([base, base], "wrong_fraction")
    with pytest.raises(AblationError, match="does not record the option 'gate'"):
        ablation([base], "gate")
    with pytest.raises(AblationError, match="no run has the baseline wrong_fraction=0.0"):
        ablation([load_run(sweep["0.4"])], "wrong_fraction")
    mixed = load_run(make_run("wrong-40-noisy-seed1", model_args={"wrong_fraction": "0.4", "noise": "0.1"}, seed=1))
    notes = ablation([base, mixed], "wrong_fraction").notes
    assert notes == (
        "wrong_fraction=0.4 also differs from the baseline in noise",
        "wrong_fraction=0.4 ran with another seed than the baseline",
    )
