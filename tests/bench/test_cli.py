from __future__ import annotations

import json

import pytest

from bench.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_shows_builtin_plugins(capsys):
    code, out, _ = _run(capsys, "list", "tasks")
    assert code == 0 and "starter-textvqa" in out and "textvqa" in out
    code, out, _ = _run(capsys, "list", "models")
    assert "ocr-pipeline" in out and "glyph-render" in out
    code, out, _ = _run(capsys, "list", "metrics")
    assert "anls" in out and "textvqa_accuracy" in out


def test_run_prints_a_summary_and_a_leaderboard(toy_data, tmp_path, capsys):
    code, out, _ = _run(capsys, "run", "--model", "test-echo", "--tasks", "toy-say", "--model-args", "wrong_every=3",
                        "--data-dir", str(toy_data), "--results-dir", str(tmp_path / "runs"), "--no-progress")
    assert code == 0
    # 0, 3, 6, 9 answered wrong: 8 of 12 right
    assert "test-echo · toy-say: exact 66.7  n=12 errors=0" in out
    assert "| test-echo |" in out and "66.7 (" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--model", "test-echo", "--tasks", "toy-paint"], "sends 'generate_image' requests"),
        (["run", "--model", "no-such-model", "--tasks", "toy-say"], "unknown model 'no-such-model'"),
        (["run", "--model", "test-echo", "--tasks", "toy-say", "--model-args", "colour=red"], "has no option 'colour'"),
        (["run", "--model", "test-echo", "--tasks", "toy-say", "--trust-remote-code"], "has no option 'trust_remote_code'"),
    ],
)
def test_run_refuses_with_a_clear_message(argv, message, toy_data, tmp_path, caplog):
    code = main(argv + ["--data-dir", str(toy_data), "--results-dir", str(tmp_path / "runs")])
    assert code == 2
    assert message in caplog.text
    assert not (tmp_path / "runs").exists()


def test_missing_dataset_names_the_file(tmp_path, caplog):
    code = main(["run", "--model", "ocr-pipeline", "--tasks", "textvqa", "--data-dir", str(tmp_path), "--results-dir", str(tmp_path / "runs")])
    assert code == 2
    assert str(tmp_path / "textvqa" / "TextVQA_0.5.1_val.json") in caplog.text


def test_report_formats(toy_data, tmp_path, capsys):
    runs = tmp_path / "runs"
    main(["run", "--model", "test-echo", "--tasks", "toy-say", "--data-dir", str(toy_data), "--results-dir", str(runs), "--no-progress"])
    capsys.readouterr()
    for fmt, marker in (("md", "| model"), ("csv", "model,run"), ("latex", "\\begin{tabular}"), ("html", "<table")):
        code, out, _ = _run(capsys, "report", str(runs), "--format", fmt)
        assert code == 0 and marker in out, fmt
    code, out, _ = _run(capsys, "report", str(runs), "--format", "csv")
    header, row = out.splitlines()[:2]
    values = dict(zip(header.split(","), row.split(",")))
    assert float(values["toy-say exact"]) == pytest.approx(100.0)


def test_report_marks_scores_over_part_of_a_task(toy_data, tmp_path, capsys):
    runs = tmp_path / "runs"
    main(["run", "--model", "test-echo", "--tasks", "toy-say", "--limit", "5", "--data-dir", str(toy_data),
          "--results-dir", str(runs), "--no-progress"])
    capsys.readouterr()
    code, out, _ = _run(capsys, "report", str(runs))
    assert code == 0 and "[n=5/12]" in out


def test_score_predictions_made_elsewhere(toy_data, tmp_path, capsys):
    predictions = tmp_path / "answers.jsonl"
    predictions.write_text("".join(json.dumps({"id": f"q{i}", "output": str(i if i < 6 else 0)}) + "\n" for i in range(10)))
    code, out, _ = _run(capsys, "score", "--task", "toy-say", "--predictions", str(predictions), "--data-dir", str(toy_data),
                        "--output", str(tmp_path / "scored.jsonl"), "--max-errors", "2")
    assert code == 0
    # q0..q5 right, q6..q9 wrong, q10 and q11 missing: 6 of 12
    assert "toy-say exact: 50.00" in out
    assert "missing=2" in out
    scored = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()]
    assert len(scored) == 12 and sum(1 for r in scored if r["error"]) == 2


def test_score_counts_short_image_lists_and_stored_errors_as_misses(tmp_path, capsys):
    """A generation output with fewer images than asked, or recorded as failed, is a miss."""
    from PIL import Image

    Image.new("RGB", (16, 16), "red").save(tmp_path / "a.png")
    lines = [
        {"id": "p0", "images": ["a.png", "a.png"]},
        {"id": "p1", "images": ["a.png"]},
        {"id": "p2", "images": [], "error": {"type": "RuntimeError", "message": "out of memory", "stage": "model"}},
        {"id": "p3", "images": ["a.png", "a.png"]},
        {"id": "p4", "images": ["a.png", "a.png"]},
    ]
    predictions = tmp_path / "paint.jsonl"
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, out, _ = _run(capsys, "score", "--task", "toy-paint", "--predictions", str(predictions), "--data-dir", str(tmp_path),
                        "--output", str(tmp_path / "scored.jsonl"))
    assert code == 3  # two failed samples, none allowed
    # three full red answers out of five samples
    assert "toy-paint redness: 60.00" in out
    scored = {r["id"]: r for r in (json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines())}
    assert scored["p1"]["error"]["type"] == "MissingImages"
    assert scored["p2"]["error"]["message"] == "out of memory"


def test_several_seeds_run_one_folder_each_and_print_their_spread(toy_data, tmp_path, capsys):
    from bench.cli import main

    code = main(["run", "--model", "test-echo", "--tasks", "toy-say", "--data-dir", str(toy_data), "--no-progress",
                 "--results-dir", str(tmp_path / "runs"), "--model-args", "noisy=true", "--seeds", "3,4"])
    assert code == 0
    out = capsys.readouterr().out
    assert "toy-say: exact over seeds 3, 4: mean 0.00, sd 0.00, range 0.00–0.00" in out
    assert len(list((tmp_path / "runs").iterdir())) == 2


def test_sampled_textharmony_runs_three_seeds_by_default():
    from bench.adapter import ADAPTERS

    sampled = ADAPTERS.get("textharmony-tiny").from_args({"generation": "release", "seeds": "request"})
    assert sampled.outputs_vary_with_seed()
    assert not ADAPTERS.get("textharmony-tiny").from_args({"generation": "release"}).outputs_vary_with_seed()
    assert not ADAPTERS.get("textharmony-tiny").from_args({}).outputs_vary_with_seed()
