"""What the scoring pool buys: throughput with one and two scoring workers, and scoring hidden
behind model time.

1. ``glyph-render`` on ``starter-t2i`` and ``starter-edit`` end to end (model, storage, OCR
   scoring, aggregation) with ``--scoring-workers 1`` and with ``2``, each in a fresh run
   folder, alternately ``--repeat`` times; prints samples per second of the fastest run of each
   and their ratio (goal: at least 1.6x on two cores, where OCR is nearly all the work).
2. The same tasks with a model that sleeps before each batch, as a process waiting on its GPU
   does (no CPU used): the model's time M is measured inside its calls, the scoring time S by
   rescoring the stored outputs with the same pool and no model; with scoring overlapped the
   run's wall time W is close to max(M, S), not M + S. The sleep is chosen so that M is about S,
   where the difference between the two is largest. The two tasks differ (OCR of starter-t2i
   costs several times that of starter-edit), so W reaches max(M, S) only when the model may
   run ahead of a slow task's scoring into the next task.

Other processes on the machine slow runs unevenly, hence the repeats; run it on a quiet
machine for figures that go into documentation.

Run::

    .venv/bin/python benchmarks/scoring_pool_speed.py [--limit 16] [--workers 2]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bench.adapter import ADAPTERS
from bench.context import TaskContext
from bench.runner import RunConfig, run
from bench.store import RunStore
from bench.task import TASKS
from model_adapters.glyph_render import GlyphRenderAdapter, GlyphRenderOptions

TASK_NAMES = ("starter-t2i", "starter-edit")
GOAL = 1.6


@dataclass(frozen=True)
class SleepingOptions(GlyphRenderOptions):
    #: Seconds each batch waits before it is drawn, as a model waits for its accelerator.
    sleep_s: float = 0.0


class SleepingGlyphAdapter(GlyphRenderAdapter):
    """``glyph-render`` behind a wait."""

    Options = SleepingOptions

    def generate_image(self, requests):
        time.sleep(self.options.sleep_s)
        return super().generate_image(requests)

    def edit_image(self, requests):
        time.sleep(self.options.sleep_s)
        return super().edit_image(requests)


def model_seconds(run_dir: Path) -> float:
    """Time spent in model calls: records keep each sample's share of its batch's time."""
    store = RunStore(run_dir)
    return sum(record.elapsed_s for name in TASK_NAMES for record in store.read_records(name).by_slot.values())


def timed_run(model: str, run_dir: Path, context: TaskContext, workers: int, limit: int,
              model_args: dict[str, str] | None = None, batch_size: int | None = None) -> tuple[float, int]:
    started, cpu = time.perf_counter(), cpu_seconds()
    outcome = run(RunConfig(model=model, tasks=list(TASK_NAMES), run_dir=run_dir, context=context, limit=limit,
                            scoring_workers=workers, progress=False, model_args=model_args or {}, batch_size=batch_size))
    samples = sum(task.computed + task.rescored for task in outcome.tasks)
    wall = time.perf_counter() - started
    print(f"      ({(cpu_seconds() - cpu) / wall:.2f} cores busy with this run)")
    return wall, samples


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the run's scoring workers,
    waited for when its pool closes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=16, help="samples per task")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each worker count, alternating; the fastest counts (others' load only slows a run)")
    parser.add_argument("--workers", type=int, default=2, help="scoring workers of the overlap figure")
    parser.add_argument("--batch-size", type=int, default=2,
                        help="model batch of the overlap figure: each task's last batch is scored after the model is done, "
                             "so the more batches, the more of the scoring hides behind the model")
    parser.add_argument("--keep", type=Path, help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args(argv)
    ADAPTERS.add("glyph-render-sleeping", SleepingGlyphAdapter)
    root = args.keep or Path(tempfile.mkdtemp(prefix="thbench-scoring-"))
    try:
        context = TaskContext(data_root=root / "data")
        for name in TASK_NAMES:  # generate the starter data before any clock runs
            TASKS.get(name).from_args({}, context).load_samples()

        print(f"1. glyph-render on {', '.join(TASK_NAMES)}, {args.limit} samples each, end to end")
        rates: dict[int, float] = {1: 0.0, 2: 0.0}
        for attempt in range(args.repeat):
            for workers in (1, 2) if attempt % 2 == 0 else (2, 1):
                run_dir = root / f"glyph-w{workers}-{attempt}"
                wall, samples = timed_run("glyph-render", run_dir, context, workers, args.limit)
                shutil.rmtree(run_dir)
                rates[workers] = max(rates[workers], samples / wall)
                print(f"   --scoring-workers {workers}: {samples} samples in {wall:6.1f} s = {samples / wall:.2f} samples/s")
        print(f"   fastest of {args.repeat}: {rates[1]:.2f} and {rates[2]:.2f} samples/s")
        ratio = rates[2] / rates[1]
        print(f"   throughput ratio 2 : 1 workers = {ratio:.2f}x (goal >= {GOAL}x on two cores)")

        print(f"2. scoring hidden behind model time ({args.workers} scoring workers, batches of {args.batch_size})")
        probe = root / "probe"
        timed_run("glyph-render", probe, context, args.workers, args.limit, batch_size=args.batch_size)
        rescoring = TaskContext(data_root=context.data_root, ocr_options={"det_limit_side_len": 961})
        scoring_s, samples = timed_run("glyph-render", probe, rescoring, args.workers, args.limit, batch_size=args.batch_size)
        batches = len(TASK_NAMES) * -(-args.limit // args.batch_size)
        sleep_s = scoring_s / batches
        wall, _ = timed_run("glyph-render-sleeping", root / "sleeping", context, args.workers, args.limit,
                            {"sleep_s": f"{sleep_s:.3f}"}, batch_size=args.batch_size)
        model_s = model_seconds(root / "sleeping")
        print(f"   model M = {model_s:6.1f} s ({batches} batches, {sleep_s:.2f} s asleep each)")
        print(f"   scoring S = {scoring_s:6.1f} s (the stored outputs rescored, no model)")
        print(f"   wall W = {wall:6.1f} s; M + S = {model_s + scoring_s:6.1f} s; max(M, S) = {max(model_s, scoring_s):6.1f} s")
        print(f"   W / max(M, S) = {wall / max(model_s, scoring_s):.2f}; W / (M + S) = {wall / (model_s + scoring_s):.2f}")
        return 0 if ratio >= GOAL else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
