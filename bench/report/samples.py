"""Stored predictions joined with the dataset samples they answered.

Predictions keep the model's side (prompt, raw output, parsed answer, scores, generated images);
the question's reference side (input image, gold answers, target texts) lives in the dataset.
The task is rebuilt from the run's manifest and its samples loaded, and the two are joined on
the sample key, which the same task configuration always gives the same sample.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report.compare import sample_headline
from bench.report.runs import RunSummary, instantiate_task, metric_specs
from bench.store import PredictionRecord
from bench.task import GalleryBox, Task

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


@dataclass(frozen=True)
class SampleView:
    record: PredictionRecord
    #: The dataset sample, when the dataset could be loaded.
    sample: Any | None
    #: This sample's headline score (derived from its own sums for ratio metrics).
    headline: float
    #: What galleries order by: the task's continuous ranking score, else the headline.
    rank: float
    #: What galleries draw on the input image (the task says).
    boxes: tuple[GalleryBox, ...] = ()

    @property
    def input_images(self) -> list[Path]:
        if self.sample is None or not dataclasses.is_dataclass(self.sample):
            return []
        return [value for value in _fields(self.sample).values() if isinstance(value, Path) and value.suffix.lower() in IMAGE_SUFFIXES]

    @property
    def reference(self) -> dict[str, Any]:
        """The sample's own fields (question, answers, target texts…) except id and files."""
        if self.sample is None or not dataclasses.is_dataclass(self.sample):
            return {}
        return {name: value for name, value in _fields(self.sample).items() if name != "id" and not isinstance(value, Path)}


@dataclass(frozen=True)
class TaskSamples:
    task: str
    kind: str
    primary: str | None
    views: list[SampleView]
    notes: list[str]

    def worst(self, count: int, higher_is_better: bool = True) -> list[SampleView]:
        """Failed samples first, then the lowest headline scores; dataset order breaks ties."""
        def rank(view: SampleView) -> tuple[int, float]:
            score = view.rank if math.isfinite(view.rank) else -math.inf
            return (0 if view.record.error is not None else 1, score if higher_is_better else -score)

        return sorted(self.views, key=rank)[:count]


def task_samples(run: RunSummary, task: str, data_root: Path | None = None) -> TaskSamples:
    records = run.predictions(task)
    notes: list[str] = []
    instance = instantiate_task(run, task, data_root)
    samples_by_key: dict[str, Any] = {}
    order: list[str] = []
    if instance is None:
        notes.append(f"the {task!r} task plugin is not installed: dataset fields and input images are not shown")
    else:
        samples_by_key, order = _load_samples(instance, run.dataset_fingerprint(task), notes)
    specs, derived = metric_specs(run, task)
    names = [spec.name for spec in specs]
    derive = instance.derive if instance is not None and derived else None
    primary = run.summary(task).primary
    keys = [k for k in order if k in records] + [k for k in records if k not in samples_by_key]
    unmatched = sum(k not in samples_by_key for k in records)
    if samples_by_key and unmatched:
        notes.append(
            f"{unmatched} of {len(records)} predictions match no sample of the dataset found now (their keys differ: "
            "another dataset version or task configuration); their inputs are not shown"
        )
    views = []
    for key in keys:
        record, sample = records[key], samples_by_key.get(key)
        headline = sample_headline(record, primary, derive, names)
        ranking = instance.ranking_score(sample, record.scores, record.parsed) if instance is not None and sample is not None else None
        boxes = tuple(instance.gallery_boxes(sample, record.parsed)) if instance is not None and sample is not None else ()
        views.append(SampleView(record, sample, headline, headline if ranking is None else ranking, boxes))
    kind = run.task_manifest(task).get("kind") or (instance.kind.value if instance is not None else "answer")
    return TaskSamples(task, str(kind), primary, views, notes)


def _load_samples(task: Task, expected_fingerprint: str | None, notes: list[str]) -> tuple[dict[str, Any], list[str]]:
    try:
        samples = list(task.load_samples())
    except (OSError, ValueError) as error:
        notes.append(f"dataset not loaded ({error}); pass --data-dir to show inputs and reference answers")
        return {}, []
    keyed = {task.sample_key(sample): sample for sample in samples}
    if expected_fingerprint:
        try:
            found = task.dataset_fingerprint()
        except OSError as error:
            found = f"unreadable ({error})"
        if found != expected_fingerprint:
            notes.append(
                f"the dataset found now (fingerprint {found}) is not the one the run used ({expected_fingerprint}); "
                "inputs shown may differ from what the model saw"
            )
    return keyed, list(keyed)


def _fields(sample: Any) -> dict[str, Any]:
    return {f.name: getattr(sample, f.name) for f in dataclasses.fields(sample)}
