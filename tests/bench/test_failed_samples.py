"""Failed samples never hide: a run or ``score`` with failures exits 3 unless ``--max-errors``
allows them, and the summary names the first failure of each kind."""

from __future__ import annotations

import json

import pytest

from bench.cli import main


def _run(capsys, toy_data, tmp_path, *extra):
    code = main(["run", "--model", "test-echo", "--tasks", "toy-say", "--data-dir", str(toy_data),
                 "--results-dir", str(tmp_path / "runs"), "--run-dir", str(tmp_path / "run"), "--no-progress", *extra])
    return code, capsys.readouterr().out


def test_missing_images_fail_the_run_with_the_first_error_of_each_kind(toy_data, tmp_path, capsys, caplog):
    for index in (1, 2):
        (toy_data / "toy" / "images" / f"{index:03d}.png").unlink()
    code, out = _run(capsys, toy_data, tmp_path, "--model-args", "fail_on=say 5")
    assert code == 3
    assert "n=12 errors=3" in out
    lines = [line for line in out.splitlines() if ": failed: " in line]
    assert len(lines) == 2
    assert lines[0].startswith("test-echo · toy-say: failed: input FileNotFoundError (2 samples), first at sample 'q1': ")
    assert "001.png" in lines[0]
    assert lines[1] == "test-echo · toy-say: failed: model RuntimeError, first at sample 'q5': cannot answer 'say 5'"
    assert "3 of 12 samples failed, more than --max-errors allows (0 failed samples)" in caplog.text
    scores = json.loads((tmp_path / "run" / "scores.json").read_text())["tasks"]["toy-say"]
    assert [(e["id"], e["stage"], e["count"]) for e in scores["first_errors"]] == [("q1", "input", 2), ("q5", "model", 1)]


@pytest.mark.parametrize("allowance, code", [("3", 0), ("2", 3), ("25%", 0), ("20%", 3)])
def test_max_errors_allows_a_count_or_a_fraction_of_each_task(allowance, code, toy_data, tmp_path, capsys):
    for index in (1, 2, 3):
        (toy_data / "toy" / "images" / f"{index:03d}.png").unlink()
    assert _run(capsys, toy_data, tmp_path, "--max-errors", allowance)[0] == code


def test_a_resumed_run_still_reports_its_stored_failures(toy_data, tmp_path, capsys):
    assert _run(capsys, toy_data, tmp_path, "--model-args", "fail_on=say 4")[0] == 3
    code, out = _run(capsys, toy_data, tmp_path, "--model-args", "fail_on=say 4")
    assert code == 3 and "computed=0 reused=12" in out and "first at sample 'q4'" in out


def test_max_errors_refuses_what_it_cannot_read(toy_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--model", "test-echo", "--tasks", "toy-say", "--max-errors", "lots"])
    assert exit_info.value.code == 2
    assert "--max-errors expects a count (e.g. 5) or a percentage (e.g. 1%), got 'lots'" in capsys.readouterr().err


def test_score_with_missing_predictions_exits_3_unless_allowed(toy_data, tmp_path, capsys):
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps({"id": f"q{i}", "output": str(i)}) + "\n" for i in range(10)))
    argv = ["score", "--task", "toy-say", "--predictions", str(predictions), "--data-dir", str(toy_data)]
    assert main(argv) == 3
    out = capsys.readouterr().out
    assert "n=12 errors=2 missing=2" in out
    assert "toy-say: failed: input MissingPrediction (2 samples), first at sample 'q10': no prediction for this sample" in out
    assert main([*argv, "--max-errors", "2"]) == 0
