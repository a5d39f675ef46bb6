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

    def close(self) -> None:
        pass


class TorchWorkGroup(WorkGroup):
    """The ranks of a torchrun / accelerate launch (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``)."""

    def __init__(self, timeout_s: float) -> None:
        import torch
        import torch.distributed as dist

        self._dist = dist
        self.timeout = timedelta(seconds=timeout_s)
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        # A launcher that set up the group (accelerate) keeps it; one thbench made, it closes.
        self._owns_group = not dist.is_initialized()
        if self._owns_group:
            dist.init_process_group(backend=backend, timeout=self.timeout)
        self.backend = dist.get_backend()
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self._store = dist.distributed_c10d._get_default_store()
        self._run = self.broadcast(uuid.uuid4().hex[:12])
        self.launch = f"torch-{self._run}"

    def claims(self, name: str, total: int) -> Iterator[int]:
        key = f"thbench/{self._run}/{name}"
        while True:
            index = int(self._store.add(key, 1)) - 1
            if index >= total:
                return
            yield index

    def total(self, name: str, value: int) -> int:
        return int(self._store.add(f"thbench/{self._run}/total/{name}", value))

    def broadcast(self, value: Any) -> Any:
        holder = [value if self.rank == 0 else None]
        self._dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def barrier(self, what: str) -> None:
        try:
            if self.backend == "gloo":
                # Names the ranks that did not arrive, which a plain barrier does not.
                self._dist.monitored_barrier(timeout=self.timeout)
            else:
                self._dist.barrier()
        except RuntimeError as error:
            raise RuntimeError(
                f"rank {self.rank}: other ranks did not reach '{what}' within {self.timeout.total_seconds():.0f} s "
                f"({error}); the run folder is resumable: run the same command again, with any number of processes"
            ) from error

    def share_outcome(self, error: str | None) -> str | None:
        return self.broadcast(error)

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
