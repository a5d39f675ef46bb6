"""Runs tasks against a model adapter: the bookkeeping around the planner and the executor.

Per task: load the samples, build each request and its fingerprint once, ask the planner what
to reuse, rescore and compute, let the executor do it batch by batch while this process's
record writer appends the results, then aggregate from exactly the records of this task
configuration. Around it: the folder's lock, this invocation's own record, the merged manifest
and the scores of every configuration the folder holds.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import logging
import os
import socket
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from PIL import Image
from tqdm import tqdm

from bench.adapter import ADAPTERS, ModelAdapter
from bench.aggregate import aggregate
from bench.configurations import configuration_id, configuration_labels
from bench.context import TaskContext, data_root_hint
from bench.datasets import refuse_duplicate_ids
from bench.distributed import Shard, WorkGroup
from bench.environment import device_description, environment, thbench_version, worktree_dirty
from bench.executor import Executor, Generated, SampleFailure, Scoring
from bench.faults import HarnessFault
from bench.fingerprint import file_signature, path_signature, stable_hash
from bench.manifest import LEGACY_INVOCATION, legacy_invocation, merged_manifest
from bench.options import OptionError, options_as_dict
from bench.planner import Plan, PlannedSample, make_plan
from bench.records import RECORD_FORMAT, UNSCORED, PredictionRecord, unscored
from bench.run_lock import RunLock, RunLockedError, check_no_other_holders, shard_lock_name
from bench.scoring_pool import ScoreResult, ScoringPool, ScoringQueue, default_scoring_workers
from bench.seeding import sample_seed
from bench.store import RecordWriter, RunStore, new_writer_id
from bench.task import TASKS, DatasetError, Task
from bench.types import Request, RequestKind

__all__ = ["RunConfig", "RunOutcome", "TaskOutcome", "IncompatibleTaskError", "SampleFailure", "HarnessFault",
           "DEFAULT_RESULTS_ROOT", "run", "check_compatible", "default_run_dir"]

logger = logging.getLogger(__name__)

DEFAULT_RESULTS_ROOT = Path("results/runs")
#: Compact a task's record files when superseded lines outnumber current records, or when
#: this many files have accumulated (every invocation starts its own).
COMPACT_AT_FILES = 16
#: Stored samples that may wait for their scores while the model goes on (only their file
#: names and samples are held in memory).
UNSCORED_AHEAD = 1024


class IncompatibleTaskError(ValueError):
    pass


@dataclass
class RunConfig:
    model: str
    tasks: Sequence[str]
    model_args: dict[str, Any] = field(default_factory=dict)
    task_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    context: TaskContext = field(default_factory=TaskContext)
    limit: int | None = None
    run_dir: Path | None = None
    results_root: Path = DEFAULT_RESULTS_ROOT
    batch_size: int | None = None
    seed: int = 0
    fail_fast: bool = False
    retry_errors: bool = False
    progress: bool = True
    #: The command line, for the invocation record (default: this process's argv).
    command: str | None = None
    #: Compute only this part of the samples, and aggregate nothing (scheduler arrays).
    shard: Shard | None = None
    #: Processes that score generated images beside the model; 0 scores in this process;
    #: ``None``: the cores the model processes leave free (``default_scoring_workers``).
    scoring_workers: int | None = None


@dataclass
class TaskOutcome:
    task: str
    summary: dict[str, Any]
    dataset_fingerprint: str
    computed: int = 0
    reused: int = 0
    rescored: int = 0
    #: The configuration's label in scores.json and reports (the task name unless the folder
    #: holds several configurations of the task).
    label: str = ""
    #: Wall time of the task in this process: planning, model work, scoring, aggregation.
    seconds: float = 0.0


@dataclass
class RunOutcome:
    run_dir: Path
    model: str
    tasks: list[TaskOutcome]


def refuse_stray_task_args(task_args: Mapping[str, Any], tasks: Sequence[str]) -> None:
    """Options for a task the run does not include would be dropped without a word."""
    stray = sorted(set(task_args) - set(tasks))
    if stray:
        raise OptionError(f"--task-args names {', '.join(map(repr, stray))}, which this run does not include "
                          f"(its tasks: {', '.join(tasks)}); add it to --tasks or fix the name")


def check_compatible(adapter_type: type[ModelAdapter], task_types: Sequence[type[Task]]) -> None:
    """Refuse impossible pairs before anything heavy happens."""
    problems = [
        f"task {task.name!r} sends {task.kind.value!r} requests, which model {adapter_type.name!r} "
        f"does not answer (it supports: {', '.join(sorted(k.value for k in adapter_type.supported_kinds)) or 'nothing'})"
        for task in task_types
        if task.kind not in adapter_type.supported_kinds
    ]
    if problems:
        raise IncompatibleTaskError("; ".join(problems))


def default_run_dir(results_root: Path, model: str, adapter_fingerprint: str, seed: int, prompt_profile: str | None = None) -> Path:
    """Same model, options, seed and prompt profile → same folder, so repeating a command
    resumes it, and runs that differ only in the profile sit side by side."""
    identity = [adapter_fingerprint, seed] if prompt_profile is None else [adapter_fingerprint, seed, prompt_profile]
    return results_root / f"{model}-{stable_hash(identity, length=8)}"


def run(config: RunConfig, group: WorkGroup | None = None) -> RunOutcome:
    """Run ``config``; ``group`` is the launch this process is a rank of (default: alone)."""
    group = group or WorkGroup()
    adapter_type = ADAPTERS.get(config.model)
    # A task named twice would be planned twice against records its first pass just wrote.
    task_types = [TASKS.get(name) for name in dict.fromkeys(config.tasks)]
    check_compatible(adapter_type, task_types)
    refuse_stray_task_args(config.task_args, config.tasks)
    adapter = adapter_type.from_args(config.model_args)
    context = dataclasses.replace(config.context, adapter_prompt_profile=adapter_type.prompt_profile)
    tasks = [task_type.from_args(config.task_args.get(task_type.name, {}), context) for task_type in task_types]
    if group.is_main:
        for fallback in filter(None, (task.profile_fallback() for task in tasks)):
            logger.warning(fallback.message())
    adapter_fingerprint = adapter.fingerprint()
    run_dir = config.run_dir or default_run_dir(
        config.results_root, config.model, adapter_fingerprint, config.seed, config.context.prompt_profile
    )
    store = RunStore(run_dir)
    store.check_format()
    lock = _lock_for(run_dir, config, group)
    try:
        # Alone only without a launch id: other processes of one launch may join at any time.
        sole_writer = lock.fresh and lock.launch is None and group.world_size == 1 and config.shard is None
        session = _RunSession(config, adapter, adapter_fingerprint, context, store, group, sole_writer, lock)
        return session.execute(tasks)
    finally:
        lock.release()


def _lock_for(run_dir: Path, config: RunConfig, group: WorkGroup) -> RunLock:
    """Rank 0 takes the folder's lock (or its shard's) first and tells the others whether it
    got it; they join it as members of the same launch."""
    name = shard_lock_name(config.shard.index, config.shard.count) if config.shard else "lock.json"
    lock = RunLock(run_dir, command=config.command, launch=group.launch, name=name)
    refusal: str | None = None
    if group.is_main:
        try:
            lock.acquire()
            check_no_other_holders(run_dir, lock)
        except RunLockedError as error:
            lock.release()
            refusal = str(error)
    refusal = group.share_outcome(refusal)
    if refusal is not None:
        raise RunLockedError(refusal)
    if not group.is_main:
        lock.acquire()
    return lock


class _RunSession:
    def __init__(self, config: RunConfig, adapter: ModelAdapter, adapter_fingerprint: str, context: TaskContext,
                 store: RunStore, group: WorkGroup, sole_writer: bool, lock: RunLock) -> None:
        self.config = config
        self.lock = lock
        self.group = group
        self.adapter = adapter
        self.adapter_fingerprint = adapter_fingerprint
        self.context = context
        self.store = store
        self.sole_writer = sole_writer
        self.batch_size = max(1, config.batch_size or adapter.default_batch_size)
        self.adapter_loaded = False
        self.writer_id = new_writer_id()
        self._signatures: dict[Path, str | None] = {}
        workers = config.scoring_workers if config.scoring_workers is not None else default_scoring_workers()
        self.scoring_pool = ScoringPool(context, workers)

    def execute(self, tasks: Sequence[Task]) -> RunOutcome:
        if self.sole_writer:
            removed = self.store.remove_stale_temporaries()
            if removed:
                logger.info("removed %d temporary files left by an interrupted run", removed)
        self.store.mark_format(thbench_version())
        if self.group.is_main:
            self._keep_legacy_manifest()
        invocation = self._start_invocation(tasks)
        writer = self.store.open_writer(self.writer_id)
        outcomes: list[TaskOutcome] = []
        try:
            with self._scoring_queue() as queue:
                self._run_tasks(tasks, writer, queue, invocation, outcomes)
        except BaseException as error:
            self.group.report_failure(f"{type(error).__name__}: {error}")
            writer.close()
            invocation["status"] = "failed" if isinstance(error, HarnessFault) else "interrupted"
            invocation["error"] = f"{type(error).__name__}: {error}"
            self._finish(invocation)
            raise
        finally:
            self.scoring_pool.close()
        writer.close()
        invocation["status"] = "complete"
        self._finish(invocation)
        return RunOutcome(self.store.run_dir, self.config.model, outcomes)

    def _run_tasks(self, tasks: Sequence[Task], writer: RecordWriter, queue: ScoringQueue[Scoring],
                   invocation: dict[str, Any], outcomes: list[TaskOutcome]) -> None:
        """Each task is closed once the next one's model work is done, so that the scoring of
        its last batches runs beside the model instead of holding it back."""
        previous: _OpenTask | None = None
        current: _OpenTask | None = None
        try:
            for task in tasks:
                started = time.perf_counter()
                try:
                    work = self.group.broadcast(self._plan_task(task) if self.group.is_main else None)
                    current = self._open_task(task, work, started, writer, queue)
                except Exception as error:
                    if previous is not None:
                        self._close_after_failure(previous, writer, queue, invocation, outcomes, error)
                    raise
                if previous is not None:
                    outcomes.append(self._close_task(previous, writer, queue, invocation))
                previous, current = current, None
            if previous is not None:
                outcomes.append(self._close_task(previous, writer, queue, invocation))
        finally:
            for opened in (previous, current):
                if opened is not None:
                    opened.bars.close()  # closing twice is harmless

    def _close_after_failure(self, previous: "_OpenTask", writer: RecordWriter, queue: ScoringQueue[Scoring],
                             invocation: dict[str, Any], outcomes: list[TaskOutcome], error: Exception) -> None:
        """The next task failed, but this one's model work is done: its scores are kept before
        the run stops, when that is possible. Not in a multi-process run (the other ranks may
        never reach the same point), and not when the queue itself failed (a full disk); the
        run's own error is the one reported either way. Ctrl-C does not wait for this: stored
        outputs are scored when the run resumes."""
        if self.group.world_size > 1:
            return
        try:
            outcomes.append(self._close_task(previous, writer, queue, invocation))
        except Exception as closing:
            logger.info("%s: scores not recorded after %s: %s", previous.task.name, type(error).__name__, closing)

    # -- invocation record and manifest --------------------------------------------------------
    def _keep_legacy_manifest(self) -> None:
        """A folder from before invocation records keeps its manifest as one invocation."""
        if self.store.invocations_dir.is_dir() or not self.store.manifest_path.is_file():
            return
        self.store.write_invocation(LEGACY_INVOCATION, legacy_invocation(self.store.read_manifest()))

    def _start_invocation(self, tasks: Sequence[Task]) -> dict[str, Any]:
        invocation = {
            "invocation": self.writer_id,
            "format": f"{RECORD_FORMAT[0]}.{RECORD_FORMAT[1]}",
            "command": self.config.command if self.config.command is not None else " ".join(sys.argv),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "user": _user(),
            "started_at": _now(),
            "finished_at": None,
            "status": "running",
            "environment": environment(),
            "adapter": {
                "name": self.adapter.name,
                "options": options_as_dict(self.adapter.options),
                "fingerprint": self.adapter_fingerprint,
                "identity": self.adapter.identity(),
            },
            "seed": self.config.seed,
            "batch_size": self.batch_size,
            "scoring_workers": self.scoring_pool.workers,
            "limit": self.config.limit,
            "image_format": self.context.image_format,
            "data_root": str(self.context.data_root.resolve()),
            "requested_tasks": [task.name for task in tasks],
            "rank": self.group.rank,
            "world_size": self.group.world_size,
            "launch": self.group.launch,
            "shard": None if self.config.shard is None else str(self.config.shard),
            "tasks": {},
        }
        self._write_invocation(invocation)
        return invocation

    def _write_invocation(self, invocation: dict[str, Any]) -> None:
        if self.adapter_loaded:
            invocation["adapter"]["runtime"] = self.adapter.describe()
        self.store.write_invocation(self.writer_id, invocation)

    def _finish(self, invocation: dict[str, Any]) -> None:
        invocation["finished_at"] = _now()
        if self.adapter_loaded:
            # Worth their cost only when a model ran: the device it ran on, local source edits.
            invocation["environment"]["device"] = device_description()
            invocation["environment"]["git_dirty"] = worktree_dirty()
        self._write_invocation(invocation)
        if self.group.is_main:
            self.store.write_manifest(merged_manifest(self.store.run_dir.name, self.store.read_invocations()))

    def _task_entry(self, task: Task, outcome: TaskOutcome) -> dict[str, Any]:
        return {
            "kind": task.kind.value,
            "configuration": outcome.summary.get("configuration", {}).get("id"),
            "label": outcome.label,
            "config": task.describe(),
            "dataset_fingerprint": outcome.dataset_fingerprint,
            "scoring": task.scoring_identity(),
            "counts": {
                "samples": outcome.summary.get("n"),
                "errors": outcome.summary.get("errors"),
                "computed": outcome.computed,
                "reused": outcome.reused,
                "rescored": outcome.rescored,
            },
            "seconds": outcome.seconds,
            "finished_at": _now(),
        }

    # -- one task ----------------------------------------------------------------------------
    def _open_task(self, task: Task, work: "_TaskWork", started: float, writer: RecordWriter,
                   queue: ScoringQueue[Scoring]) -> "_OpenTask":
        """Hand all the task's work to the model and the scoring queue; what is still being
        scored when this returns is waited for by ``_close_task``."""
        plan = work.plan
        if self.config.shard is not None:
            plan = Plan([p for p in plan.compute if self.config.shard.owns(p.key)],
                        [item for item in plan.rescore if self.config.shard.owns(item[0].key)], plan.reuse)
        opened = _OpenTask(task, work, plan, TaskOutcome(task.name, {}, work.dataset_fingerprint, reused=len(plan.reuse)),
                           dict(plan.reuse), started)
        executor = Executor(task, self.adapter, self.store, self.writer_id, self.context.image_format,
                            work.scoring_fingerprint, self.config.fail_fast)
        try:
            self._rescore(opened, executor, writer, queue)
            self._compute(opened, executor, writer, queue)
        except BaseException:
            opened.bars.close()
            raise
        return opened

    def _close_task(self, opened: "_OpenTask", writer: RecordWriter, queue: ScoringQueue[Scoring],
                    invocation: dict[str, Any]) -> TaskOutcome:
        """Wait for the task's last scores, then aggregate and record it."""
        try:
            queue.wait(task=opened.task.name)
        finally:
            opened.bars.close()
        outcome = self._summarise_task(opened, writer)
        outcome.seconds = round(time.perf_counter() - opened.started, 3)
        invocation["tasks"][opened.task.name] = self._task_entry(opened.task, outcome)
        self._write_invocation(invocation)
        return outcome

    def _summarise_task(self, opened: "_OpenTask", writer: RecordWriter) -> TaskOutcome:
        task, work, plan, outcome, records = opened.task, opened.work, opened.plan, opened.outcome, opened.records
        written = outcome.computed + outcome.rescored
        if written:
            writer.sync()
        for counter in ("computed", "rescored"):
            self.group.total(f"{task.name}/{counter}", getattr(outcome, counter))
        self.group.barrier(f"the end of {task.name}")
        if self.config.shard is not None or not self.group.is_main:
            outcome.summary = {"n": outcome.computed + outcome.rescored, "errors": None}
            return outcome
        if self.group.world_size > 1:
            outcome.computed = self.group.total(f"{task.name}/computed", 0)
            outcome.rescored = self.group.total(f"{task.name}/rescored", 0)
            # Every rank's records, now on disk, for this configuration's slots.
            current = self.store.read_records(task.name).by_slot
            records = {item.key: current[item.slot] for item in work.planned}
        replaced = outcome.rescored + sum(slot in work.revisions for slot in (p.slot for p in plan.compute))
        self._maybe_compact(task, work.stored_lines + opened.unscored_lines, work.stored_slots, work.stored_files, written, replaced)
        ordered = [records[item.key] for item in work.planned]
        scores = self.store.read_scores()
        outcome.summary = self._summarise(task, work.samples, work.planned, ordered, work.samples_total,
                                          work.dataset_fingerprint, scores)
        outcome.label = self._write_scores(task, outcome.summary, scores, records_changed=written > 0)
        return outcome

    def _plan_task(self, task: Task) -> "_TaskWork":
        """Everything a rank needs to work on ``task``; computed once, by rank 0."""
        all_samples = list(self._load_samples(task))
        if not all_samples:
            raise DatasetError(f"task {task.name!r} found no samples in its data ({task.describe().get('source') or task.dataset_files()[0]}); "
                               "check --data-dir and the task's options")
        if task.data_warnings:
            logger.warning("%s: %d annotation%s adjusted while loading (listed in the manifest), first: %s", task.name,
                           len(task.data_warnings), "" if len(task.data_warnings) == 1 else "s", task.data_warnings[0])
        samples = all_samples if self.config.limit is None else all_samples[: self.config.limit]
        planned = self._prepare(task, all_samples, samples)
        scoring_fingerprint = stable_hash(task.scoring_identity())
        stored = self.store.read_records(task.name)
        plan = make_plan(planned, stored.by_slot, scoring_fingerprint, self.config.retry_errors, self._outputs_present)
        revisions = {p.slot: stored.by_slot[p.slot].rev + 1 for p in plan.compute if p.slot in stored.by_slot}
        return _TaskWork(samples, planned, plan, revisions, scoring_fingerprint, task.dataset_fingerprint(),
                         len(all_samples), stored.lines, len(stored.by_slot), len(stored.files))

    def _load_samples(self, task: Task) -> Sequence[Any]:
        try:
            return task.load_samples()
        except DatasetError as error:
            folder = task.default_folder
            if folder is None or getattr(task.options, "data_dir", None) is not None:
                raise
            hint = data_root_hint(self.context.data_root, folder)
            if not hint:
                raise
            raise DatasetError(f"{error}{hint}") from None

    def _prepare(self, task: Task, all_samples: Sequence[Any], samples: Sequence[Any]) -> list[PlannedSample]:
        """Each sample's key, request (with its seed) and request fingerprint, computed once."""
        keys = [task.sample_key(sample) for sample in all_samples]
        if len(set(keys)) != len(keys):
            # Two samples with one key would share a record and their images.
            refuse_duplicate_ids((str(sample.id), f"task {task.name!r}") for sample in all_samples)
        planned = []
        for sample, key in zip(samples, keys):
            request = task.build_request(sample, key)
            request = request.with_seed(sample_seed(self.config.seed, key))
            planned.append(PlannedSample(sample, key, request, self._request_fingerprint(request)))
        return planned

    def _rescore(self, opened: "_OpenTask", executor: Executor, writer: RecordWriter, queue: ScoringQueue[Scoring]) -> None:
        """Score stored outputs again, in the batches this process claims."""
        task, rescore = opened.task, opened.plan.rescore
        if not rescore:
            return
        batches = [rescore[start : start + self.batch_size] for start in range(0, len(rescore), self.batch_size)]
        recorder = _Recorder(opened, executor, writer, "rescored",
                             opened.bars.enter_context(self._bar(len(rescore), f"{task.name} (rescoring)")))
        for index in self.group.claims(f"{task.name}/rescore", len(batches)):
            for planned, previous in batches[index]:
                queue.put(task, partial(executor.rescore, planned, previous), recorder)
            queue.wait(self._in_flight_limit())

    def _compute(self, opened: "_OpenTask", executor: Executor, writer: RecordWriter, queue: ScoringQueue[Scoring]) -> None:
        """Compute the batches this process claims (all of them when it works alone); each
        batch's outputs are scored while the model computes the next."""
        task, compute = opened.task, opened.plan.compute
        if not compute:
            return
        if task.kind is not RequestKind.ANSWER:
            self.scoring_pool.warm_up()  # workers start and build their engines while the model loads
        batches = [compute[start : start + self.batch_size] for start in range(0, len(compute), self.batch_size)]
        recorder = _Recorder(opened, executor, writer, "computed",
                             opened.bars.enter_context(self._bar(len(compute), task.name)))
        for index in self.group.claims(f"{task.name}/compute", len(batches)):
            self._check_lock()
            self._ensure_adapter_loaded()
            for generated in executor.generate(batches[index], opened.work.revisions):
                queue.put(task, partial(recorder.save, generated), recorder)
            queue.wait_prepared(self.batch_size)  # one batch stored while the model computes the next
            queue.wait(self._in_flight_limit())

    @contextmanager
    def _scoring_queue(self) -> Iterator[ScoringQueue[Scoring]]:
        """The run's scoring queue. Records are appended as scores arrive, in whatever order
        (the store's merge and the aggregation depend on neither); on an error what was in
        flight is still delivered."""
        queue: ScoringQueue[Scoring] = ScoringQueue(self.scoring_pool)
        try:
            yield queue
        except BaseException:
            queue.settle()
            raise
        finally:
            queue.close()

    def _in_flight_limit(self) -> int:
        """Samples left to score (of every task) when the model may start its next batch.
        Generated images are on disk, each with its unscored record (a crash costs no model
        work), and text answers are scored on a thread of their own within microseconds, so
        the model may run far ahead of scoring that is slower than it for a while (one task's
        OCR, say) and the scoring catches up behind the next task's model work."""
        return max(UNSCORED_AHEAD, self.batch_size + 2 * max(1, self.scoring_pool.workers))

    def _maybe_compact(self, task: Task, stored_lines: int, stored_slots: int, stored_files: int, written: int,
                       replaced: int) -> None:
        """Only a sole writer may merge files; it does so when superseded lines outnumber the
        current ones or files pile up, never on every run (``stored_lines`` counts this run's
        unscored records, each superseded by its scored one)."""
        if not self.sole_writer:
            return
        superseded = stored_lines - stored_slots + replaced
        current = stored_slots + written - replaced
        files = stored_files + (1 if written else 0)
        if superseded > max(current, 64) or files >= COMPACT_AT_FILES:
            self.store.compact(task.name, self.writer_id)

    def _outputs_present(self, record: PredictionRecord) -> bool:
        return all((self.store.run_dir / path).is_file() for path in record.images)

    def _check_lock(self) -> None:
        if self.lock.lost:
            raise HarnessFault(
                f"{self.lock.path} was taken over by another process (this one's lease was judged expired, e.g. "
                "after the machine was suspended); stopped before writing more. Run the command again once the other run ended"
            )

    def _bar(self, total: int, description: str) -> tqdm:
        return tqdm(total=total, desc=description, unit="sample", disable=not self.config.progress, dynamic_ncols=True)

    # -- fingerprints ------------------------------------------------------------------------
    def _request_fingerprint(self, request: Request) -> str:
        """Everything that reaches the model: the request's fields, the content of its input
        files, and for image outputs the format they are stored and scored in."""
        inputs = [self._input_signature(source) for source in request.input_sources()]
        image_format = self.context.image_format if request.produces_images else None
        return stable_hash([self.adapter_fingerprint, request.fingerprint_fields(), inputs, image_format])

    def _input_signature(self, source: Path | Image.Image) -> str | None:
        if isinstance(source, Image.Image):
            return hashlib.blake2b(source.tobytes(), digest_size=8).hexdigest()
        if source not in self._signatures:
            self._signatures[source] = file_signature(source) if source.is_file() else None
        return self._signatures[source]

    # -- aggregation -------------------------------------------------------------------------
    def _summarise(self, task: Task, samples: Sequence[Any], planned: Sequence[PlannedSample],
                   ordered: Sequence[PredictionRecord], samples_total: int, dataset_fingerprint: str,
                   scores: dict[str, Any]) -> dict[str, Any]:
        """Scores of this configuration, from its records alone; the bootstrap is skipped when
        the records are those the stored summary was computed from."""
        identity_options = task.identity()["options"]
        config_id = configuration_id(task.name, identity_options, dataset_fingerprint, self.config.limit)
        records_fingerprint = _records_fingerprint(ordered)
        previous = (scores.get("configurations") or {}).get(config_id) or {}
        if previous.get("configuration", {}).get("records_fingerprint") == records_fingerprint and "first_errors" in previous:
            summary = {k: v for k, v in previous.items() if k not in ("configuration", "set_metrics", "set_metrics_fingerprint")}
        else:
            summary = aggregate(task, ordered)
        summary["samples_total"] = samples_total
        summary["limit"] = self.config.limit
        self._add_set_metrics(task, samples, ordered, summary, previous)
        self.store.write_selection(task.name, config_id, [item.slot for item in planned])
        summary["configuration"] = {
            "id": config_id,
            "task": task.name,
            "kind": task.kind.value,
            "identity_options": identity_options,
            "config": task.describe(),
            "dataset_fingerprint": dataset_fingerprint,
            "data_root": str(self.context.data_root.resolve()),
            "limit": self.config.limit,
            "scoring": task.scoring_identity(),
            "records_fingerprint": records_fingerprint,
        }
        return summary

    def _add_set_metrics(self, task: Task, samples: Sequence[Any], ordered: Sequence[PredictionRecord],
                         summary: dict[str, Any], previous: dict[str, Any]) -> None:
        """Set-level metrics (FID over thousands of images) are recomputed only when an output
        or a setting they depend on changed."""
        fingerprint = stable_hash([
            task.set_metrics_identity(),
            {name: path_signature(path) if path is not None else None
             for name, path in (("fid_weights", self.context.fid_weights), ("clip_model", self.context.clip_model))},
            [(record.key, record.request_fingerprint, record.images) for record in ordered],
        ])
        if previous.get("set_metrics_fingerprint") == fingerprint and "set_metrics" in previous:
            set_metrics = previous["set_metrics"]
        else:
            set_metrics = task.set_metrics(samples, [[self.store.run_dir / p for p in r.images] for r in ordered])
        if set_metrics:
            summary["set_metrics"] = set_metrics
            summary["set_metrics_fingerprint"] = fingerprint

    def _write_scores(self, task: Task, summary: dict[str, Any], scores: dict[str, Any], records_changed: bool) -> str:
        """Store the configuration's summary beside every other configuration's (``scores``: the
        folder's scores.json as read before this task was aggregated), relabel all of them, and
        return this one's label."""
        configurations = scores.get("configurations") or self._adopt_legacy_summaries(scores)
        configurations[summary["configuration"]["id"]] = summary
        if records_changed:
            self._refresh_shared_configurations(task, configurations, summary["configuration"]["id"])
        labels = configuration_labels({cid: entry["configuration"] for cid, entry in configurations.items()})
        self.store.write_scores({
            "format": f"{RECORD_FORMAT[0]}.{RECORD_FORMAT[1]}",
            "run_id": self.store.run_dir.name,
            "model": self.adapter.name,
            "adapter_fingerprint": self.adapter_fingerprint,
            "configurations": configurations,
            "tasks": {labels[cid]: {**entry, "label": labels[cid]} for cid, entry in configurations.items()},
        })
        return labels[summary["configuration"]["id"]]

    def _refresh_shared_configurations(self, task: Task, configurations: dict[str, Any], current_id: str) -> None:
        """Other configurations of the task may be scored from records this run replaced (a
        ``--limit`` subset, say, after a rescore): their summaries are recomputed from their
        own selections, so that no stored number describes records that are gone."""
        current: dict[tuple[str, str], PredictionRecord] | None = None
        for config_id, entry in list(configurations.items()):
            configuration = entry.get("configuration", {})
            if config_id == current_id or configuration.get("task") != task.name:
                continue
            slots = self.store.read_selection(task.name, config_id)
            if slots is None:
                continue
            current = current if current is not None else self.store.read_records(task.name).by_slot
            records = [current.get(slot) for slot in slots]
            if any(record is None for record in records):
                entry["stale"] = "some records it was scored from are gone; run its configuration again"
                continue
            if any(record.scoring_fingerprint == UNSCORED for record in records if record is not None):
                entry["stale"] = "some of its samples were stored but not scored (an interrupted run); run its configuration again"
                continue
            fingerprint = _records_fingerprint(records)  # type: ignore[arg-type]
            if fingerprint == configuration.get("records_fingerprint"):
                continue
            kept = {name: entry[name] for name in ("samples_total", "limit", "set_metrics", "set_metrics_fingerprint") if name in entry}
            scorings = {record.scoring_fingerprint for record in records if record is not None}
            refreshed = {**configuration, "records_fingerprint": fingerprint}
            if scorings == {stable_hash(task.scoring_identity())}:
                refreshed["scoring"] = task.scoring_identity()
            else:
                refreshed["mixed_scoring"] = True
            configurations[config_id] = {**aggregate(task, records), **kept, "configuration": refreshed}  # type: ignore[arg-type]

    def _adopt_legacy_summaries(self, scores: dict[str, Any]) -> dict[str, Any]:
        """Summaries of a folder of the earlier layout, each with a selection of the records of
        its own configuration (the earlier layout kept every configuration in one file)."""
        configurations = _legacy_configurations(scores, self.store.read_manifest())
        for config_id, entry in configurations.items():
            name = entry["configuration"]["task"]
            keys = _legacy_keys(name, entry["configuration"].get("config", {}).get("options", {}))
            if keys is None:
                continue
            legacy = [r for r in self.store.read_records(name).by_slot.values() if r.writer == "" and r.key in keys(r.id)]
            if legacy:
                self.store.write_selection(name, config_id, [r.slot for r in legacy])
        return configurations

    def _ensure_adapter_loaded(self) -> None:
        if not self.adapter_loaded:
            logger.info("loading model %s", self.adapter.name)
            self.adapter.load()
            self.adapter_loaded = True
            device = str(self.adapter.describe().get("device") or "")
            if device and device != "cpu":
                self.context.adapter_device = device  # set metrics are computed where the model ran


@dataclass
class _OpenTask:
    """A task whose work has been handed out; its last scores may still be arriving."""

    task: Task
    work: "_TaskWork"
    plan: Plan
    outcome: TaskOutcome
    #: The task configuration's records by key: reused ones, then each scored one as it arrives.
    records: dict[str, PredictionRecord]
    started: float
    #: Progress bars, open until the task's last score arrived.
    bars: ExitStack = field(default_factory=ExitStack)
    #: Unscored records written (each superseded by its scored one), for compaction.
    unscored_lines: int = 0


@dataclass
class _Recorder:
    """Where one task's samples go: the record file (when stored, then when scored), the
    task's records and counters, its progress bar."""

    opened: _OpenTask
    executor: Executor
    writer: RecordWriter
    counter: str
    bar: tqdm

    def save(self, generated: Generated) -> Scoring:
        """Store the model's output; output that waits for scores in the pool gets its record
        at once, marked unscored, so that a resumed run scores it instead of computing it."""
        scoring = self.executor.save(generated)
        if scoring.job is not None and scoring.job.images:
            self.writer.append(self.opened.task.name, [unscored(scoring.record)])
            self.opened.unscored_lines += 1
        return scoring

    def __call__(self, scoring: Scoring, result: ScoreResult | None) -> None:
        record = self.executor.finish(scoring, result)
        self.writer.append(self.opened.task.name, [record])
        self.opened.records[record.key] = record
        outcome = self.opened.outcome
        setattr(outcome, self.counter, getattr(outcome, self.counter) + 1)
        self.bar.update(1)


@dataclass(frozen=True)
class _TaskWork:
    """A task's plan as rank 0 made it, sent to every rank."""

    samples: list[Any]
    planned: list[PlannedSample]
    plan: Plan
    revisions: dict[tuple[str, str], int]
    scoring_fingerprint: str
    dataset_fingerprint: str
    samples_total: int
    stored_lines: int
    stored_slots: int
    stored_files: int


def _legacy_configurations(scores: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """Summaries of a folder written before configurations were kept apart, under the ids the
    same configuration gets now, so that resuming such a folder updates them in place."""
    configurations: dict[str, Any] = {}
    for name, summary in (scores.get("tasks") or {}).items():
        entry = (manifest.get("tasks") or {}).get(name, {})
        options = entry.get("config", {}).get("options", {})
        identity_options = _identity_options(name, options)
        dataset = entry.get("dataset_fingerprint")
        limit = summary.get("limit")
        config_id = configuration_id(name, identity_options, dataset, limit)
        configurations[config_id] = {**summary, "configuration": {
            "id": config_id, "task": name, "kind": entry.get("kind"), "identity_options": identity_options,
            "config": entry.get("config", {}), "dataset_fingerprint": dataset, "data_root": manifest.get("data_root"),
            "limit": limit, "scoring": entry.get("scoring"), "records_fingerprint": None,
        }}
    return configurations


def _legacy_keys(task: str, options: dict[str, Any]) -> Any:
    """The sample-key function of a task configuration recorded in an earlier-layout manifest,
    or ``None`` when its plugin or options no longer fit."""
    try:
        instance = TASKS.get(task).from_args(options, TaskContext())
    except (LookupError, ValueError, TypeError):
        return None

    def keys(sample_id: str) -> set[str]:
        # Records keep ids as text; the key was taken over the dataset's own id (a number, often).
        forms: list[Any] = [sample_id, int(sample_id)] if sample_id.lstrip("-").isdigit() else [sample_id]
        return {stable_hash([instance.identity_hash, form]) for form in forms}

    return keys


def _identity_options(task: str, options: dict[str, Any]) -> dict[str, Any]:
    try:
        return TASKS.get(task).identity_options(options)
    except LookupError:
        return dict(options)


def _records_fingerprint(records: Sequence[PredictionRecord]) -> str:
    digest = hashlib.sha256()
    for record in records:
        digest.update(f"{record.key}\0{record.request_fingerprint}\0{record.rev}\0{record.writer}\0{record.scoring_fingerprint}\n".encode())
    return digest.hexdigest()[:16]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
