"""DocVQA (Mathew et al., 2021): questions about scanned documents, scored by ANLS.

Official release (rrc.cvc.uab.es/?ch=17, Task 1; ``val.tar.gz`` unpacks to ``val/``)::

    <data_dir>/val_v1.0.json (or val_v1.0_withQT.json, or val/val_v1.0*.json)
        {"data": [{"questionId", "question", "image": "documents/<name>.png", "answers": [...], ...}]}
    <data_dir>/documents/<name>.png   (image paths are relative to the json's folder, or to
                                       <data_dir>/val/ when the json sits beside that folder)

Hugging Face copy (``source=hf``): ``lmms-lab/DocVQA``, configuration ``DocVQA``,
``DocVQA/validation-*.parquet`` with columns questionId, question, answers, image.

Metric: ANLS (``bench.metrics.anls``, the RRC script, threshold 0.5) of the extracted answer.
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
    image_root,
    read_json,
    require,
    rrc_samples,
)

LAYOUT = '<split>_v1.0.json with {"data": [{"questionId", "question", "image": "documents/<file>", "answers"}]}'


@dataclass(frozen=True)
class DocVqaOptions(VqaOptions):
    split: Literal["val", "train"] = "val"
    #: Annotation file relative to ``data_dir`` (default: the release's names, searched).
    annotation_file: str | None = option(None, role="location")


@register_task("docvqa")
class DocVqaTask(VqaTask):
    description = "DocVQA: document VQA, official ANLS (+ TextHarmony's containment accuracy)"
    Options = DocVqaOptions
    default_folder = "docvqa"
    hf_id_column = "questionId"
    metrics = (
        MetricSpec("anls", "official ANLS (RRC DocVQA evaluation, threshold 0.5)"),
        CONTAINMENT,
    )

    @property
    def annotation_path(self) -> Path:
        if self.options.annotation_file:
            return self.data_dir / self.options.annotation_file
        split = self.options.split
        names = (f"{split}_v1.0.json", f"{split}_v1.0_withQT.json")
        candidates = [self.data_dir / n for n in names] + [self.data_dir / split / n for n in names]
        return first_existing(candidates, f"DocVQA {split} annotations", LAYOUT)

    def official_files(self) -> list[Path]:
        return [self.annotation_path]

    def _official_samples(self) -> list[VqaSample]:
        path = self.annotation_path
        entries = data_list(read_json(path, LAYOUT), path, LAYOUT)
        if not entries:
            return []
        first = str(require(entries[0], "image", path, 0, LAYOUT))
        root = image_root([path.parent, self.data_dir, self.data_dir / self.options.split], first, LAYOUT)
        return rrc_samples(entries, path, LAYOUT, "questionId", "image", root)

    def hf_layout(self) -> HfLayout:
        return HfLayout("lmms-lab/DocVQA", "DocVQA", HF_SPLITS[self.options.split], ("questionId", "question", "answers"))

    def score_answer(self, parsed: str, answers: tuple[str, ...]) -> dict[str, float]:
        return {"anls": anls(parsed, list(answers))}
