"""Checkpoint sweeps: steps parsed from adapter options, tables and charts ordered by step."""

from __future__ import annotations

import re

import pytest

from bench.cli import main
from bench.report.runs import checkpoint_step


@pytest.mark.parametrize(
    "text, step",
    [
        ("/ckpt/run1/checkpoint-12000", 12000),
        ("out/step_500/model.safetensors", 500),
        ("weights/global_step3000", 3000),
        ("textharmony-12k.bin", 12000),
        ("model_1.5M", 1_500_000),
        ("runs/step_1/checkpoint-500", 500),
        ("ckpt8000.pt", 8000),
        ("vicuna-13b-v1.3", None),
        ("", None),
    ],
)
def test_checkpoint_step(text, step):
    assert checkpoint_step(text) == step


@pytest.fixture(scope="module")
def sweep(make_run):
    # Later checkpoints answer wrong less often.
    plan = [(3000, "0.1"), (1000, "0.5"), (2000, "0.3")]
    return [make_run(f"sweep-{step}", model_args={"checkpoint": f"train/checkpoint-{step}", "wrong_fraction": fraction})
            for step, fraction in plan]


def test_trend_table_is_sorted_by_step(sweep, capsys):
    assert main(["report", "--trend", *map(str, sweep)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "step" not in line]
    steps = [int(line.split("|")[1]) for line in lines]
    assert steps == [1000, 2000, 3000]
    values = [float(re.search(r"\| (\d+\.\d) \(", line).group(1)) for line in lines]
    assert values == sorted(values)  # fewer wrong answers at later steps


def test_trend_page_draws_one_line_per_model(sweep, make_run, tmp_path, caplog):
    unnamed = make_run("oracle", model_args={})
    page = tmp_path / "trend.html"
    assert main(["report", "--trend", *map(str, sweep), str(unnamed), "--html", str(page), "--columns", "*correct"]) == 0
    assert "no step" in caplog.text and "oracle" in caplog.text
    text = page.read_text()
    assert text.count("<polyline") == 1 and text.count("<circle") == 3 and "checkpoint step" in text
    assert "<script" not in text


def test_trend_without_any_step_explains_how_to_name_checkpoints(make_run):
    unnamed = make_run("oracle", model_args={})
    assert main(["report", "--trend", str(unnamed)]) == 2
