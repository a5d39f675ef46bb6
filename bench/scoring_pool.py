"""Scoring beside the model: per-sample scores computed while the model works on the next batch.

Reading generated images (OCR of line crops or whole pages) costs CPU seconds per sample; done
between model batches it leaves the accelerator idle. Here a finished batch is handed over and
the runner goes on generating:

* jobs with stored images go to ``workers`` processes (``--scoring-workers``), each holding one
  OCR engine, built on its first job and kept for the whole run, with one intra-op thread (many
  single-threaded engines side by side do more per CPU second than one that spreads over every
  core: ``benchmarks/ocr_engine_settings.py``);
* text answers, and everything when ``workers`` is 0, are scored in one thread of this process:
  microseconds per sample, but off the path of the next model call all the same.

A job names its sample, its task (class and options, rebuilt once in each worker around the
worker's own context) and the files of its stored outputs, so a worker reads the images as they
were stored, exactly as in-process scoring does; results are the same wherever a job ran.
Workers are spawned, not forked (a forked CUDA context or a thread's held lock breaks the
child), ignore Ctrl-C (the runner stops them) and exit on their own when the runner dies.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import importlib.util
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, Protocol, TypeVar

from bench.context import TaskContext
from bench.faults import HarnessFault, fault_from
from bench.images import open_image
from bench.records import SampleError
from bench.task import Task
from bench.types import Response

logger = logging.getLogger(__name__)

#: Environment variables that cap the thread pools of the numeric libraries a scorer may use.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
#: How often a worker checks that the process that started it is still alive.
_PARENT_CHECK_S = 0.5


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_scoring_workers(processes_on_node: int | None = None) -> int:
    """The cores the model processes leave free, shared between them, at least one each.

    ``processes_on_node`` is how many model processes share this machine (torchrun's
    ``LOCAL_WORLD_SIZE`` when not given): each of them keeps one core and starts its own pool.
    """
    if processes_on_node is None:
        processes_on_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    processes_on_node = max(1, processes_on_node)
    return max(1, available_cores() // processes_on_node - 1)


@dataclass(frozen=True)
class ScoreJob:
    """One sample's stored output, to be scored: image files, or the text answer."""

    key: str
    sample: Any
    images: tuple[Path, ...] = ()
    text: str | None = None


@dataclass
class ScoreResult:
    parsed: Any = None
    scores: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    #: The sample's own failure: ``model`` when its stored output cannot be read, ``score``
    #: when the scorer raised.
    error: SampleError | None = None
    #: A failure of the machine (full disk, I/O error): the run must stop, nothing is recorded.
    fault: str | None = None


def score_job(task: Task, job: ScoreJob) -> ScoreResult:
    """Score one stored output with ``task``; never raises for anything the sample causes."""
    try:
        if job.images:
            response = Response(images=tuple(open_image(path) for path in job.images))
        else:
            response = Response(text=job.text)
    except Exception as error:
        return _failed(error, "model", ", ".join(map(str, job.images)))
    try:
        scored = task.score(job.sample, response)
    except Exception as error:
        return _failed(error, "score", "the scorer's files")
    return ScoreResult(scored.parsed, {name: float(value) for name, value in scored.scores.items()}, dict(scored.details))


def _failed(error: Exception, stage: str, where: str) -> ScoreResult:
    fault = fault_from(error, where or "an input")
    if fault is not None and not isinstance(error, MemoryError):
        return ScoreResult(fault=str(fault))
    logger.debug("scoring failed at the %s stage", stage, exc_info=error)
    return ScoreResult(error=SampleError(type=type(error).__name__, message=str(error), stage=stage))


class ScoringPool:
    """Where jobs are scored; one per run, so that every worker builds its engine once."""

    def __init__(self, context: TaskContext, workers: int) -> None:
        if workers < 0:
            raise ValueError(f"--scoring-workers must be 0 (score in this process) or more, got {workers}")
        self.context = context
        self.workers = workers
        self._processes: concurrent.futures.ProcessPoolExecutor | None = None
        #: In-process scoring, one thread each for text answers and for images, so that an
        #: answer (microseconds) never waits behind OCR.
        self._threads: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
        #: Jobs are submitted from the runner's storage thread, warm-up from its main thread.
        self._lock = threading.Lock()

    def submit(self, task: Task, job: ScoreJob) -> "Future[ScoreResult]":
        if job.images and self.workers > 0:
            try:
                payload = pickle.dumps((type(task), task.name, task.options, job))
            except (pickle.PicklingError, TypeError, AttributeError) as error:
                raise TypeError(
                    f"task {task.name!r} cannot be scored in worker processes: its sample or options cannot be sent "
                    f"to them ({error}); run with --scoring-workers 0"
                ) from error
            return self._process_pool().submit(_score_in_worker, _task_modules(task, job), payload)
        return self._thread("images" if job.images else "text").submit(score_job, task, job)

    def warm_up(self) -> None:
        """Start every worker now and have it build its OCR engine, instead of on the first
        jobs: the start-up (imports, engine) then overlaps the model's loading and first batch."""
        with self._lock:
            if self.workers == 0 or self._processes is not None:
                return
            pool = self._processes = self._start_processes()
        for _ in range(self.workers):
            pool.submit(_warm_worker)

    def close(self) -> None:
        """Stop the workers; jobs still queued are dropped (their samples were not recorded,
        so the next run computes them again)."""
        with self._lock:
            executors = [self._processes, *self._threads.values()]
            self._processes, self._threads = None, {}
        for executor in executors:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)

    def _process_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._processes is None:
                self._processes = self._start_processes()
            return self._processes

    def _start_processes(self) -> concurrent.futures.ProcessPoolExecutor:
        logger.info("starting %d scoring worker%s", self.workers, "" if self.workers == 1 else "s")
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(self.context, os.getpid()),
        )

    def _thread(self, kind: str) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if kind not in self._threads:
                self._threads[kind] = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"thbench-scoring-{kind}")
            return self._threads[kind]


class Scorable(Protocol):
    """What the queue scores: anything that names its job (``None``: nothing to score)."""

    @property
    def job(self) -> ScoreJob | None: ...


T = TypeVar("T", bound=Scorable)


class ScoringQueue(Generic[T]):
    """The run's samples between the model and their records, of every task: the model may
    start one task while the last batches of the one before are still being scored.

    Each item goes through two stages off the caller's thread: ``prepare`` (storing the
    model's output, on one storage thread, in the order items were put; one whose job reads
    stored images also writes the sample's unscored record), then its job in the pool.
    ``deliver`` receives the prepared item with its result (``None`` when there was no job) as
    soon as it is there, one call at a time, in the order results arrive. Whatever a stage
    raises stops the queue and is raised in the caller's thread by the next ``put`` or
    ``wait``."""

    def __init__(self, pool: ScoringPool) -> None:
        self.pool = pool
        self._condition = threading.Condition()
        self._storage = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="thbench-storage")
        #: Each item in flight (by its number), with the task it belongs to.
        self._in_flight: dict[int, str] = {}
        #: The items whose ``prepare`` has not finished: they hold the model's outputs in memory.
        self._unprepared: set[int] = set()
        #: Prepared items whose job reads stored images: their outputs are on disk with an
        #: unscored record, so a stopped run loses nothing of them.
        self._on_disk: set[int] = set()
        self._futures: set[Future[ScoreResult]] = set()
        self._next = 0
        self._error: BaseException | None = None
        self._closed = False

    def put(self, task: Task, prepare: Callable[[], T], deliver: Callable[[T, ScoreResult | None], None]) -> None:
        self._raise_error()
        with self._condition:
            number, self._next = self._next, self._next + 1
        try:
            with self._condition:
                self._in_flight[number] = task.name
                self._unprepared.add(number)
            self._storage.submit(self._prepare, number, task, prepare, deliver)
        except BaseException:  # Ctrl-C landing here must not leave an item that never finishes
            self._done(number)
            raise

    def wait(self, at_most: int = 0, task: str | None = None) -> None:
        """Block until no more than ``at_most`` items are in flight, of ``task`` or of all tasks
        (everything delivered for 0)."""
        with self._condition:
            while self._count(task) > at_most and self._error is None:
                self._condition.wait()
        self._raise_error()

    def wait_prepared(self, at_most: int) -> None:
        """Block until no more than ``at_most`` items wait for (or are in) their ``prepare``."""
        with self._condition:
            while len(self._unprepared) > at_most and self._error is None:
                self._condition.wait()
        self._raise_error()

    def settle(self) -> None:
        """Wait until every item in flight is recorded, raising nothing: when the run stops for
        another reason (a full disk met by the model's next batch, Ctrl-C), outputs already
        generated are stored and their answers delivered, so that a resumed run need not
        compute them again. Stored images waiting for OCR are not waited for: their unscored
        records make the resumed run score them."""
        with self._condition:
            while self._in_flight.keys() - self._on_disk:
                self._condition.wait()

    def close(self) -> None:
        """Deliver nothing more: items not yet stored are dropped, jobs in the pool cancelled or
        their results dropped; returns once nothing is being stored."""
        with self._condition:
            self._closed = True
            pending = list(self._futures)
        for future in pending:
            future.cancel()
        self._storage.shutdown(wait=True, cancel_futures=True)

    def _count(self, task: str | None) -> int:
        if task is None:
            return len(self._in_flight)
        return sum(name == task for name in self._in_flight.values())

    def _prepare(self, number: int, task: Task, prepare: Callable[[], T],
                 deliver: Callable[[T, ScoreResult | None], None]) -> None:
        future: Future[ScoreResult] | None = None
        try:
            with self._condition:
                if self._closed or self._error is not None:
                    return
            item = prepare()
            self._prepared(number, item.job is not None and bool(item.job.images))
            if item.job is None:
                self._deliver(deliver, item, None)
                return
            future = self.pool.submit(task, item.job)
        except BaseException as error:
            self._fail(_pool_fault(error))
        finally:
            if future is None:  # nothing left to wait for
                self._done(number)
        if future is not None:
            with self._condition:
                self._futures.add(future)
            future.add_done_callback(lambda done: self._finished(number, deliver, item, done))

    def _finished(self, number: int, deliver: Callable[[T, ScoreResult | None], None], item: T,
                  future: "Future[ScoreResult]") -> None:
        if not future.cancelled():
            error = future.exception()
            if error is not None:
                self._fail(_pool_fault(error))
            else:
                self._deliver(deliver, item, future.result())
        with self._condition:
            self._futures.discard(future)
        self._done(number)

    def _prepared(self, number: int, on_disk: bool) -> None:
        with self._condition:
            self._unprepared.discard(number)
            if on_disk:
                self._on_disk.add(number)
            self._condition.notify_all()

    def _done(self, number: int) -> None:
        with self._condition:
            self._in_flight.pop(number, None)
            self._unprepared.discard(number)
            self._on_disk.discard(number)
            self._condition.notify_all()

    def _deliver(self, deliver: Callable[[T, ScoreResult | None], None], item: T, result: ScoreResult | None) -> None:
        with self._condition:
            if self._closed or self._error is not None:
                return
            try:
                deliver(item, result)
            except BaseException as error:
                self._error = error
                self._condition.notify_all()

    def _fail(self, error: BaseException) -> None:
        with self._condition:
            if self._error is None:
                self._error = error
            self._condition.notify_all()

    def _raise_error(self) -> None:
        with self._condition:
            error = self._error
        if error is not None:
            raise error


def _pool_fault(error: BaseException) -> BaseException:
    if isinstance(error, BrokenProcessPool):
        return HarnessFault(
            "a scoring worker process died (killed, out of memory, or unable to import a plugin's module); nothing was "
            "recorded for the samples it held; run the same command again to resume, with --scoring-workers 0 to "
            f"score in this process instead ({error})"
        )
    return error


def _task_modules(task: Task, job: ScoreJob) -> tuple[tuple[str, str | None], ...]:
    """The modules that define the job's classes, with their files: a plugin loaded from a
    file (not importable by name) is loaded the same way in the worker."""
    modules = []
    for cls in (type(task), type(task.options), type(job.sample)):
        module = sys.modules.get(cls.__module__)
        modules.append((cls.__module__, getattr(module, "__file__", None)))
    return tuple(dict.fromkeys(modules))


@dataclass
class _Worker:
    """What a scoring worker keeps between jobs: its context (with the OCR engine it builds
    once) and the tasks it rebuilt around it."""

    context: TaskContext
    tasks: dict[bytes, Task] = field(default_factory=dict)


#: This worker process's state; set once by ``_start_worker`` (a pool's initializer can only
#: leave state for later jobs at module level).
_WORKER: _Worker | None = None


def _start_worker(context: TaskContext, parent: int) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    _WORKER = _Worker(context.for_scoring_worker())
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="thbench-parent-watch").start()


def _exit_with_parent(parent: int) -> None:
    """A runner killed with SIGKILL cannot stop its workers; they notice and stop themselves."""
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_S)
    os._exit(0)


def _warm_worker() -> None:
    assert _WORKER is not None, "scoring worker used before its initializer ran"
    try:
        _WORKER.context.ocr()
    except Exception:  # an engine that cannot be built fails the first real job, with its sample
        logger.debug("OCR engine not built ahead of the first job", exc_info=True)


def _score_in_worker(modules: tuple[tuple[str, str | None], ...], payload: bytes) -> ScoreResult:
    assert _WORKER is not None, "scoring worker used before its initializer ran"
    for name, path in modules:
        _ensure_module(name, path)
    task_type, name, options, job = pickle.loads(payload)
    if getattr(task_type, "name", None) is None:
        task_type.name = name  # a plugin loaded from its file here was named by its registration there
    identity = pickle.dumps((task_type, options))
    task = _WORKER.tasks.get(identity)
    if task is None:
        task = _WORKER.tasks[identity] = task_type(options, _WORKER.context)
    return score_job(task, job)


def _ensure_module(name: str, path: str | None) -> None:
    if name in sys.modules:
        return
    try:
        importlib.import_module(name)
        return
    except ModuleNotFoundError:
        if path is None:
            raise
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"cannot load module {name!r} from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
