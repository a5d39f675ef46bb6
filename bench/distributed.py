"""Spreading one run over processes: torchrun / accelerate ranks, or scheduler-array shards.

Ranks of one launch share the run folder (and its lock) and hand out batches through
torch.distributed's key-value store: an atomic counter per task, so a rank takes the next batch
when it is free, a slow rank holds nobody back, and no sample is computed twice or padded in.
Rank 0 loads the dataset and plans, then broadcasts the plan; each rank scores what it produced;
rank 0 aggregates from the records every rank wrote. Outputs never depend on which rank computed
a sample (each sample's seed derives from its key), so any world size gives the single-process
result.

``--shard I/N`` is the same idea without communication: a deterministic part of the samples,
chosen by sample key, for job arrays whose tasks never talk to each other.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator

logger = logging.getLogger(__name__)

#: Seconds a rank waits for the others (at start, at the end of each task) before it gives up
#: with a message naming the ranks that did not arrive.
TIMEOUT_ENV = "THBENCH_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        index, sep, count = text.partition("/")
        try:
            shard = cls(int(index), int(count))
        except ValueError:
            shard = None
        if not sep or shard is None or not 0 <= shard.index < shard.count:
            raise ValueError(f"--shard expects I/N with 0 ≤ I < N (e.g. 0/4 … 3/4), got {text!r}")
        return shard

    def owns(self, key: str) -> bool:
        """Sample keys are hex hashes: their value modulo N splits any dataset evenly and the
        same way in every process."""
        return int(key[:12], 16) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class WorkGroup:
    """One process working alone: every batch is its own."""

    rank = 0
    world_size = 1
    launch: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def claims(self, name: str, total: int) -> Iterator[int]:
        """Indices of the batches this process should compute, out of ``total``."""
        return iter(range(total))

    def broadcast(self, value: Any) -> Any:
        """``value`` of rank 0, on every rank."""
        return value

    def total(self, name: str, value: int) -> int:
        """The sum of ``value`` over the ranks that passed it before the next barrier; read it
        after that barrier (``total(name, 0)``)."""
        return value

    def barrier(self, what: str) -> None:
        """Wait for every rank; ``what`` names the point in messages."""

    def share_outcome(self, error: str | None) -> str | None:
        """Rank 0's error (or ``None``), on every rank: lets ranks stop together."""
        return error

    def report_failure(self, message: str) -> None:
        """Tell the other ranks that this one stops, and why."""

    def close(self) -> None:
        pass


class RankFailure(RuntimeError):
    """Another rank of the launch stopped, or did not arrive in time."""


class TorchWorkGroup(WorkGroup):
    """The ranks of a torchrun / accelerate launch (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``).

    Everything after start-up goes through the c10d key-value store rather than collectives:
    a rank that fails writes why under a key the others poll while they wait, so they stop
    within a poll interval naming it, instead of hanging in a collective until its timeout."""

    POLL_S = 0.05

    def __init__(self, timeout_s: float) -> None:
        import torch
        import torch.distributed as dist

        self._dist = dist
        self.timeout_s = timeout_s
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            # NCCL works on the current device: each rank must be on its own GPU first.
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        # A launcher that set up the group (accelerate) keeps it; one thbench made, it closes.
        self._owns_group = not dist.is_initialized()
        if self._owns_group:
            dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
        self.backend = dist.get_backend()
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self._store = dist.distributed_c10d._get_default_store()
        holder = [uuid.uuid4().hex[:12] if self.rank == 0 else None]
        dist.broadcast_object_list(holder, src=0)  # the one collective: names this launch's keys
        self._run = str(holder[0])
        self.launch = f"torch-{self._run}"
        self._steps = 0

    def _key(self, *parts: str) -> str:
        return "/".join(("thbench", self._run, *parts))

    def claims(self, name: str, total: int) -> Iterator[int]:
        key = self._key("claims", name)
        while True:
            self._raise_if_failed()
            index = int(self._store.add(key, 1)) - 1
            if index >= total:
                return
            yield index

    def total(self, name: str, value: int) -> int:
        return int(self._store.add(self._key("total", name), value))

    def broadcast(self, value: Any) -> Any:
        self._steps += 1
        key = self._key("broadcast", str(self._steps))
        if self.rank == 0:
            self._store.set(key, pickle.dumps(value))  # type: ignore[arg-type]  # the store takes bytes; its stub says str
            return value
        self._wait(lambda: self._store.check([key]), f"rank 0's plan (step {self._steps})")
        return pickle.loads(self._store.get(key))

    def barrier(self, what: str) -> None:
        self._steps += 1
        key = self._key("barrier", str(self._steps))
        self._store.add(key, 1)
        self._wait(lambda: int(self._store.add(key, 0)) >= self.world_size, what)

    def share_outcome(self, error: str | None) -> str | None:
        return self.broadcast(error)

    def report_failure(self, message: str) -> None:
        """Tell the other ranks why this one stops (they stop too, at their next wait)."""
        try:
            self._store.set(self._key("failed", str(self.rank)), message.encode())  # type: ignore[arg-type]
            self._store.add(self._key("failures"), 1)
        except RuntimeError:
            pass  # the store is gone with rank 0; the others time out

    def _raise_if_failed(self) -> None:
        if int(self._store.add(self._key("failures"), 0)) == 0:
            return
        for rank in range(self.world_size):
            key = self._key("failed", str(rank))
            if rank != self.rank and self._store.check([key]):
                raise RankFailure(
                    f"rank {rank} stopped: {self._store.get(key).decode()}; rank {self.rank} stops too. The run folder is "
                    "resumable: run the same command again, with any number of processes"
                )

    def _wait(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                if ready():
                    return
                self._raise_if_failed()
            except RuntimeError as error:
                if isinstance(error, RankFailure):
                    raise
                raise RankFailure(f"rank {self.rank} lost the launch's store waiting for {what} ({error}); "
                                  "rank 0 has probably died. The run folder is resumable") from error
            if time.monotonic() > deadline:
                raise RankFailure(
                    f"rank {self.rank}: other ranks did not reach {what} within {self.timeout_s:.0f} s "
                    f"(${TIMEOUT_ENV}); the run folder is resumable: run the same command again, with any number of processes"
                )
            time.sleep(self.POLL_S)

    def close(self) -> None:
        if self._owns_group and self._dist.is_initialized():
            self._dist.destroy_process_group()


def launched_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def work_group_from_environment() -> WorkGroup:
    """A ``TorchWorkGroup`` under torchrun / accelerate / srun-with-env (``WORLD_SIZE`` > 1),
    else the single process."""
    if launched_world_size() <= 1:
        return WorkGroup()
    timeout = float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)
    group = TorchWorkGroup(timeout)
    logger.info("rank %d of %d (%s)", group.rank, group.world_size, group.backend)
    return group
