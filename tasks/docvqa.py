"""DocVQA (Mathew et al., 2021): questions about scanned documents, scored by ANLS.

Layout read (the official release)::

    <data_dir>/val_v1.0.json   {"data": [{"questionId", "question", "image": "documents/<name>.png", "answers": [...]}, ...]}
    <data_dir>/documents/<name>.png
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.metrics import anls, containment_accuracy
from bench.task import DatasetError, MetricSpec, register_task
from tasks.vqa_base import VqaSample, VqaTask, read_json, require

LAYOUT = '<split>_v1.0.json with {"data": [{"questionId", "question", "image": "documents/<file>", "answers"}]}'


@dataclass(frozen=True)
class DocVqaOptions:
    data_dir: Path | None = None
    split: Literal["val", "train"] = "val"


@register_task("docvqa")
class DocVqaTask(VqaTask):
    description = "DocVQA: document VQA, official ANLS (threshold 0.5)"
    Options = DocVqaOptions
    default_folder = "docvqa"
    metrics = (
        MetricSpec("anls", "official ANLS (RRC DocVQA evaluation, threshold 0.5)"),
        MetricSpec("containment_accuracy", "TextHarmony paper's accuracy: an answer occurs inside the prediction"),
    )

    @property
    def annotation_path(self) -> Path:
        return self.data_dir / f"{self.options.split}_v1.0.json"

    def load_samples(self) -> list[VqaSample]:
        path = self.annotation_path
        content = read_json(path, LAYOUT)
        entries = content.get("data") if isinstance(content, dict) else None
        if not isinstance(entries, list):
            raise DatasetError(f"{path} has no 'data' list; expected {LAYOUT}")
        return [
            VqaSample(
                id=str(require(entry, "questionId", path, index, LAYOUT)),
                image=self.data_dir / str(require(entry, "image", path, index, LAYOUT)),
                question=str(require(entry, "question", path, index, LAYOUT)),
                answers=tuple(str(a) for a in require(entry, "answers", path, index, LAYOUT)),
            )
            for index, entry in enumerate(entries)
        ]

    def score_answer(self, raw: str, parsed: str, answers: tuple[str, ...]) -> dict[str, float]:
        return {"anls": anls(parsed, list(answers)), "containment_accuracy": containment_accuracy(raw, list(answers))}
