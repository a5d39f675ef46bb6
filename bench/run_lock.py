"""One invocation at a time per run folder, recovered automatically when its holder died.

Two independent ``thbench run`` processes on one folder would both compute everything and race
on its files, so the second one stops at once and names the first. The processes of one
launch share a launch id (the ranks of a torchrun launch get one from rank 0; other processes
can be given one in ``THBENCH_LAUNCH_ID``) and join the lock instead of refusing each other.

A lock whose holder is gone is taken over: on the same host when its pid no longer runs the
process that took it (pid and process start time), on another host when its lease has not been
renewed for ``lease_s`` seconds of this host's clock (the holder renews every quarter lease, so
clock skew between hosts only has to stay well under three quarters of a lease).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.faults import storage

logger = logging.getLogger(__name__)

LOCK_NAME = "lock.json"
LAUNCH_ENV = ("THBENCH_LAUNCH_ID",)
DEFAULT_LEASE_S = 120.0
#: Exit code when another invocation holds the folder (EX_TEMPFAIL: try again later).
LOCKED_EXIT_CODE = 75


class RunLockedError(RuntimeError):
    """Another live invocation uses this run folder."""


@dataclass(frozen=True)
class LockHolder:
    host: str
    pid: int
    process_start: str | None
    started_at: str
    command: str
    launch: str | None
    heartbeat_at: float
    lease_s: float

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started_at} ({self.command})"


def current_launch() -> str | None:
    for name in LAUNCH_ENV:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name; ``None`` where /proc is not there."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), which tells a live holder
    from an unrelated process that reused its pid."""
    fields = _proc_stat(pid)
    return None if fields is None else fields[19]


def holder_is_alive(holder: LockHolder, now: float | None = None) -> bool:
    if holder.host == socket.gethostname():
        try:
            os.kill(holder.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        fields = _proc_stat(holder.pid)
        if fields is None:
            return True  # no /proc: the pid exists, which is all that can be known
        # A zombie (killed, not yet reaped by its parent) holds nothing any more.
        return fields[0] != "Z" and (holder.process_start is None or fields[19] == holder.process_start)
    now = time.time() if now is None else now
    return now - holder.heartbeat_at < holder.lease_s


class RunLock:
    """Held for the whole invocation; ``fresh`` says whether this process took it (rather than
    joining a lock of its own launch), i.e. whether no other writer can be active."""

    def __init__(self, run_dir: Path, command: str | None = None, lease_s: float = DEFAULT_LEASE_S,
                 launch: str | None = None, name: str = LOCK_NAME) -> None:
        self.path = Path(run_dir) / name
        self.lease_s = lease_s
        self.command = command if command is not None else " ".join(sys.argv)
        self.launch = launch or current_launch()
        self.fresh = False
        #: Set when another process took the lock over (this one's lease was judged expired):
        #: the run must stop writing.
        self.lost = False
        self._holder: LockHolder | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def acquire(self) -> "RunLock":
        with storage(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for _ in range(5):
                holder = self._new_holder()
                if self._create(holder):
                    self._holder, self.fresh = holder, True
                    self._start_heartbeat()
                    return self
                existing = read_holder(self.path)
                if existing is None:
                    continue  # removed between our attempt and the read
                if self.launch is not None and existing.launch == self.launch:
                    return self
                if holder_is_alive(existing):
                    raise RunLockedError(
                        f"{self.path.parent} is in use by {existing.describe()}; wait for it to finish or choose another "
                        f"--run-dir (if that process is gone for good, delete {self.path})"
                    )
                self._take_over_stale(existing)
        raise RunLockedError(f"could not take the lock {self.path}: other processes keep taking it; try again")

    def release(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        if self._holder is None:
            return
        current = read_holder(self.path)
        if current is not None and (current.host, current.pid) == (self._holder.host, self._holder.pid):
            self.path.unlink(missing_ok=True)
        self._holder = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *_: Any) -> None:
        self.release()

    # -- internals ---------------------------------------------------------------------------
    def _new_holder(self) -> LockHolder:
        pid = os.getpid()
        return LockHolder(
            host=socket.gethostname(), pid=pid, process_start=process_start_time(pid),
            started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), command=self.command,
            launch=self.launch, heartbeat_at=time.time(), lease_s=self.lease_s,
        )

    def _create(self, holder: LockHolder) -> bool:
        """Write the whole lock beside it, then link it into place: ``link`` fails when the
        lock exists, and a reader never sees a half-written one."""
        temporary = self._write_temporary(holder)
        try:
            os.link(temporary, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            temporary.unlink(missing_ok=True)

    def _write_temporary(self, holder: LockHolder) -> Path:
        temporary = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:12]}.tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(asdict(holder), handle)
            handle.flush()
            os.fsync(handle.fileno())
        return temporary

    def _take_over_stale(self, stale: LockHolder) -> None:
        """Move the stale lock aside under a unique name; of several processes doing this at
        once only one moves the file that was read, the others find it gone and retry."""
        aside = self.path.with_name(f".{self.path.name}.stale-{uuid.uuid4().hex[:12]}.tmp")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        moved = read_holder(aside)
        if moved is not None and moved != stale:
            # Not the lock we judged stale: put it back unless a new one took its place.
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)

    def _start_heartbeat(self) -> None:
        self._heartbeat = threading.Thread(target=self._renew, name="thbench-lock-lease", daemon=True)
        self._heartbeat.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 4):
            holder = self._holder
            if holder is None:
                return
            current = read_holder(self.path)
            if current is not None and (current.host, current.pid, current.process_start) != (
                    holder.host, holder.pid, holder.process_start):
                logger.error("%s was taken over by %s; this run stops writing", self.path, current.describe())
                self.lost, self._holder = True, None
                return
            renewed = LockHolder(**{**asdict(holder), "heartbeat_at": time.time()})
            try:
                temporary = self._write_temporary(renewed)
                os.replace(temporary, self.path)
            except OSError:
                continue  # a full disk must not kill the run from this thread; the next renewal retries
            self._holder = renewed


def shard_lock_name(index: int, count: int) -> str:
    """Shards of a job array each hold their own lock: they never refuse each other, while a
    plain run refuses them (and they it) through ``check_no_other_holders``."""
    return f"lock-shard-{index}-of-{count}.json"


def check_no_other_holders(run_dir: Path, own: RunLock) -> None:
    """Refuse when another live lock of the folder (a plain run's or a shard's) belongs to
    another launch; called after taking one's own lock, so two starters cannot both pass."""
    for path in sorted(Path(run_dir).glob("lock*.json")):
        if path == own.path:
            continue
        holder = read_holder(path)
        if holder is None or (own.launch is not None and holder.launch == own.launch):
            continue
        if own.path.name != LOCK_NAME and path.name != LOCK_NAME:
            continue  # shard beside shard
        if holder_is_alive(holder):
            raise RunLockedError(
                f"{Path(run_dir)} is in use by {holder.describe()} ({path.name}); wait for it to finish or choose "
                f"another --run-dir (if that process is gone for good, delete {path})"
            )


def read_holder(path: Path) -> LockHolder | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockHolder(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        # An unreadable lock cannot name a live holder; treat it as left by a dead one.
        return LockHolder(host="?", pid=-1, process_start=None, started_at="?", command="?", launch=None,
                          heartbeat_at=0.0, lease_s=0.0)
