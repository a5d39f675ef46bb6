"""TextVQA (Singh et al., 2019): questions about text in natural images.

Official release (textvqa.org/dataset; the val split's images are in the train/val zip)::

    <data_dir>/TextVQA_0.5.1_val.json   {"data": [{"question_id", "image_id", "question",
                                                    "answers": [10 strings], ...}, ...]}
    <data_dir>/train_images/<image_id>.jpg

Hugging Face copy (``source=hf``): ``lmms-lab/textvqa``, ``data/validation-*.parquet`` with
columns question_id, question, answers, image (and image_id, ocr_tokens, ... unused).

Metric: the official soft accuracy (``bench.metrics.textvqa_accuracy``, mmf's
``TextVQAAccuracyEvaluator``) of the extracted answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.options import option
from bench.metrics import textvqa_accuracy
from bench.task import MetricSpec, register_task
from tasks.hf_parquet import HfLayout
from tasks.vqa_base import (
    CONTAINMENT,
    HF_SPLITS,
    VqaOptions,
    VqaSample,
    VqaTask,
    data_list,
    read_json,
    require_folder,
    rrc_samples,
    vqa_profiles,
)

LAYOUT = (
    'TextVQA_0.5.1_<split>.json with {"data": [{"question_id", "image_id", "question", "answers"}]} '
    "and images in train_images/<image_id>.jpg"
)


@dataclass(frozen=True)
class TextVqaOptions(VqaOptions):
    split: Literal["val", "train"] = "val"
    image_folder: str = option("train_images", role="location")


@register_task("textvqa")
class TextVqaTask(VqaTask):
    description = "TextVQA: scene-text VQA, official soft accuracy (+ TextHarmony's containment accuracy)"
    Options = TextVqaOptions
    default_folder = "textvqa"
    profiles = vqa_profiles(monkey_max_new_tokens=10)
    metrics = (
        MetricSpec("accuracy", "official TextVQA accuracy (EvalAI normalisation, min(1, matches/3), leave-one-out)"),
        CONTAINMENT,
    )

    @property
    def annotation_path(self) -> Path:
        return self.data_dir / f"TextVQA_0.5.1_{self.options.split}.json"

    def official_files(self) -> list[Path]:
        return [self.annotation_path]

    def _official_samples(self) -> list[VqaSample]:
        path = self.annotation_path
        entries = data_list(read_json(path, LAYOUT), path, LAYOUT)
        images = require_folder(self.data_dir / self.options.image_folder, LAYOUT)
        return rrc_samples(entries, path, LAYOUT, "question_id", "image_id", images, image_name="{}.jpg")

    def hf_layout(self) -> HfLayout:
        return HfLayout("lmms-lab/textvqa", "data", HF_SPLITS[self.options.split], ("question_id", "question", "answers"))

    def score_answer(self, parsed: str, answers: tuple[str, ...]) -> dict[str, float]:
        return {"accuracy": textvqa_accuracy(parsed, list(answers))}
