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
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bench.adapter import ADAPTERS, ModelAdapter
from bench.context import TaskContext
from bench.records import PredictionRecord
from bench.runner import RunConfig, run
from bench.task import TASKS, MetricSpec, Task
from bench.types import AnswerRequest, RequestKind, Response, ScoredSample


@dataclass(frozen=True)
class CountOptions:
    samples: int = 1000


@dataclass(frozen=True)
class CountSample:
    id: str
    answer: str


class CountTask(Task):
    """``samples`` questions "say N", held in memory: no dataset file to read."""

    kind = RequestKind.ANSWER
    Options = CountOptions
    metrics = (MetricSpec("exact", "answer equals N"),)

    def load_samples(self) -> list[CountSample]:
        return [CountSample(f"q{i}", str(i)) for i in range(self.options.samples)]

    def dataset_files(self):
        return Path("."), [], []

    def build_request(self, sample: CountSample, key: str) -> AnswerRequest:
        return AnswerRequest(key=key, prompt=f"say {sample.answer}", images=(), question=sample.answer)

    def score(self, sample: CountSample, response: Response) -> ScoredSample:
        return ScoredSample(parsed=response.text, scores={"exact": float(response.text == sample.answer)})


class InstantAdapter(ModelAdapter):
    """Answers every request with its question, at once."""

    supported_kinds = frozenset({RequestKind.ANSWER})
    default_batch_size = 64

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        return [request.question for request in requests]


def register() -> None:
    TASKS.add("bench-count", CountTask)
    ADAPTERS.add("bench-instant", InstantAdapter)


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


_CHILD = textwrap.dedent("""
    import importlib.util, resource, sys, time
    spec = importlib.util.spec_from_file_location("run_store_speed", {script!r})
    module = importlib.util.module_from_spec(spec); sys.modules["run_store_speed"] = module
    spec.loader.exec_module(module); module.register()
    from bench.cli import main
    code = main(sys.argv[1:])
    print("RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
    sys.exit(code)
""")


def cli_process(folder: Path, samples: int) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in kB, stdout) of one ``thbench run`` process."""
    entry = folder.parent / f"{folder.name}-entry.py"
    entry.write_text(_CHILD.format(script=str(Path(__file__).resolve())))
    command = [sys.executable, str(entry), "run", "--model", "bench-instant", "--tasks", "bench-count",
               "--task-args", f"bench-count:samples={samples}", "--run-dir", str(folder), "--no-progress"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    rss = int(next(line.split()[1] for line in result.stderr.splitlines() if line.startswith("RSS_KB")))
    return elapsed, rss, result.stdout


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

        _, rss, _ = cli_process(root / "memory", args.samples)
        print(f"peak RSS of a {args.samples:,}-sample run: {rss / 1024:.0f} MB   goal ≤ 300 MB: {'met' if rss <= 300 * 1024 else 'NOT met'}")

    small, large = aggregation_seconds(5_000), aggregation_seconds(50_000)
    print(f"aggregation: 5,000 samples {small * 1000:.0f} ms, 50,000 samples {large * 1000:.0f} ms "
          f"(×{large / small:.1f} for ×10 samples)")
    print(f"this process's peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
