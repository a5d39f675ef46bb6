"""InfographicVQA (Mathew et al., 2022): questions about infographics, scored by ANLS.

Official release (rrc.cvc.uab.es/?ch=17, Task 3)::

    <data_dir>/infographicsVQA_val_v1.0_withQT.json
        {"data": [{"questionId", "question", "image_local_name": "<name>.jpeg", "answers": [...],
                   "answer_type", "evidence", "operation/reasoning", ...}]}
    <data_dir>/infographicsvqa_images/<image_local_name>   (the images tarball; images/ is
                                                            accepted too)

The train annotations are named ``infographicsVQA_train_v1.0.json`` or, in some copies,
``infographicVQA_train_v1.0.json``; both are looked for.

Hugging Face copy (``source=hf``): ``lmms-lab/DocVQA``, configuration ``InfographicVQA``,
``InfographicVQA/validation-*.parquet`` with columns questionId, question, answers, image.

Metric: ANLS (``bench.metrics.anls``, the RRC InfographicVQA script) of the extracted answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.options import option
from bench.metrics import anls
from bench.task import MetricSpec, register_task
from tasks.hf_parquet import HfLayout
from tasks.vqa_base import (
    CONTAINMENT,
    HF_SPLITS,
    VqaOptions,
    VqaSample,
    VqaTask,
    data_list,
    first_existing,
    read_json,
    rrc_samples,
)

LAYOUT = (
    'infographicsVQA_<split>_v1.0[_withQT].json with {"data": [{"questionId", "question", "image_local_name", '
    '"answers"}]} and images in infographicsvqa_images/<image_local_name>'
)
_ANNOTATION_NAMES = {
    "val": ("infographicsVQA_val_v1.0_withQT.json", "infographicsVQA_val_v1.0.json"),
    "train": ("infographicsVQA_train_v1.0.json", "infographicVQA_train_v1.0.json"),
}


@dataclass(frozen=True)
class InfoVqaOptions(VqaOptions):
    split: Literal["val", "train"] = "val"
    #: Annotation file relative to ``data_dir`` (default: the release's names, searched).
    annotation_file: str | None = option(None, role="location")
    #: Image folder relative to ``data_dir`` (default: infographicsvqa_images, else images).
    image_folder: str | None = option(None, role="location")


@register_task("infovqa")
class InfoVqaTask(VqaTask):
    description = "InfographicVQA: infographics VQA, official ANLS (+ TextHarmony's containment accuracy)"
    Options = InfoVqaOptions
    default_folder = "infovqa"
    hf_id_column = "questionId"
    metrics = (
        MetricSpec("anls", "official ANLS (RRC InfographicVQA evaluation, threshold 0.5)"),
        CONTAINMENT,
    )

    @property
    def annotation_path(self) -> Path:
        if self.options.annotation_file:
            return self.data_dir / self.options.annotation_file
        names = _ANNOTATION_NAMES[self.options.split]
        return first_existing([self.data_dir / n for n in names], f"InfographicVQA {self.options.split} annotations", LAYOUT)

    def official_files(self) -> list[Path]:
        return [self.annotation_path]

    def _official_samples(self) -> list[VqaSample]:
        path = self.annotation_path
        entries = data_list(read_json(path, LAYOUT), path, LAYOUT)
        folders = [self.options.image_folder] if self.options.image_folder else ["infographicsvqa_images", "images"]
        images = first_existing([self.data_dir / f for f in folders], "InfographicVQA image folder", LAYOUT)
        return rrc_samples(entries, path, LAYOUT, "questionId", "image_local_name", images)

    def hf_layout(self) -> HfLayout:
        return HfLayout(
            "lmms-lab/DocVQA", "InfographicVQA", HF_SPLITS[self.options.split], ("questionId", "question", "answers")
        )

    def score_answer(self, parsed: str, answers: tuple[str, ...]) -> dict[str, float]:
        return {"anls": anls(parsed, list(answers))}
