"""Many processes, one result: torchrun ranks (gloo on CPU) and job-array shards give exactly
what one process gives, and a launch killed midway is finished by any other."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import thbench

from bench.store import RunStore

pytestmark = pytest.mark.slow


def _torchrun(script: Path, processes: int, *arguments: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
            str(script), *arguments]


def _current(run_dir: Path, task: str) -> dict:
    return {slot: (r.raw, r.parsed, r.scores, r.seed, r.error, [_bytes(run_dir, p) for p in r.images])
            for slot, r in RunStore(run_dir).read_records(task).by_slot.items()}


def _bytes(run_dir: Path, relative: str) -> bytes:
    return (run_dir / relative).read_bytes()


def _scores(run_dir: Path) -> dict:
    tasks = json.loads((run_dir / "scores.json").read_text())["tasks"]
    return {label: (entry["n"], entry["errors"], entry["metrics"], entry.get("set_metrics")) for label, entry in tasks.items()}


def _kill_tree(root: int) -> None:
    """SIGKILL a launcher and every process below it (torchrun starts its workers in sessions
    of their own), as a node failure would, and wait until they are gone."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in tree[1:]):
        if time.monotonic() > deadline:
            raise AssertionError("the killed launch's workers are still running")
        time.sleep(0.01)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def _calls(log: Path) -> list[str]:
    return log.read_text().split() if log.is_file() else []


def test_two_ranks_give_what_one_process_gives(toy_data, tmp_path, entry_script, starter_data):
    common = ["--data-dir", str(toy_data), "--no-progress", "--model-args", "noisy=true,delay_s=0.02", "--batch-size", "2"]
    single, double = tmp_path / "one", tmp_path / "two"
    assert thbench(entry_script, "run", "--model", "test-echo", "--tasks", "toy-say", "--run-dir", str(single), *common).returncode == 0
    launch = subprocess.run(_torchrun(entry_script, 2, "run", "--model", "test-echo", "--tasks", "toy-say",
                                      "--run-dir", str(double), *common), capture_output=True, text=True, timeout=300)
    assert launch.returncode == 0, launch.stderr
    assert launch.stdout.count("toy-say: exact") == 1, "only rank 0 prints"
    assert "computed=12" in launch.stdout
    assert _current(double, "toy-say") == _current(single, "toy-say")
    assert _scores(double) == _scores(single)
    writers = {r.writer for r in RunStore(double).read_records("toy-say").by_slot.values()}
    assert len(writers) == 2, "both ranks did some of the work"

    # a generation task scored by OCR of the generated images, on each rank
    generate = ["--model", "glyph-render", "--tasks", "starter-t2i", "--limit", "4", "--data-dir", str(starter_data),
                "--no-progress", "--batch-size", "1"]
    assert thbench(entry_script, "run", "--run-dir", str(tmp_path / "g1"), *generate).returncode == 0
    launch = subprocess.run(_torchrun(entry_script, 2, "run", "--run-dir", str(tmp_path / "g2"), *generate),
                            capture_output=True, text=True, timeout=300)
    assert launch.returncode == 0, launch.stderr
    assert _current(tmp_path / "g2", "starter-t2i") == _current(tmp_path / "g1", "starter-t2i")
    assert _scores(tmp_path / "g2") == _scores(tmp_path / "g1")


def test_three_shards_at_once_then_a_plain_run_makes_no_model_call(toy_data, tmp_path, entry_script):
    log = tmp_path / "calls.log"
    run_dir = tmp_path / "sharded"
    args = ["run", "--model", "test-echo", "--tasks", "toy-say", "--data-dir", str(toy_data), "--run-dir", str(run_dir),
            "--no-progress", "--model-args", f"noisy=true,delay_s=0.05,log_file={log}", "--batch-size", "1"]
    shards = [subprocess.Popen([sys.executable, str(entry_script), *args, "--shard", f"{i}/3"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for i in range(3)]
    results = [shard.communicate(timeout=120) for shard in shards]
    assert [shard.returncode for shard in shards] == [0, 0, 0], [err for _, err in results]
    assert all("run the same command without --shard to aggregate" in out for out, _ in results)
    assert sorted(_calls(log)) == sorted(set(_calls(log))) and len(_calls(log)) == 12, "every sample once, by one shard"
    assert not (run_dir / "scores.json").exists(), "shards aggregate nothing"
    calls = _calls(log)
    final = thbench(entry_script, *args)
    assert final.returncode == 0 and "computed=0 reused=12" in final.stdout
    assert _calls(log) == calls, "no model call"
    single = tmp_path / "single"
    assert thbench(entry_script, *[a if a != str(run_dir) else str(single) for a in args]).returncode == 0
    assert _current(run_dir, "toy-say") == _current(single, "toy-say")
    assert _scores(run_dir) == _scores(single)


def test_a_plain_run_refuses_a_folder_that_shards_are_writing(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "run"
    args = ["run", "--model", "test-echo", "--tasks", "toy-say", "--data-dir", str(toy_data), "--run-dir", str(run_dir),
            "--no-progress", "--model-args", "delay_s=0.3", "--batch-size", "1"]
    shard = subprocess.Popen([sys.executable, str(entry_script), *args, "--shard", "0/2"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (run_dir / "lock-shard-0-of-2.json").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    plain = thbench(entry_script, *args)
    shard.wait(timeout=120)
    assert plain.returncode == 75 and "lock-shard-0-of-2.json" in plain.stderr


def test_a_launch_killed_midway_is_finished_by_one_process(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "killed"
    common = ["run", "--model", "test-echo", "--tasks", "toy-say", "--data-dir", str(toy_data), "--no-progress",
              "--model-args", "noisy=true,delay_s=0.2", "--batch-size", "1"]
    launch = subprocess.Popen(_torchrun(entry_script, 2, *common, "--run-dir", str(run_dir)), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    folder = run_dir / "predictions" / "toy-say"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if folder.is_dir() and sum(p.read_bytes().count(b"\n") for p in folder.glob("*.jsonl")) >= 4:
            break
        time.sleep(0.01)
    _kill_tree(launch.pid)
    launch.wait()
    done = len(RunStore(run_dir).read_records("toy-say").by_slot)
    assert 4 <= done < 12
    finished = thbench(entry_script, *common, "--run-dir", str(run_dir))
    assert finished.returncode == 0, finished.stderr
    assert f"computed={12 - done} reused={done}" in finished.stdout
    single = tmp_path / "single"
    assert thbench(entry_script, *common, "--run-dir", str(single)).returncode == 0
    assert _current(run_dir, "toy-say") == _current(single, "toy-say")
    assert _scores(run_dir) == _scores(single)


def test_a_failing_rank_stops_the_others_at_once_naming_itself(toy_data, tmp_path, entry_script):
    run_dir = tmp_path / "failing"
    started = time.monotonic()
    launch = subprocess.run(_torchrun(entry_script, 2, "run", "--model", "test-echo", "--tasks", "toy-say",
                                      "--data-dir", str(toy_data), "--run-dir", str(run_dir), "--no-progress",
                                      "--model-args", "fail_on=say 5,delay_s=0.05", "--batch-size", "1", "--fail-fast"),
                            capture_output=True, text=True, timeout=300)
    assert launch.returncode != 0
    assert time.monotonic() - started < 60, "no rank waits for the launch timeout"
    assert "'say 5'" in launch.stderr or "q5" in launch.stderr
    assert "stopped: SampleFailure" in launch.stderr, launch.stderr[-2000:]
    statuses = sorted(i["status"] for i in RunStore(run_dir).read_invocations())
    assert statuses == ["interrupted", "interrupted"]
