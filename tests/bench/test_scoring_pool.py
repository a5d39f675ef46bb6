"""Scoring in worker processes beside the model: the same records whatever the number of
workers, and a run killed with work in the pool resumes to the uninterrupted result."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from toy_plugins import PainterAdapter, PainterOptions

from bench.adapter import ADAPTERS
from bench.context import TaskContext
from bench.faults import HarnessFault
from bench.ocr.base import OCR_ENGINES
from bench.records import UNSCORED
from bench.runner import RunConfig, run
from bench.scoring_pool import ScoringPool, ScoringQueue
from bench.store import RunStore
from bench.task import DatasetError


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
    assert {record.id for record in records if record.scoring_fingerprint != UNSCORED} <= {"p0", "p1", "p2", "p4", "p5"}
    assert all(not record.scores for record in records if record.scoring_fingerprint == UNSCORED)


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


def _scored(run_dir: Path) -> int:
    """Scored records on disk, torn lines and unscored records left out."""
    folder = run_dir / "predictions" / "toy-paint"
    lines = [line for path in folder.glob("*.jsonl") for line in path.read_bytes().split(b"\n")[:-1]] if folder.is_dir() else []
    return sum(json.loads(line)["scoring_fingerprint"] != UNSCORED for line in lines)


def _waiting_for_scores(run_dir: Path) -> int:
    """Samples whose stored output has only its unscored record."""
    return sum(r.scoring_fingerprint == UNSCORED for r in RunStore(run_dir).read_records("toy-paint").by_slot.values())


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
        before = _scored(killed)
        process = subprocess.Popen(command(killed, 2), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _scored(killed) <= before and process.poll() is None:
            time.sleep(0.005)
        workers = _children(process.pid)
        images, scored = _images(killed), _scored(killed)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL, "the run must still be going when it is killed"
        # Images of two per sample are stored before their sample is scored and recorded.
        assert images > 2 * scored, "the pool must hold scoring work when the run dies"
        assert len(workers) >= 2
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in workers), "workers of a killed run stop themselves"
    assert _scored(killed) < 24, "every kill must land mid-run"

    waiting = _waiting_for_scores(killed)
    assert waiting > 0, "stored outputs were waiting for their scores at the last kill"
    earlier = {item["invocation"] for item in RunStore(killed).read_invocations()}
    subprocess.run(command(killed, 2), check=True, capture_output=True)
    (resumed,) = [item for item in RunStore(killed).read_invocations() if item["invocation"] not in earlier]
    counts = resumed["tasks"]["toy-paint"]["counts"]
    assert counts["rescored"] == waiting, "outputs stored before the kill are scored, not computed again"
    assert counts["computed"] + counts["rescored"] + counts["reused"] == 24
    clean = tmp_path / "clean"
    subprocess.run(command(clean, 0), check=True, capture_output=True)

    def outcome(run_dir: Path) -> dict:
        return {slot: (r.parsed, r.scores, r.error) for slot, r in RunStore(run_dir).read_records("toy-paint").by_slot.items()}

    assert len(outcome(killed)) == 24
    assert outcome(killed) == outcome(clean)
    scores = lambda run_dir: json.loads((run_dir / "scores.json").read_text())["tasks"]["toy-paint"]  # noqa: E731
    assert scores(killed)["metrics"] == scores(clean)["metrics"] and scores(killed)["n"] == 24


@dataclass(frozen=True)
class _WatchingOptions(PainterOptions):
    #: The run folder whose scored toy-paint records each model call counts.
    watch: str = ""


class _WatchingPainter(PainterAdapter):
    """Paints, and notes at each call how many toy-paint samples already have their scores."""

    Options = _WatchingOptions
    scored_at_call: list[int] = []

    def generate_image(self, requests):
        type(self).scored_at_call.append(_scored(Path(self.options.watch)))
        return super().generate_image(requests)


def test_the_model_starts_the_next_task_while_the_last_scores_of_one_are_computed(tmp_path):
    ADAPTERS.add("test-painter-watching", _WatchingPainter)
    _WatchingPainter.scored_at_call = []
    run_dir = tmp_path / "run"
    run(RunConfig(model="test-painter-watching", tasks=["toy-paint", "toy-paint-b"], run_dir=run_dir, batch_size=2,
                  progress=False, model_args={"watch": str(run_dir)}, scoring_workers=1,
                  task_args={"toy-paint": {"count": "4", "score_delay_s": "0.5"}, "toy-paint-b": {"count": "4"}}))
    first_call_of_b = _WatchingPainter.scored_at_call[2]
    assert first_call_of_b < 4, "the second task's model work must not wait for the first task's scoring"
    scores = json.loads((run_dir / "scores.json").read_text())["tasks"]
    assert scores["toy-paint"]["n"] == 4 and scores["toy-paint-b"]["n"] == 4


def test_a_task_whose_data_fails_keeps_the_scores_of_the_task_before_it(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(DatasetError, match="found no samples"):
        run(RunConfig(model="test-painter", tasks=["toy-paint", "toy-paint-b"], run_dir=run_dir, batch_size=2,
                      progress=False, scoring_workers=1,
                      task_args={"toy-paint": {"count": "4", "score_delay_s": "0.2"}, "toy-paint-b": {"count": "0"}}))
    scores = json.loads((run_dir / "scores.json").read_text())["tasks"]
    assert scores["toy-paint"]["n"] == 4 and scores["toy-paint"]["errors"] == 0


def test_a_fault_in_the_next_tasks_model_work_keeps_the_scores_of_the_task_before_it(tmp_path, monkeypatch):
    original = PainterAdapter.generate_image
    calls = []

    def generate_image(self, requests):
        calls.append(len(requests))
        if len(calls) > 1:  # the second task's first batch meets a full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, requests)

    monkeypatch.setattr(PainterAdapter, "generate_image", generate_image)
    run_dir = tmp_path / "run"
    with pytest.raises(HarnessFault, match="No space left"):
        run(RunConfig(model="test-painter", tasks=["toy-paint", "toy-paint-b"], run_dir=run_dir, batch_size=8,
                      progress=False, scoring_workers=1, task_args={"toy-paint": {"score_delay_s": "0.2"}}))
    scores = json.loads((run_dir / "scores.json").read_text())["tasks"]
    assert scores["toy-paint"]["n"] == 5 and scores["toy-paint"]["errors"] == 0


def test_one_worker_pool_when_rescoring_and_computing_in_one_task(tmp_path, monkeypatch):
    """The storage thread submits the rescoring jobs while the main thread warms the pool up
    for the samples to compute: both must find the same pool."""
    import concurrent.futures

    started = []

    class SlowToStart(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            started.append(self)
            time.sleep(0.3)  # spawning takes a while, which is when the other thread asks
            super().__init__(*args, **kwargs)

    def config(**options):
        return RunConfig(model="test-painter", tasks=["toy-paint"], run_dir=tmp_path / "run", progress=False,
                         scoring_workers=1, task_args={"toy-paint": options})

    run(RunConfig(**{**config(count="10").__dict__, "limit": 5}))
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", SlowToStart)
    outcome = run(config(count="10", score_delay_s="0.01"))  # 5 to rescore, 5 to compute
    assert outcome.tasks[0].rescored == 5 and outcome.tasks[0].computed == 5
    assert len(started) == 1


def test_an_interrupt_while_an_item_is_handed_over_leaves_nothing_to_wait_for():
    queue: ScoringQueue = ScoringQueue(ScoringPool(TaskContext(), 0))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    queue._storage.submit = interrupted  # type: ignore[method-assign]  # Ctrl-C inside the hand-over
    with pytest.raises(KeyboardInterrupt):
        queue.put(SimpleNamespace(name="t"), lambda: None, lambda item, result: None)  # type: ignore[arg-type]
    settling = threading.Thread(target=queue.settle, daemon=True)
    settling.start()
    settling.join(5)
    assert not settling.is_alive(), "settle() must not wait for an item that was never handed over"
    queue.close()


def test_reports_leave_out_a_sample_whose_recomputation_was_not_scored(tmp_path, monkeypatch):
    from bench.executor import Executor
    from bench.report.runs import load_run

    original = PainterAdapter.generate_image

    def failing_on_p1(self, requests):
        if any(request.prompt == "paint 1" for request in requests):
            raise RuntimeError("model broke on paint 1")
        return original(self, requests)

    def config(**overrides):
        return RunConfig(model="test-painter", tasks=["toy-paint"], run_dir=tmp_path / "run", progress=False,
                         scoring_workers=0, **overrides)

    monkeypatch.setattr(PainterAdapter, "generate_image", failing_on_p1)
    first = run(config())
    assert first.tasks[0].summary["errors"] == 1
    monkeypatch.setattr(PainterAdapter, "generate_image", original)

    def disk_full(self, scoring, result):
        raise HarnessFault("No space left on device")  # the retry stops before p1's scores are recorded

    monkeypatch.setattr(Executor, "finish", disk_full)
    with pytest.raises(HarnessFault):
        run(config(retry_errors=True))
    latest = RunStore(tmp_path / "run").read_records("toy-paint").latest_by_key()
    assert [r.scoring_fingerprint for r in latest.values() if r.id == "p1"] == [UNSCORED]
    shown = load_run(tmp_path / "run").predictions(first.tasks[0].label)
    assert "p1" not in {record.id for record in shown.values()}, "an unscored record is no result to show"
    assert len(shown) == 4
