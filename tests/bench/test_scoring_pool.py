"""Scoring in worker processes beside the model: the same records whatever the number of
workers, and a run killed with work in the pool resumes to the uninterrupted result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.context import TaskContext
from bench.faults import HarnessFault
from bench.ocr.base import OCR_ENGINES
from bench.runner import RunConfig, run
from bench.store import RunStore


def _records(run_dir: Path, task: str) -> dict:
    """Everything a record says about its sample, with the bytes of its stored images."""
    return {
        slot: (r.raw, r.parsed, r.scores, r.details, r.error, r.rev, [(run_dir / p).read_bytes() for p in r.images])
        for slot, r in RunStore(run_dir).read_records(task).by_slot.items()
    }


def test_zero_one_and_two_workers_write_the_same_records_and_scores(tmp_path):
    from toy_plugins import write_toy_dataset

    write_toy_dataset(tmp_path / "data" / "toy", count=9, broken=[4])
    results = {}
    for workers in (0, 1, 2):
        run_dir = tmp_path / f"w{workers}"
        outcome = run(RunConfig(
            model="test-painter", tasks=["toy-paint"], run_dir=run_dir, batch_size=2, progress=False,
            task_args={"toy-paint": {"count": "7"}}, context=TaskContext(data_root=tmp_path / "data"),
            scoring_workers=workers,
        ))
        echo = run(RunConfig(
            model="test-echo", tasks=["toy-say"], run_dir=tmp_path / f"echo{workers}", batch_size=2, progress=False,
            context=TaskContext(data_root=tmp_path / "data"), scoring_workers=workers,
        ))
        scores = json.loads((run_dir / "scores.json").read_text())["tasks"]["toy-paint"]
        results[workers] = (_records(run_dir, "toy-paint"), _records(tmp_path / f"echo{workers}", "toy-say"),
                            scores["metrics"], outcome.tasks[0].computed, echo.tasks[0].summary["metrics"],
                            echo.tasks[0].summary["errors"])
    paint, say = results[0][0], results[0][1]
    assert len(paint) == 7 and all(record[6] for record in paint.values()), "every sample has its images"
    assert len(say) == 9 and sum(record[4] is not None for record in say.values()) == 1, "the broken image is an error"
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_full_disk_met_by_a_scorer_stops_the_run_and_records_nothing_false(tmp_path, workers):
    run_dir = tmp_path / "run"
    with pytest.raises(HarnessFault, match="No space left on device"):
        run(RunConfig(model="test-painter", tasks=["toy-paint"], run_dir=run_dir, batch_size=2, progress=False,
                      task_args={"toy-paint": {"count": "6", "score_disk_full_at": "3"}}, scoring_workers=workers))
    records = RunStore(run_dir).read_records("toy-paint").by_slot.values()
    assert all(record.error is None for record in records), "a full disk is no sample's error"
    assert "p3" not in {record.id for record in records}


def test_scoring_workers_read_with_one_thread_and_describe_the_engine_as_in_process():
    context = TaskContext()
    worker = context.for_scoring_worker()
    assert worker.ocr_options == {"threads": 1}
    assert TaskContext(ocr_options={"threads": 3}).for_scoring_worker().ocr_options == {"threads": 3}, "the user's choice stands"
    engine_type = OCR_ENGINES.get("rapidocr")
    assert "threads" not in engine_type(engine_type.Options(threads=2)).describe()["options"]


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _lines(run_dir: Path) -> int:
    folder = run_dir / "predictions" / "toy-paint"
    return sum(path.read_bytes().count(b"\n") for path in folder.glob("*.jsonl")) if folder.is_dir() else 0


def _images(run_dir: Path) -> int:
    folder = run_dir / "images" / "toy-paint"
    return len(list(folder.glob("*.png"))) if folder.is_dir() else 0


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads process children from /proc")
def test_a_run_killed_with_work_in_the_pool_resumes_to_the_uninterrupted_result(tmp_path, entry_script):
    def command(run_dir: Path, workers: int) -> list[str]:
        return [sys.executable, str(entry_script), "run", "--model", "test-painter", "--tasks", "toy-paint",
                "--task-args", "toy-paint:count=24,score_delay_s=0.15", "--batch-size", "2", "--data-dir", str(tmp_path),
                "--run-dir", str(run_dir), "--no-progress", "--scoring-workers", str(workers)]

    killed = tmp_path / "killed"
    for _ in range(3):
        before = _lines(killed)
        process = subprocess.Popen(command(killed, 2), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _lines(killed) <= before and process.poll() is None:
            time.sleep(0.005)
        workers = _children(process.pid)
        images, lines = _images(killed), _lines(killed)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL, "the run must still be going when it is killed"
        # Images of two per sample are stored before their sample is scored and recorded.
        assert images > 2 * lines, "the pool must hold scoring work when the run dies"
        assert len(workers) >= 2
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in workers), "workers of a killed run stop themselves"
    assert _lines(killed) < 24, "every kill must land mid-run"

    subprocess.run(command(killed, 2), check=True, capture_output=True)
    clean = tmp_path / "clean"
    subprocess.run(command(clean, 0), check=True, capture_output=True)

    def outcome(run_dir: Path) -> dict:
        return {slot: (r.parsed, r.scores, r.error) for slot, r in RunStore(run_dir).read_records("toy-paint").by_slot.items()}

    assert len(outcome(killed)) == 24
    assert outcome(killed) == outcome(clean)
    scores = lambda run_dir: json.loads((run_dir / "scores.json").read_text())["tasks"]["toy-paint"]  # noqa: E731
    assert scores(killed)["metrics"] == scores(clean)["metrics"] and scores(killed)["n"] == 24
