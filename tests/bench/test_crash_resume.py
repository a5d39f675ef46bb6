"""Runs killed with SIGKILL at many points, each time started again, end exactly like an
uninterrupted run: one current record per sample, identical outputs and scores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.store import RunStore

SAMPLES = 40
KILLS = 20


def _command(script: Path, data_root: Path, run_dir: Path) -> list[str]:
    return [sys.executable, str(script), "run", "--model", "test-echo", "--tasks", "toy-say",
            "--model-args", "delay_s=0.04", "--batch-size", "1", "--data-dir", str(data_root),
            "--run-dir", str(run_dir), "--no-progress"]


def _written(run_dir: Path) -> int:
    return sum(len(path.read_bytes().split(b"\n")) - 1 for path in (run_dir / "predictions" / "toy-say").glob("*.jsonl")) \
        if (run_dir / "predictions" / "toy-say").is_dir() else 0


def _kill_after_one_more_record(command: list[str], run_dir: Path) -> None:
    """Start the run and SIGKILL it as soon as it has written a record of its own."""
    before = _written(run_dir)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _written(run_dir) <= before and process.poll() is None:
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run must still be going when it is killed"


@pytest.mark.slow
def test_twenty_kills_then_resume_match_an_uninterrupted_run(tmp_path, entry_script):
    from toy_plugins import write_toy_dataset

    data = tmp_path / "data"
    write_toy_dataset(data / "toy", count=SAMPLES)
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    command = _command(entry_script, data, killed_dir)
    for _ in range(KILLS):
        # Each restart resumes, computes a sample or so, and dies again; the lock of the killed
        # process is left behind every time and must be recovered.
        _kill_after_one_more_record(command, killed_dir)
        assert (killed_dir / "lock.json").is_file()
    assert _written(killed_dir) < SAMPLES, "every kill must land mid-run"

    subprocess.run(command, check=True, capture_output=True)
    subprocess.run(_command(entry_script, data, clean_dir), check=True, capture_output=True)

    resumed = RunStore(killed_dir).read_records("toy-say").by_slot
    clean = RunStore(clean_dir).read_records("toy-say").by_slot
    assert len(resumed) == SAMPLES
    assert {slot: (r.raw, r.scores) for slot, r in resumed.items()} == {slot: (r.raw, r.scores) for slot, r in clean.items()}
    killed_scores = json.loads((killed_dir / "scores.json").read_text())["tasks"]["toy-say"]
    clean_scores = json.loads((clean_dir / "scores.json").read_text())["tasks"]["toy-say"]
    assert killed_scores["metrics"] == clean_scores["metrics"] and killed_scores["n"] == SAMPLES
    manifest = json.loads((killed_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and not (killed_dir / "lock.json").exists()
    assert len(manifest["history"]) == KILLS + 1, "every invocation keeps its own record"
    assert [entry["status"] for entry in manifest["history"]] == ["died"] * KILLS + ["complete"]
