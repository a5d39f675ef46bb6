from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from bench.run_lock import RunLock, RunLockedError, process_start_time, read_holder


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _write_lock(path, **fields) -> None:
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "process_start": process_start_time(os.getpid()),
              "started_at": "2026-01-01T00:00:00+00:00", "command": "thbench run --model x", "launch": None,
              "heartbeat_at": time.time(), "lease_s": 120.0}
    holder.update(fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(holder))


def test_a_live_holder_refuses_a_second_lock_naming_itself(tmp_path):
    with RunLock(tmp_path, command="thbench run --model a"):
        with pytest.raises(RunLockedError, match=rf"pid {os.getpid()} on .*thbench run --model a"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / "lock.json").exists()


def test_a_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    _write_lock(tmp_path / "lock.json", pid=_dead_pid(), process_start="1")
    lock = RunLock(tmp_path).acquire()
    assert lock.fresh and read_holder(tmp_path / "lock.json").pid == os.getpid()
    lock.release()


def test_a_reused_pid_does_not_keep_a_lock_alive(tmp_path):
    # our own pid, but a start time that is not ours: the process that took the lock is gone
    _write_lock(tmp_path / "lock.json", process_start="0")
    lock = RunLock(tmp_path).acquire()
    assert lock.fresh
    lock.release()


def test_another_hosts_lock_holds_until_its_lease_expires(tmp_path):
    _write_lock(tmp_path / "lock.json", host="node-7", pid=1, heartbeat_at=time.time())
    with pytest.raises(RunLockedError, match="node-7"):
        RunLock(tmp_path).acquire()
    _write_lock(tmp_path / "lock.json", host="node-7", pid=1, heartbeat_at=time.time() - 600)
    lock = RunLock(tmp_path).acquire()
    assert lock.fresh
    lock.release()


def test_the_holder_renews_its_lease(tmp_path):
    lock = RunLock(tmp_path, lease_s=0.2).acquire()
    first = read_holder(tmp_path / "lock.json").heartbeat_at
    time.sleep(0.3)
    assert read_holder(tmp_path / "lock.json").heartbeat_at > first
    lock.release()


def test_processes_of_one_launch_join_instead_of_refusing(tmp_path, monkeypatch):
    monkeypatch.setenv("THBENCH_LAUNCH_ID", "launch-1")
    holder = RunLock(tmp_path).acquire()
    joined = RunLock(tmp_path).acquire()
    assert holder.fresh and not joined.fresh
    joined.release()
    assert (tmp_path / "lock.json").exists(), "only the holder removes the lock"
    holder.release()


def test_an_unreadable_lock_is_treated_as_stale(tmp_path):
    (tmp_path / "lock.json").write_text("{half a lock")
    lock = RunLock(tmp_path).acquire()
    assert lock.fresh
    lock.release()


def test_a_holder_whose_lock_was_taken_over_stops_renewing_and_knows_it(tmp_path):
    lock = RunLock(tmp_path, lease_s=0.2).acquire()
    # another host judged the lease expired and took the lock over
    _write_lock(tmp_path / "lock.json", host="node-9", pid=1, heartbeat_at=time.time(), lease_s=120.0)
    time.sleep(0.3)
    assert lock.lost
    assert read_holder(tmp_path / "lock.json").host == "node-9"
    lock.release()
    assert read_holder(tmp_path / "lock.json").host == "node-9", "the new holder's lock stays"
