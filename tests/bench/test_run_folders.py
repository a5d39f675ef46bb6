"""What a run folder guarantees, tested with real ``thbench`` processes on real files."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from processes import thbench

from bench.store import RunStore

LEGACY_RUN = Path(__file__).parent / "data" / "legacy_run"


def _run_args(data: Path, run_dir: Path, *extra: str) -> list[str]:
    return ["run", "--model", "test-echo", "--tasks", "toy-say", "--data-dir", str(data), "--run-dir", str(run_dir),
            "--no-progress", *extra]


def _start(script: Path, arguments: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def _record_lines(run_dir: Path, task: str = "toy-say") -> int:
    folder = run_dir / "predictions" / task
    return sum(p.read_bytes().count(b"\n") for p in folder.glob("*.jsonl")) if folder.is_dir() else 0


def test_a_second_invocation_on_a_busy_folder_stops_at_once_naming_the_holder(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "run"
    first = _start(entry_script, _run_args(toy_data, run_dir, "--model-args", "delay_s=0.5", "--batch-size", "1"))
    _wait_for(lambda: _record_lines(run_dir) >= 1)
    started = time.monotonic()
    second = thbench(entry_script, *_run_args(toy_data, run_dir, "--model-args", "delay_s=0.1", "--batch-size", "1"))
    assert time.monotonic() - started < 10
    assert second.returncode == 75
    [line] = [l for l in second.stderr.splitlines() if l.startswith("ERROR")]
    assert f"pid {first.pid}" in line and "in use" in line and "--run-dir" in line
    assert first.wait(timeout=120) == 0
    assert len(RunStore(run_dir).read_records("toy-say").by_slot) == 12
    invocations = RunStore(run_dir).read_invocations()
    assert [i["status"] for i in invocations] == ["complete"], "the refused invocation wrote nothing"


def test_processes_of_one_launch_share_the_folder(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "run"
    environment = {**os.environ, "THBENCH_LAUNCH_ID": "job-17"}
    args = _run_args(toy_data, run_dir, "--model-args", "delay_s=0.3", "--batch-size", "1")
    first = _start(entry_script, args, env=environment)
    _wait_for(lambda: _record_lines(run_dir) >= 1)
    second = thbench(entry_script, *args, env=environment)
    assert second.returncode == 0, second.stderr
    assert first.wait(timeout=120) == 0
    records = RunStore(run_dir).read_records("toy-say")
    assert len(records.by_slot) == 12 and len(records.files) == 2, "each process writes its own file"


def test_sigterm_keeps_finished_batches_and_marks_the_run_interrupted(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "run"
    args = _run_args(toy_data, run_dir, "--model-args", "delay_s=0.1", "--batch-size", "1")
    process = _start(entry_script, args)
    _wait_for(lambda: _record_lines(run_dir) >= 3)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143
    assert "terminated; finished batches are saved" in stderr
    kept = _record_lines(run_dir)
    assert 3 <= kept < 12
    [invocation] = RunStore(run_dir).read_invocations()
    assert invocation["status"] == "interrupted"
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "interrupted"
    assert not (run_dir / "lock.json").exists()
    resumed = thbench(entry_script, *args)
    assert resumed.returncode == 0
    assert f"computed={12 - kept} reused={kept}" in resumed.stdout


def test_fields_of_a_newer_version_are_reused_and_kept(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "run"
    assert thbench(entry_script, *_run_args(toy_data, run_dir)).returncode == 0
    [path] = (run_dir / "predictions" / "toy-say").glob("*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**line, "added_later": {"v": 3}}) + "\n" for line in lines))
    again = thbench(entry_script, *_run_args(toy_data, run_dir))
    assert again.returncode == 0 and "computed=0 reused=12" in again.stdout
    stored = [json.loads(line) for p in (run_dir / "predictions" / "toy-say").glob("*.jsonl") for line in p.read_text().splitlines()]
    assert len(stored) == 12 and all(line["added_later"] == {"v": 3} for line in stored)


def test_a_folder_of_a_newer_format_is_refused_and_left_alone(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "run"
    assert thbench(entry_script, *_run_args(toy_data, run_dir)).returncode == 0
    (run_dir / "store.json").write_text(json.dumps({"format": "3.1", "written_by": "3.4.0"}))
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    refused = thbench(entry_script, *_run_args(toy_data, run_dir))
    assert refused.returncode == 2 and "newer thbench" in refused.stderr and "Traceback" not in refused.stderr
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before


def test_configurations_of_one_task_are_kept_apart_and_shown_as_such(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "run"
    other_data = tmp_path / "other-data"
    from toy_plugins import write_toy_dataset

    write_toy_dataset(other_data / "toy", count=5)
    assert thbench(entry_script, *_run_args(toy_data, run_dir, "--limit", "3")).returncode == 0
    assert thbench(entry_script, *_run_args(toy_data, run_dir, "--limit", "1")).returncode == 0
    assert thbench(entry_script, *_run_args(other_data, run_dir)).returncode == 0
    scores = json.loads((run_dir / "scores.json").read_text())
    by_label = {label: (entry["n"], entry["configuration"]["data_root"]) for label, entry in scores["tasks"].items()}
    assert len(by_label) == 3
    assert sorted(n for n, _ in by_label.values()) == [1, 3, 5]
    assert all(label.startswith("toy-say[") for label in by_label)
    assert any("limit=3" in label for label in by_label) and any("limit=1" in label for label in by_label)
    report = thbench(entry_script, "report", str(run_dir), "--format", "csv")
    assert report.returncode == 0, report.stderr
    header = next(csv.reader(io.StringIO(report.stdout)))
    assert sum(1 for column in header if column.startswith("toy-say[") and column.endswith(" exact")) == 3
    # each configuration's rows hold its own samples only
    for label, (n, _) in by_label.items():
        rows = thbench(entry_script, "samples", str(run_dir), "--task", label)
        assert rows.returncode == 0 and len(rows.stdout.splitlines()) == n
    history = json.loads((run_dir / "manifest.json").read_text())["history"]
    assert [entry["data_root"] for entry in history] == [str(toy_data), str(toy_data), str(other_data)]


def test_a_folder_of_the_earlier_layout_is_resumed_without_recomputing(tmp_path, entry_script):
    from toy_plugins import write_toy_dataset

    data = tmp_path / "data"
    write_toy_dataset(data / "toy")
    run_dir = tmp_path / "legacy"
    shutil.copytree(LEGACY_RUN, run_dir)
    legacy_manifest = json.loads((run_dir / "manifest.json").read_text())
    args = _run_args(data, run_dir, "--model-args", "wrong_every=5")
    resumed = thbench(entry_script, *args, "--limit", "8")
    assert resumed.returncode == 0, resumed.stderr
    assert "computed=0 reused=8" in resumed.stdout
    scores = json.loads((run_dir / "scores.json").read_text())
    assert list(scores["tasks"]) == ["toy-say"], "the earlier summary is updated in place, not duplicated"
    assert scores["tasks"]["toy-say"]["metrics"]["exact"]["value"] == 0.75
    completed = thbench(entry_script, *args)
    assert "computed=4 reused=8" in completed.stdout
    invocations = RunStore(run_dir).read_invocations()
    assert invocations[0]["invocation"] == "legacy" and invocations[0]["started_at"] == legacy_manifest["started_at"]
    assert len(json.loads((run_dir / "manifest.json").read_text())["history"]) == 3


def test_samples_exports_one_row_per_sample(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "run"
    assert thbench(entry_script, *_run_args(toy_data, run_dir, "--model-args", "wrong_every=4,fail_on=say 5", "--max-errors", "1")).returncode == 0
    rows = [json.loads(line) for line in thbench(entry_script, "samples", str(run_dir), "--task", "toy-say").stdout.splitlines()]
    assert sorted(row["id"] for row in rows) == sorted(f"q{i}" for i in range(12))
    by_id = {row["id"]: row for row in rows}
    assert by_id["q4"]["raw"] == "5" and by_id["q4"]["scores"]["exact"] == 0.0
    assert by_id["q5"]["error_type"] == "RuntimeError" and by_id["q5"]["error_stage"] == "model"
    output = tmp_path / "samples.csv"
    assert thbench(entry_script, "samples", str(run_dir), "--task", "toy-say", "--format", "csv", "--output", str(output)).returncode == 0
    table = list(csv.DictReader(output.open()))
    assert len(table) == 12 and {"key", "id", "raw", "parsed", "score.exact", "score.length", "error_type"} <= set(table[0])
    assert {row["id"]: row["score.exact"] for row in table}["q3"] == "1.0"
    unknown = thbench(entry_script, "samples", str(run_dir), "--task", "nope")
    assert unknown.returncode == 2 and "its tasks: toy-say" in unknown.stderr


def test_a_full_disk_stops_the_run_and_records_nothing_false(tmp_path, entry_script, small_disk):
    run_dir = small_disk / "run"
    args = ["run", "--model", "test-painter", "--tasks", "toy-paint", "--data-dir", str(tmp_path), "--run-dir", str(run_dir),
            "--no-progress", "--task-args", "toy-paint:size=256", "--model-args", "noise=true"]
    filler = small_disk / "filler"
    # Leave room for the folder's own small files and about one sample's images.
    filler.write_bytes(b"\0" * (2 * 1024 * 1024 - 420 * 1024))
    full = thbench(entry_script, *args)
    assert full.returncode == 4, full.stderr
    assert "No space left on device" in full.stderr and "run the same command again" in full.stderr
    assert "Traceback" not in full.stderr
    for record in RunStore(run_dir).read_records("toy-paint").by_slot.values():
        assert record.error is None, "a full disk is no sample's error"
    assert not [p for p in (run_dir / "images").rglob("*") if p.is_file() and p.stat().st_size == 0]
    filler.unlink()
    resumed = thbench(entry_script, *args)
    assert resumed.returncode == 0, resumed.stderr
    clean = thbench(entry_script, *[a if a != str(run_dir) else str(tmp_path / "clean") for a in args])
    scores = lambda d: json.loads((d / "scores.json").read_text())["tasks"]["toy-paint"]["metrics"]  # noqa: E731
    assert scores(run_dir) == scores(tmp_path / "clean")
    assert not list(run_dir.rglob("*.tmp"))
    assert clean.returncode == 0


def test_compare_pairs_one_configuration_under_two_labels(toy_data, tmp_path, entry_script):
    base, new = tmp_path / "base", tmp_path / "new"
    assert thbench(entry_script, *_run_args(toy_data, base)).returncode == 0
    assert thbench(entry_script, *_run_args(toy_data, new, "--limit", "3")).returncode == 0
    assert thbench(entry_script, *_run_args(toy_data, new, "--model-args", "wrong_every=3")).returncode == 0
    labels = sorted(json.loads((new / "scores.json").read_text())["tasks"])
    assert labels == ["toy-say[limit=3]", "toy-say[limit=none]"]
    from bench.report.compare import compare_runs
    from bench.report.runs import load_run

    comparison = compare_runs(load_run(base), load_run(new))
    [task] = comparison.tasks
    assert (task.task, task.shared) == ("toy-say", 12)
    assert "toy-say[limit=3] is only in the new run" in " ".join(comparison.notes)


def test_a_full_disk_met_by_the_model_is_a_fault_not_a_sample_error(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "run"
    args = _run_args(toy_data, run_dir, "--model-args", "fail_on=say 4,fail_errno=28", "--batch-size", "1")
    args[args.index("test-echo")] = "test-echo-oserror"
    failed = thbench(entry_script, *args)
    assert failed.returncode == 4 and "No space left on device" in failed.stderr
    assert all(r.error is None for r in RunStore(run_dir).read_records("toy-say").by_slot.values())
    fixed = thbench(entry_script, *[a if a != "fail_on=say 4,fail_errno=28" else "fail_errno=28" for a in args])
    assert fixed.returncode == 0 and "errors=0" in fixed.stdout


def test_a_rescore_refreshes_the_configurations_that_share_its_records(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "run"
    assert thbench(entry_script, *_run_args(toy_data, run_dir, "--limit", "4", "--model-args", "noisy=true")).returncode == 0
    assert thbench(entry_script, *_run_args(toy_data, run_dir, "--model-args", "noisy=true",
                                           "--task-args", "toy-say:strip=-0123456789")).returncode == 0
    tasks = json.loads((run_dir / "scores.json").read_text())["tasks"]
    subset, full = tasks["toy-say[limit=4]"], tasks["toy-say[limit=none]"]
    # stripped of its digits and dashes every answer is empty: length 0 in both configurations
    assert subset["metrics"]["length"]["value"] == full["metrics"]["length"]["value"] == 0.0
    assert subset["configuration"]["scoring"] == full["configuration"]["scoring"]


def test_an_output_whose_images_are_gone_is_computed_again(tmp_path, entry_script):
    run_dir = tmp_path / "run"
    args = ["run", "--model", "test-painter", "--tasks", "toy-paint", "--data-dir", str(tmp_path), "--run-dir", str(run_dir),
            "--no-progress"]
    assert thbench(entry_script, *args).returncode == 0
    next((run_dir / "images" / "toy-paint").glob("*.png")).unlink()
    again = thbench(entry_script, *args)
    assert "computed=1 reused=4" in again.stdout


def test_run_files_follow_the_umask_so_colleagues_can_read_a_shared_results_folder(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "run"
    result = thbench(entry_script, *_run_args(toy_data, run_dir), preexec_fn=lambda: os.umask(0o027))
    assert result.returncode == 0, result.stderr
    modes = {path.relative_to(run_dir).as_posix(): path.stat().st_mode & 0o777 for path in run_dir.rglob("*")}
    assert modes and all(mode == (0o750 if (run_dir / name).is_dir() else 0o640) for name, mode in modes.items()), modes
