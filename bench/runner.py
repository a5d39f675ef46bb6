"""Runs tasks against a model adapter: batches, seeds, resumes, survives bad samples.

For every sample the runner decides between three paths: reuse (a stored record with the same
request and scoring fingerprints), rescore (same request, different scoring: the stored output
is scored again without a model call), or compute. Records are appended after each batch, so an
interrupted run loses at most one batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from PIL import Image
from tqdm import tqdm

from bench.adapter import ADAPTERS, ModelAdapter
from bench.aggregate import aggregate
from bench.context import TaskContext
from bench.environment import environment
from bench.fingerprint import file_signature, path_signature, stable_hash
from bench.images import open_image
from bench.options import options_as_dict
from bench.seeding import sample_seed
from bench.store import PredictionRecord, RunStore, SampleError
from bench.task import TASKS, DatasetError, Sample, Task
from bench.types import EditImageRequest, AnswerRequest, Request, RequestKind, Response

logger = logging.getLogger(__name__)

DEFAULT_RESULTS_ROOT = Path("results/runs")


class IncompatibleTaskError(ValueError):
    pass


class SampleFailure(RuntimeError):
    """Raised under ``--fail-fast`` when a sample fails; carries the sample's identity."""


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


@dataclass
class TaskOutcome:
    task: str
    summary: dict[str, Any]
    dataset_fingerprint: str
    computed: int = 0
    reused: int = 0
    rescored: int = 0


@dataclass
class RunOutcome:
    run_dir: Path
    model: str
    tasks: list[TaskOutcome]


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


def run(config: RunConfig) -> RunOutcome:
    adapter_type = ADAPTERS.get(config.model)
    task_types = [TASKS.get(name) for name in config.tasks]
    check_compatible(adapter_type, task_types)
    adapter = adapter_type.from_args(config.model_args)
    context = dataclasses.replace(config.context, adapter_prompt_profile=adapter_type.prompt_profile)
    tasks = [task_type.from_args(config.task_args.get(task_type.name, {}), context) for task_type in task_types]
    adapter_fingerprint = adapter.fingerprint()
    run_dir = config.run_dir or default_run_dir(
        config.results_root, config.model, adapter_fingerprint, config.seed, config.context.prompt_profile
    )
    store = RunStore(run_dir)
    session = _RunSession(config, adapter, adapter_fingerprint, context, store)
    return session.execute(tasks)


class _RunSession:
    def __init__(self, config: RunConfig, adapter: ModelAdapter, adapter_fingerprint: str, context: TaskContext, store: RunStore) -> None:
        self.config = config
        self.adapter = adapter
        self.adapter_fingerprint = adapter_fingerprint
        self.context = context
        self.store = store
        self.batch_size = max(1, config.batch_size or adapter.default_batch_size)
        self.adapter_loaded = False
        self._signatures: dict[Path, str | None] = {}

    def execute(self, tasks: Sequence[Task]) -> RunOutcome:
        manifest = self._start_manifest(tasks)
        outcomes = []
        try:
            for task in tasks:
                outcome = self._run_task(task)
                outcomes.append(outcome)
                self._record_task(manifest, task, outcome)
        except BaseException:
            manifest["status"] = "interrupted"
            manifest["finished_at"] = _now()
            self.store.write_manifest(manifest)
            raise
        manifest["status"] = "complete"
        manifest["finished_at"] = _now()
        if self.adapter_loaded:
            manifest["adapter"]["runtime"] = self.adapter.describe()
        self.store.write_manifest(manifest)
        return RunOutcome(self.store.run_dir, self.config.model, outcomes)

    # -- manifest ----------------------------------------------------------------------------
    def _start_manifest(self, tasks: Sequence[Task]) -> dict[str, Any]:
        previous = self.store.read_manifest()
        if previous and previous.get("adapter", {}).get("fingerprint") not in (None, self.adapter_fingerprint):
            logger.warning(
                "%s holds a run of another model configuration; samples are recomputed where fingerprints differ",
                self.store.run_dir,
            )
        manifest = {
            "run_id": self.store.run_dir.name,
            "status": "running",
            "started_at": _now(),
            "finished_at": None,
            "environment": environment(),
            "adapter": {
                "name": self.adapter.name,
                "options": options_as_dict(self.adapter.options),
                "fingerprint": self.adapter_fingerprint,
                "identity": self.adapter.identity(),
            },
            "seed": self.config.seed,
            "batch_size": self.batch_size,
            "limit": self.config.limit,
            "image_format": self.context.image_format,
            "data_root": str(self.context.data_root.resolve()),
            "tasks": previous.get("tasks", {}),
            "history": previous.get("history", []),
        }
        manifest["history"].append({"started_at": manifest["started_at"], "tasks": [task.name for task in tasks], "limit": self.config.limit})
        self.store.write_manifest(manifest)
        return manifest

    def _record_task(self, manifest: dict[str, Any], task: Task, outcome: TaskOutcome) -> None:
        entry = {
            "kind": task.kind.value,
            "config": task.describe(),
            "dataset_fingerprint": outcome.dataset_fingerprint,
            "scoring": task.scoring_identity(),
            "counts": {
                "samples": outcome.summary["n"],
                "errors": outcome.summary["errors"],
                "computed": outcome.computed,
                "reused": outcome.reused,
                "rescored": outcome.rescored,
            },
            "finished_at": _now(),
        }
        manifest["tasks"][task.name] = entry
        if self.adapter_loaded:
            manifest["adapter"]["runtime"] = self.adapter.describe()
        self.store.write_manifest(manifest)
        scores = self.store.read_scores() or {"tasks": {}}
        scores["run_id"] = self.store.run_dir.name
        scores["model"] = self.adapter.name
        scores["adapter_fingerprint"] = self.adapter_fingerprint
        scores["tasks"][task.name] = outcome.summary
        self.store.write_scores(scores)

    # -- one task ----------------------------------------------------------------------------
    def _run_task(self, task: Task) -> TaskOutcome:
        all_samples = list(task.load_samples())
        _check_unique_keys(task, all_samples)
        samples = all_samples if self.config.limit is None else all_samples[: self.config.limit]
        scoring_fingerprint = stable_hash(task.scoring_identity())
        stored = self.store.read_predictions(task.name)
        outcome = TaskOutcome(task.name, {}, task.dataset_fingerprint())
        plans, to_rescore, records = self._plan(task, samples, stored, scoring_fingerprint)
        outcome.reused = len(records)

        if to_rescore:
            rescored = self._rescore_all(task, to_rescore, scoring_fingerprint, plans)
            records.update((record.key, record) for record in rescored)
            outcome.rescored = len(rescored)

        if plans:
            self._ensure_adapter_loaded()
            bar = tqdm(total=len(plans), desc=task.name, unit="sample", disable=not self.config.progress, dynamic_ncols=True)
            try:
                for start in range(0, len(plans), self.batch_size):
                    batch = plans[start : start + self.batch_size]
                    new_records = self._run_batch(task, batch, scoring_fingerprint)
                    self.store.append_predictions(task.name, new_records)
                    records.update((record.key, record) for record in new_records)
                    bar.update(len(batch))
            finally:
                bar.close()
            outcome.computed = len(plans)

        if plans or to_rescore:
            self.store.compact_predictions(task.name)
        ordered = [records[task.sample_key(sample)] for sample in samples]
        outcome.summary = aggregate(task, ordered)
        outcome.summary["samples_total"] = len(all_samples)
        outcome.summary["limit"] = self.config.limit
        self._add_set_metrics(task, samples, ordered, outcome.summary)
        return outcome

    def _plan(self, task: Task, samples: Sequence[Sample], stored: dict[str, PredictionRecord], scoring_fingerprint: str):
        """Sort samples into: to compute, to score again from the stored output, to reuse."""
        plans: list[_Planned] = []
        to_rescore: list[tuple[_Planned, PredictionRecord]] = []
        records: dict[str, PredictionRecord] = {}
        for sample in samples:
            key = task.sample_key(sample)
            request = task.build_request(sample, key)
            request = dataclasses.replace(request, seed=sample_seed(self.config.seed, key))
            planned = _Planned(sample, key, request, self._request_fingerprint(request))
            previous = stored.get(key)
            if previous is None or previous.request_fingerprint != planned.request_fingerprint:
                plans.append(planned)
            elif previous.error is not None and previous.error.stage != "score":
                if self.config.retry_errors:
                    plans.append(planned)
                else:
                    records[key] = previous
            elif previous.error is not None or previous.scoring_fingerprint != scoring_fingerprint:
                to_rescore.append((planned, previous))
            else:
                records[key] = previous
        return plans, to_rescore, records

    def _rescore_all(self, task: Task, to_rescore: list, scoring_fingerprint: str, plans: list["_Planned"]) -> list[PredictionRecord]:
        """Score stored outputs again; a sample whose stored images are gone is recomputed."""
        rescored = []
        bar = tqdm(total=len(to_rescore), desc=f"{task.name} (rescoring)", unit="sample", disable=not self.config.progress, dynamic_ncols=True)
        try:
            for planned, previous in to_rescore:
                if not all((self.store.run_dir / path).is_file() for path in previous.images):
                    plans.append(planned)
                else:
                    rescored.append(self._rescore(task, planned, previous, scoring_fingerprint))
                bar.update(1)
        finally:
            bar.close()
        self.store.append_predictions(task.name, rescored)
        return rescored

    def _request_fingerprint(self, request: Request) -> str:
        """Everything that reaches the model: the request's fields, the content of its input
        files, and for image outputs the format they are stored and scored in."""
        fields = {
            f.name: getattr(request, f.name)
            for f in dataclasses.fields(request)
            if f.name not in ("images", "image", "mask", "key")
        }
        inputs = [self._input_signature(source) for source in _input_sources(request)]
        image_format = None if request.kind is RequestKind.ANSWER else self.context.image_format
        return stable_hash([self.adapter_fingerprint, fields, inputs, image_format])

    def _input_signature(self, source: Path | Image.Image) -> str | None:
        if isinstance(source, Image.Image):
            return hashlib.blake2b(source.tobytes(), digest_size=8).hexdigest()
        if source not in self._signatures:
            self._signatures[source] = file_signature(source) if source.is_file() else None
        return self._signatures[source]

    def _add_set_metrics(self, task: Task, samples: Sequence[Sample], ordered: Sequence[PredictionRecord], summary: dict[str, Any]) -> None:
        """Set-level metrics (FID over thousands of images) are recomputed only when an output
        or a setting they depend on changed."""
        fingerprint = stable_hash([
            task.set_metrics_identity(),
            {name: path_signature(path) if path is not None else None
             for name, path in (("fid_weights", self.context.fid_weights), ("clip_model", self.context.clip_model))},
            [(record.key, record.request_fingerprint, record.images) for record in ordered],
        ])
        previous = (self.store.read_scores().get("tasks") or {}).get(task.name) or {}
        if previous.get("set_metrics_fingerprint") == fingerprint and "set_metrics" in previous:
            set_metrics = previous["set_metrics"]
        else:
            set_metrics = task.set_metrics(samples, [[self.store.run_dir / p for p in r.images] for r in ordered])
        if set_metrics:
            summary["set_metrics"] = set_metrics
            summary["set_metrics_fingerprint"] = fingerprint

    def _ensure_adapter_loaded(self) -> None:
        if not self.adapter_loaded:
            logger.info("loading model %s", self.adapter.name)
            self.adapter.load()
            self.adapter_loaded = True

    # -- one batch ---------------------------------------------------------------------------
    def _run_batch(self, task: Task, batch: Sequence["_Planned"], scoring_fingerprint: str) -> list[PredictionRecord]:
        started = time.perf_counter()
        ready: list[tuple[_Planned, Request]] = []
        failures: dict[str, SampleError] = {}
        for planned in batch:
            try:
                ready.append((planned, _load_inputs(planned.request)))
            except Exception as error:
                failures[planned.key] = self._failure(planned, error, "input")
        outputs = self._call_adapter(task, ready, failures)
        elapsed = (time.perf_counter() - started) / max(1, len(batch))

        records = []
        for planned in batch:
            record = self._new_record(planned, scoring_fingerprint, elapsed)
            if planned.key not in failures:
                try:
                    response = self._store_output(task, planned, outputs[planned.key], record)
                except Exception as error:
                    failures[planned.key] = self._failure(planned, error, "model")
                else:
                    self._score_into(task, planned, response, record)
            if planned.key in failures:
                record.error = failures[planned.key]
                record.scores = task.miss_scores(planned.sample)
            records.append(record)
        return records

    def _call_adapter(self, task: Task, ready: list[tuple["_Planned", Request]], failures: dict[str, SampleError]) -> dict[str, Any]:
        """Answer a batch; if the batch fails, answer its samples one by one so that one bad
        sample costs only itself."""
        if not ready:
            return {}
        method = _adapter_method(self.adapter, task.kind)
        try:
            outputs = method([request for _, request in ready])
            _check_output_count(outputs, ready, self.adapter.name)
            return {planned.key: output for (planned, _), output in zip(ready, outputs)}
        except Exception as error:
            if len(ready) == 1:
                failures[ready[0][0].key] = self._failure(ready[0][0], error, "model")
                return {}
            if self.config.fail_fast:
                raise SampleFailure(f"a batch of {task.name} failed: {type(error).__name__}: {error}") from error
            logger.warning("a batch of %s failed (%s); retrying its samples one at a time", task.name, error)
        outputs: dict[str, Any] = {}
        for item in ready:
            outputs.update(self._call_adapter(task, [item], failures))
        return outputs

    def _store_output(self, task: Task, planned: "_Planned", output: Any, record: PredictionRecord) -> Response:
        """Keep the raw output; images are scored as stored, so that JPEG storage (as some
        official scripts did) affects scores exactly as it did there."""
        if task.kind is RequestKind.ANSWER:
            if not isinstance(output, str):
                raise TypeError(f"model {self.adapter.name!r} answered with {type(output).__name__}, not text")
            record.raw = output
            return Response(text=output)
        if not isinstance(output, (list, tuple)) or not all(isinstance(image, Image.Image) for image in output):
            raise TypeError(f"model {self.adapter.name!r} returned {type(output).__name__}, not a list of images")
        expected = getattr(planned.request, "num_images", len(output))
        if len(output) != expected:
            raise ValueError(f"model {self.adapter.name!r} returned {len(output)} images, {expected} were asked for")
        record.images = self.store.save_images(task.name, planned.key, output, self.context.image_format)
        return Response(images=tuple(self.store.open_image(p) for p in record.images))

    def _score_into(self, task: Task, planned: "_Planned", response: Response, record: PredictionRecord) -> None:
        try:
            scored = task.score(planned.sample, response)
        except Exception as error:
            record.error = self._failure(planned, error, "score")
            record.scores = task.miss_scores(planned.sample)
            return
        record.parsed = scored.parsed
        record.scores = {name: float(value) for name, value in scored.scores.items()}
        record.details = dict(scored.details)

    def _rescore(self, task: Task, planned: "_Planned", previous: PredictionRecord, scoring_fingerprint: str) -> PredictionRecord:
        record = dataclasses.replace(previous, scoring_fingerprint=scoring_fingerprint, error=None, details={})
        if previous.images:
            response = Response(images=tuple(self.store.open_image(p) for p in previous.images))
        else:
            response = Response(text=previous.raw)
        self._score_into(task, planned, response, record)
        return record

    def _new_record(self, planned: "_Planned", scoring_fingerprint: str, elapsed: float) -> PredictionRecord:
        return PredictionRecord(
            key=planned.key,
            id=str(planned.sample.id),
            request_fingerprint=planned.request_fingerprint,
            scoring_fingerprint=scoring_fingerprint,
            seed=planned.request.seed,
            prompt=planned.request.prompt,
            elapsed_s=round(elapsed, 6),
        )

    def _failure(self, planned: "_Planned", error: Exception, stage: str) -> SampleError:
        if self.config.fail_fast:
            raise SampleFailure(
                f"sample {planned.sample.id!r} failed at the {stage} stage: {type(error).__name__}: {error}"
            ) from error
        logger.debug("sample %s failed at %s", planned.sample.id, stage, exc_info=error)
        return SampleError(type=type(error).__name__, message=str(error), stage=stage)


@dataclass(frozen=True)
class _Planned:
    sample: Sample
    key: str
    request: Request
    request_fingerprint: str


def _input_sources(request: Request) -> list[Path | Image.Image]:
    if isinstance(request, AnswerRequest):
        return list(request.images)
    if isinstance(request, EditImageRequest):
        return [request.image] + ([request.mask] if request.mask is not None else [])
    return []


def _check_unique_keys(task: Task, samples: Sequence[Sample]) -> None:
    """Two samples with one key would share a prediction line and their images."""
    seen: dict[str, str] = {}
    for sample in samples:
        key = task.sample_key(sample)
        if key in seen:
            raise DatasetError(f"task {task.name!r}: sample id {sample.id!r} occurs twice; ids must be unique")
        seen[key] = str(sample.id)


def _load_inputs(request: Request) -> Request:
    """Open image files now, so that an unreadable file fails this sample and nothing else."""
    if isinstance(request, AnswerRequest):
        return dataclasses.replace(request, images=tuple(open_image(image) for image in request.images))
    if isinstance(request, EditImageRequest):
        mask = None if request.mask is None else open_image(request.mask, mode="L")
        return dataclasses.replace(request, image=open_image(request.image), mask=mask)
    return request


def _adapter_method(adapter: ModelAdapter, kind: RequestKind) -> Callable[[Sequence[Any]], list[Any]]:
    return {
        RequestKind.ANSWER: adapter.answer,
        RequestKind.GENERATE_IMAGE: adapter.generate_image,
        RequestKind.EDIT_IMAGE: adapter.edit_image,
    }[kind]


def _check_output_count(outputs: Sequence[Any], ready: Sequence[Any], adapter_name: str) -> None:
    if len(outputs) != len(ready):
        raise RuntimeError(f"model {adapter_name!r} returned {len(outputs)} outputs for {len(ready)} requests")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
