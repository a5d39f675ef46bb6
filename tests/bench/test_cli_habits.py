"""Habits users bring from lm-evaluation-harness and lmms-eval work here too, and the hints
thbench prints name commands and options that exist."""

from __future__ import annotations

import json

import pytest

from bench.cli import main


def test_lm_eval_spellings_of_the_run_options_are_accepted(toy_data, tmp_path, capsys):
    code = main(["run", "--model", "test-echo-placed", "--tasks", "toy-say", "--model_args", "wrong_every=3", "--batch_size", "5",
                 "--output_path", str(tmp_path / "out"), "--device", "cpu", "--data-dir", str(toy_data), "--no-progress"])
    assert code == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["adapter"]["options"]["wrong_every"] == 3 and manifest["adapter"]["options"]["device"] == "cpu"
    assert manifest["batch_size"] == 5
    assert "test-echo-placed · toy-say: exact 66.7" in capsys.readouterr().out


def test_device_and_a_different_device_model_arg_are_refused(toy_data, tmp_path, caplog):
    code = main(["run", "--model", "test-echo-placed", "--tasks", "toy-say", "--device", "cpu", "--model-args", "device=cuda",
                 "--data-dir", str(toy_data), "--results-dir", str(tmp_path / "runs")])
    assert code == 2 and "--device cpu and --model-args device=cuda disagree" in caplog.text


def test_thbench_alone_prints_help_and_runs_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: thbench") and "Start with `thbench run`" in out
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_ocr_engine_points_at_the_listing_command(toy_data, tmp_path, caplog, capsys):
    code = main(["run", "--model", "test-echo", "--tasks", "toy-say", "--ocr-engine", "tesseractt", "--data-dir", str(toy_data),
                 "--results-dir", str(tmp_path / "runs"), "--no-progress"])
    assert code == 2 and "`thbench list ocr` shows them all" in caplog.text
    assert main(["list", "ocr"]) == 0 and "tesseract" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["above", "inside", "file"])
def test_a_data_dir_at_the_wrong_level_says_which_folder_to_pass(tmp_path, caplog, where):
    root = tmp_path / "benchmarks"
    (root / "textvqa").mkdir(parents=True)
    given = {"above": tmp_path, "inside": root / "textvqa", "file": tmp_path / "notes.txt"}[where]
    (tmp_path / "notes.txt").write_text("")
    code = main(["run", "--model", "ocr-pipeline", "--tasks", "textvqa", "--data-dir", str(given), "--results-dir", str(tmp_path / "runs")])
    assert code == 2
    expected = {
        "above": f"--data-dir {tmp_path} is one level too high: pass --data-dir {root}, which holds textvqa/",
        "inside": f"--data-dir points at the textvqa folder itself: pass the folder that holds it, --data-dir {root}",
        "file": f"--data-dir {given} is a file: it should be the folder that holds textvqa/",
    }[where]
    assert expected in caplog.text
