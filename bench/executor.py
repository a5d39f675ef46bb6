"""Turns planned samples into records: input loading, adapter calls, output storage, scoring.

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
from bench.store import RunStore
from bench.task import Task
from bench.types import GeneratedImages, Request, Response

logger = logging.getLogger(__name__)


class SampleFailure(RuntimeError):
    """Raised under ``--fail-fast`` when a sample fails; carries the sample's identity."""


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
    def run_batch(self, batch: Sequence[PlannedSample], revisions: dict[tuple[str, str], int]) -> list[PredictionRecord]:
        """Records for ``batch``; ``revisions`` gives each slot's next revision number."""
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

        records = []
        for planned in batch:
            record = self._new_record(planned, elapsed, revisions.get(planned.slot, 0))
            if planned.key not in failures:
                try:
                    response = self._store_output(planned, outputs[planned.key], record)
                except HarnessFault:
                    raise
                except Exception as error:
                    failures[planned.key] = self._failure(planned, error, "model")
                else:
                    self._score_into(planned, response, record)
            if planned.key in failures:
                record.error = failures[planned.key]
                record.scores = self.task.miss_scores(planned.sample)
            records.append(record)
        return records

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
        outputs: dict[str, Any] = {}
        for item in ready:
            outputs.update(self._call_adapter([item], failures))
        return outputs

    def _store_output(self, planned: PlannedSample, output: Any, record: PredictionRecord) -> Response:
        """Keep the raw output; images are scored as stored, so that JPEG storage (as some
        official scripts did) affects scores exactly as it did there."""
        if not planned.request.produces_images:
            if not isinstance(output, str):
                raise TypeError(f"model {self.adapter.name!r} answered with {type(output).__name__}, not text")
            record.raw = output
            return Response(text=output)
        if isinstance(output, GeneratedImages):
            record.refused = output.refused
            output = list(output.images)
        if not isinstance(output, (list, tuple)) or not all(isinstance(image, Image.Image) for image in output):
            raise TypeError(f"model {self.adapter.name!r} returned {type(output).__name__}, not a list of images")
        expected = planned.request.expected_images
        if len(output) != expected:
            raise ValueError(f"model {self.adapter.name!r} returned {len(output)} images, {expected} were asked for")
        record.images = self.store.save_images(self.task.name, record, output, self.image_format)  # type: ignore[arg-type]
        return Response(images=tuple(self._open_stored(p) for p in record.images))

    # -- scoring ------------------------------------------------------------------------------
    def rescore(self, planned: PlannedSample, previous: PredictionRecord) -> PredictionRecord:
        record = dataclasses.replace(previous, scoring_fingerprint=self.scoring_fingerprint, error=None, details={},
                                     rev=previous.rev + 1, writer=self.writer_id, extra=dict(previous.extra))
        if previous.images:
            response = Response(images=tuple(self._open_stored(p) for p in previous.images))
        else:
            response = Response(text=previous.raw)
        self._score_into(planned, response, record)
        return record

    def _open_stored(self, relative: str) -> Image.Image:
        try:
            return self.store.open_image(relative)
        except OSError as error:
            _raise_if_fault(error, [self.store.run_dir / relative])
            raise

    def _score_into(self, planned: PlannedSample, response: Response, record: PredictionRecord) -> None:
        try:
            scored = self.task.score(planned.sample, response)
        except Exception as error:
            _raise_if_fault(error, ["the scorer's files"])
            record.error = self._failure(planned, error, "score")
            record.scores = self.task.miss_scores(planned.sample)
            return
        record.parsed = scored.parsed
        record.scores = {name: float(value) for name, value in scored.scores.items()}
        record.details = dict(scored.details)

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
        if self.fail_fast:
            raise SampleFailure(
                f"sample {planned.sample.id!r} failed at the {stage} stage: {type(error).__name__}: {error}"
            ) from error
        logger.debug("sample %s failed at %s", planned.sample.id, stage, exc_info=error)
        return SampleError(type=type(error).__name__, message=str(error), stage=stage)


def _raise_if_fault(error: BaseException, where: Sequence[Any]) -> None:
    fault = fault_from(error, ", ".join(map(str, where)) or "an input")
    if fault is not None and not isinstance(error, MemoryError):
        raise fault from error
