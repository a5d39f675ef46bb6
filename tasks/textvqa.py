"""TextVQA (Singh et al., 2019): questions about text in natural images.

Layout read (the official release)::

    <data_dir>/TextVQA_0.5.1_val.json   {"data": [{"question_id", "image_id", "question", "answers": [10 strings]}, ...]}
    <data_dir>/train_images/<image_id>.jpg   (the val split's images live in train_images/)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.metrics import containment_accuracy, textvqa_accuracy
from bench.task import DatasetError, MetricSpec, register_task
from tasks.vqa_base import VqaSample, VqaTask, read_json, require

LAYOUT = 'TextVQA_0.5.1_<split>.json with {"data": [{"question_id", "image_id", "question", "answers"}]} and images in train_images/<image_id>.jpg'


@dataclass(frozen=True)
class TextVqaOptions:
    data_dir: Path | None = None
    split: Literal["val", "train"] = "val"


@register_task("textvqa")
class TextVqaTask(VqaTask):
    description = "TextVQA: scene-text VQA, official soft accuracy (leave-one-out over 10 answers)"
    Options = TextVqaOptions
    default_folder = "textvqa"
    metrics = (
        MetricSpec("accuracy", "official VQA accuracy (EvalAI normalisation, min(1, matches/3), leave-one-out)"),
        MetricSpec("containment_accuracy", "TextHarmony paper's accuracy: an answer occurs inside the prediction"),
    )

    @property
    def annotation_path(self) -> Path:
        return self.data_dir / f"TextVQA_0.5.1_{self.options.split}.json"

    def load_samples(self) -> list[VqaSample]:
        path = self.annotation_path
        content = read_json(path, LAYOUT)
        entries = content.get("data") if isinstance(content, dict) else None
        if not isinstance(entries, list):
            raise DatasetError(f"{path} has no 'data' list; expected {LAYOUT}")
        samples = []
        for index, entry in enumerate(entries):
            image_id = require(entry, "image_id", path, index, LAYOUT)
            answers = require(entry, "answers", path, index, LAYOUT)
            samples.append(
                VqaSample(
                    id=str(require(entry, "question_id", path, index, LAYOUT)),
                    image=self.data_dir / "train_images" / f"{image_id}.jpg",
                    question=str(require(entry, "question", path, index, LAYOUT)),
                    answers=tuple(str(a) for a in answers),
                )
            )
        return samples

    def score_answer(self, raw: str, parsed: str, answers: tuple[str, ...]) -> dict[str, float]:
        return {
            "accuracy": textvqa_accuracy(parsed, list(answers)),
            "containment_accuracy": containment_accuracy(raw, list(answers)),
        }
