"""Turns planned samples into records: input loading, adapter calls, output storage, then
(wherever the scoring pool runs them, ``bench.scoring_pool``) scores.

Anything a sample can cause (an unreadable image, a model exception, a parser crash) becomes
that sample's recorded error and costs only that sample; anything the machine causes (a full
disk, an I/O error) stops the run as a ``HarnessFault`` before a record is written.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Sequence

from PIL import Image

from bench.adapter import ModelAdapter
from bench.faults import HarnessFault, fault_from
from bench.planner import PlannedSample
from bench.records import PredictionRecord, SampleError
from bench.scoring_pool import ScoreJob, ScoreResult
from bench.store import RunStore
from bench.task import Task
from bench.types import GeneratedImages, Request

logger = logging.getLogger(__name__)


class SampleFailure(RuntimeError):
    """Raised under ``--fail-fast`` when a sample fails; carries the sample's identity."""


@dataclasses.dataclass
class Generated:
    """A sample the model has answered (or failed): its record so far and the raw output, not
    yet stored."""

    planned: PlannedSample
    record: PredictionRecord
    output: Any = None
    failure: SampleError | None = None


@dataclasses.dataclass
class Scoring:
    """A sample whose output is stored: its record so far and the job that scores it (none
    when it failed before there was anything to score)."""

    planned: PlannedSample
    record: PredictionRecord
    job: ScoreJob | None


@dataclasses.dataclass
class Executor:
    task: Task
    adapter: ModelAdapter
    store: RunStore
    writer_id: str
    image_format: str
    scoring_fingerprint: str
    fail_fast: bool = False

    # -- computing ----------------------------------------------------------------------------
    def generate(self, batch: Sequence[PlannedSample], revisions: dict[tuple[str, str], int]) -> list[Generated]:
        """Call the model on ``batch``; what is left is to store and score its outputs
        (``revisions`` gives each slot's next revision number)."""
        started = time.perf_counter()
        ready: list[tuple[PlannedSample, Request]] = []
        failures: dict[str, SampleError] = {}
        for planned in batch:
            try:
                ready.append((planned, planned.request.with_inputs_loaded()))
            except Exception as error:
                _raise_if_fault(error, planned.request.input_sources())
                failures[planned.key] = self._failure(planned, error, "input")
        outputs = self._call_adapter(ready, failures)
        elapsed = (time.perf_counter() - started) / max(1, len(batch))

        return [Generated(planned, self._new_record(planned, elapsed, revisions.get(planned.slot, 0)),
                          outputs.get(planned.key), failures.get(planned.key)) for planned in batch]

    def save(self, generated: Generated) -> Scoring:
        """Keep a generated sample's output (its images written and synced); runs off the
        model's thread, so that encoding images never delays the next batch."""
        planned, record, failure = generated.planned, generated.record, generated.failure
        job = None
        if failure is None:
            try:
                job = self._store_output(planned, generated.output, record)
            except HarnessFault:
                raise
            except Exception as error:
                failure = self._failure(planned, error, "model")
        if failure is not None:
            record.error = failure
            record.scores = self.task.miss_scores(planned.sample)
        return Scoring(planned, record, job)

    def _call_adapter(self, ready: list[tuple[PlannedSample, Request]], failures: dict[str, SampleError]) -> dict[str, Any]:
        """Answer a batch; if the batch fails, answer its samples one by one so that one bad
        sample costs only itself."""
        if not ready:
            return {}
        method = getattr(self.adapter, self.task.kind.method)
        try:
            outputs = method([request for _, request in ready])
            if len(outputs) != len(ready):
                raise RuntimeError(f"model {self.adapter.name!r} returned {len(outputs)} outputs for {len(ready)} requests")
            return {planned.key: output for (planned, _), output in zip(ready, outputs)}
        except Exception as error:
            # A full disk or an I/O error met by the model (writing a cache, reading weights) is
            # the machine's failure, not the sample's.
            _raise_if_fault(error, [f"the {self.adapter.name} model's files"])
            if len(ready) == 1:
                failures[ready[0][0].key] = self._failure(ready[0][0], error, "model")
                return {}
            if self.fail_fast:
                raise SampleFailure(f"a batch of {self.task.name} failed: {type(error).__name__}: {error}") from error
            logger.warning("a batch of %s failed (%s); retrying its samples one at a time", self.task.name, error)
        one_by_one: dict[str, Any] = {}
        for item in ready:
            one_by_one.update(self._call_adapter([item], failures))
        return one_by_one

    def _store_output(self, planned: PlannedSample, output: Any, record: PredictionRecord) -> ScoreJob:
        """Keep the raw output; images are scored as stored (read back from their files), so
        that JPEG storage (as some official scripts did) affects scores exactly as it did there."""
        if not planned.request.produces_images:
            if not isinstance(output, str):
                raise TypeError(f"model {self.adapter.name!r} answered with {type(output).__name__}, not text")
            record.raw = output
            return ScoreJob(planned.key, planned.sample, text=output)
        if isinstance(output, GeneratedImages):
            record.refused = output.refused
            output = list(output.images)
        if not isinstance(output, (list, tuple)) or not all(isinstance(image, Image.Image) for image in output):
            raise TypeError(f"model {self.adapter.name!r} returned {type(output).__name__}, not a list of images")
        expected = planned.request.expected_images
        if len(output) != expected:
            raise ValueError(f"model {self.adapter.name!r} returned {len(output)} images, {expected} were asked for")
        record.images = self.store.save_images(self.task.name, record, output, self.image_format)  # type: ignore[arg-type]
        return self._job(planned, record)

    # -- scoring ------------------------------------------------------------------------------
    def rescore(self, planned: PlannedSample, previous: PredictionRecord) -> Scoring:
        """A new revision of ``previous``, to be scored again from its stored output."""
        record = dataclasses.replace(previous, scoring_fingerprint=self.scoring_fingerprint, error=None, details={},
                                     rev=previous.rev + 1, writer=self.writer_id, extra=dict(previous.extra))
        return Scoring(planned, record, self._job(planned, record))

    def _job(self, planned: PlannedSample, record: PredictionRecord) -> ScoreJob:
        if record.images:
            return ScoreJob(planned.key, planned.sample, images=tuple(self.store.run_dir / p for p in record.images))
        return ScoreJob(planned.key, planned.sample, text=record.raw)

    def finish(self, scoring: Scoring, result: ScoreResult | None) -> PredictionRecord:
        """The scored record (``result`` is ``None`` for a sample that failed before scoring)."""
        record = scoring.record
        if result is None:
            return record
        if result.fault is not None:
            raise HarnessFault(result.fault)
        if result.error is not None:
            record.error = self._recorded_failure(scoring.planned, result.error)
            record.scores = self.task.miss_scores(scoring.planned.sample)
            return record
        record.parsed = result.parsed
        record.scores = result.scores
        record.details = result.details
        return record

    # -- records ------------------------------------------------------------------------------
    def _new_record(self, planned: PlannedSample, elapsed: float, rev: int) -> PredictionRecord:
        return PredictionRecord(
            key=planned.key,
            id=str(planned.sample.id),
            request_fingerprint=planned.request_fingerprint,
            scoring_fingerprint=self.scoring_fingerprint,
            seed=planned.request.seed,
            prompt=planned.request.prompt,
            elapsed_s=round(elapsed, 6),
            rev=rev,
            writer=self.writer_id,
        )

    def _failure(self, planned: PlannedSample, error: Exception, stage: str) -> SampleError:
        logger.debug("sample %s failed at %s", planned.sample.id, stage, exc_info=error)
        try:
            return self._recorded_failure(planned, SampleError(type=type(error).__name__, message=str(error), stage=stage))
        except SampleFailure as failure:
            raise failure from error

    def _recorded_failure(self, planned: PlannedSample, error: SampleError) -> SampleError:
        if self.fail_fast:
            raise SampleFailure(f"sample {planned.sample.id!r} failed at the {error.stage} stage: {error.type}: {error.message}")
        return error


def _raise_if_fault(error: BaseException, where: Sequence[Any]) -> None:
    fault = fault_from(error, ", ".join(map(str, where)) or "an input")
    if fault is not None and not isinstance(error, MemoryError):
        raise fault from error
