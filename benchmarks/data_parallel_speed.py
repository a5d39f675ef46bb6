"""Speed-up of a torchrun launch of 2 processes over 1 process, on a CPU-bound model.

The model spends a fixed amount of single-threaded CPU work per request (iterated hashing), so
on a machine with two cores two ranks should approach twice the throughput; the goal is ≥ 1.6×
for the task itself (planning, model work, scoring and aggregation, as each invocation records
it; the slowest rank counts). The whole commands are printed too: torchrun's own start-up adds a
few seconds. Both runs must give identical records.

Usage: ``python benchmarks/data_parallel_speed.py [--samples 240] [--iterations 50000]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.store import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_plugins import write_entry_script  # noqa: E402


def timed(command: list[str], run_dir: Path) -> tuple[float, float]:
    """(wall seconds of the whole command, seconds of the task itself: the slowest rank's)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - started
    task = max(invocation["tasks"]["bench-count"]["seconds"] for invocation in RunStore(run_dir).read_invocations())
    return wall, task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=240)
    parser.add_argument("--iterations", type=int, default=50_000, help="hash iterations per request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        entry = write_entry_script(root / "entry.py")
        arguments = ["run", "--model", "bench-busy", "--tasks", "bench-count", "--model-args", f"iterations={args.iterations}",
                     "--task-args", f"bench-count:samples={args.samples}", "--no-progress", "--batch-size", "1"]
        one_wall, one = timed([sys.executable, str(entry), *arguments, "--run-dir", str(root / "one")], root / "one")
        two_wall, two = timed([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(entry),
                               *arguments, "--run-dir", str(root / "two")], root / "two")
        same = ({s: r.raw for s, r in RunStore(root / "one").read_records("bench-count").by_slot.items()}
                == {s: r.raw for s, r in RunStore(root / "two").read_records("bench-count").by_slot.items()})
    print(f"{args.samples} samples, the task (planning, model, scoring, aggregation; slowest rank): 1 process {one:.2f} s, "
          f"2 processes {two:.2f} s, speed-up {one / two:.2f}× (goal ≥ 1.6×: {'met' if one / two >= 1.6 else 'NOT met'})")
    print(f"whole commands (torchrun and torch start-up included): {one_wall:.1f} s and {two_wall:.1f} s, "
          f"{one_wall / two_wall:.2f}×; identical records: {same}")


if __name__ == "__main__":
    main()
