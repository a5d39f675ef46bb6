"""What the harness itself costs: throughput, resume time, memory and aggregation of the run store.

A plugin adapter that answers at once (so every microsecond measured is thbench's) on a
synthetic answer task with no files; printed against a bare loop over the same requests in
the same process, and with the goals beside each figure:

* ``thbench run`` at batch size 64: ≥ 20,000 samples/s; at batch size 1: ≥ 2,000 samples/s;
* resuming a finished 5,000-sample run: ≤ 1 s wall, start-up included (a separate process);
* peak RSS of a 50,000-sample run: ≤ 300 MB (a separate process);
* aggregation (bootstrap intervals) linear in the number of samples.

Usage: ``python benchmarks/run_store_speed.py [--samples 50000]``.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.context import TaskContext
from bench.records import PredictionRecord
from bench.runner import RunConfig, run
from bench.types import Response

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_plugins import CountOptions, CountTask, InstantAdapter, register, write_entry_script  # noqa: E402


def bare_loop(samples: int, batch_size: int) -> float:
    """Samples/s of the least a harness must do: build requests, call the adapter, score."""
    task, adapter = CountTask(CountOptions(samples)), InstantAdapter()
    started = time.perf_counter()
    items = task.load_samples()
    for start in range(0, samples, batch_size):
        batch = items[start : start + batch_size]
        answers = adapter.answer([task.build_request(s, s.id) for s in batch])
        for sample, answer in zip(batch, answers):
            task.score(sample, Response(text=answer))
    return samples / (time.perf_counter() - started)


def through_thbench(samples: int, batch_size: int, folder: Path) -> float:
    config = RunConfig(model="bench-instant", tasks=["bench-count"], task_args={"bench-count": {"samples": str(samples)}},
                       run_dir=folder, batch_size=batch_size, progress=False, context=TaskContext(data_root=folder))
    started = time.perf_counter()
    outcome = run(config)
    elapsed = time.perf_counter() - started
    assert outcome.tasks[0].computed == samples
    return samples / elapsed


def cli_process(folder: Path, samples: int) -> tuple[float, int, str]:
    """(wall seconds, peak RSS of the child in kB, stdout) of one ``thbench run`` process."""
    entry = write_entry_script(folder.parent / f"{folder.name}-entry.py")
    command = [sys.executable, str(entry), "run", "--model", "bench-instant", "--tasks", "bench-count",
               "--task-args", f"bench-count:samples={samples}", "--run-dir", str(folder), "--no-progress"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    # The largest of all children so far: main() starts the memory run first.
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, result.stdout


def aggregation_seconds(samples: int) -> float:
    from bench.aggregate import aggregate

    task = CountTask(CountOptions(samples))
    records = [PredictionRecord(key=str(i), id=str(i), request_fingerprint="", scoring_fingerprint="", seed=0, prompt="",
                                scores={"exact": float(i % 3 == 0)}) for i in range(samples)]
    started = time.perf_counter()
    aggregate(task, records)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000, help="samples of the memory run")
    args = parser.parse_args()
    register()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        _, rss, _ = cli_process(root / "memory", args.samples)
        print(f"peak RSS of a {args.samples:,}-sample run: {rss / 1024:.0f} MB   goal ≤ 300 MB: {'met' if rss <= 300 * 1024 else 'NOT met'}")

        for batch_size, goal, samples in ((64, 20_000, 20_000), (1, 2_000, 5_000)):
            bare = bare_loop(samples, batch_size)
            measured = through_thbench(samples, batch_size, root / f"b{batch_size}")
            print(f"thbench run, batch {batch_size:2d}: {measured:9,.0f} samples/s   bare loop {bare:9,.0f}/s   "
                  f"ratio {measured / bare:.2f}   goal ≥ {goal:,}/s: {'met' if measured >= goal else 'NOT met'}")

        resume_dir = root / "resume"
        cli_process(resume_dir, 5_000)
        seconds, _, stdout = cli_process(resume_dir, 5_000)
        assert "computed=0 reused=5000" in stdout, stdout
        print(f"resume of a finished 5,000-sample run: {seconds:.2f} s wall (new process)   goal ≤ 1 s: "
              f"{'met' if seconds <= 1.0 else 'NOT met'}")

    small, large = aggregation_seconds(5_000), aggregation_seconds(50_000)
    print(f"aggregation: 5,000 samples {small * 1000:.0f} ms, 50,000 samples {large * 1000:.0f} ms "
          f"(×{large / small:.1f} for ×10 samples)")
    print(f"this process's peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
