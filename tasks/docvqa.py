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
from typing import Literal

from bench.metrics import anls
from bench.options import option
from bench.task import MetricSpec, register_task
from tasks.rrc_vqa import ANNOTATION_FOLDER, RrcVqaTask
from tasks.vqa_base import CONTAINMENT, VqaOptions

LAYOUT = '<split>_v1.0.json with {"data": [{"questionId", "question", "image": "documents/<file>", "answers"}]}'


@dataclass(frozen=True)
class DocVqaOptions(VqaOptions):
    split: Literal["val", "train"] = "val"
    #: Annotation file relative to ``data_dir`` (default: the release's names, searched).
    annotation_file: str | None = option(None, role="location")


@register_task("docvqa")
class DocVqaTask(RrcVqaTask):
    description = "DocVQA: document VQA, official ANLS (+ TextHarmony's containment accuracy)"
    Options = DocVqaOptions
    default_folder = "docvqa"
    metrics = (
        MetricSpec("anls", "official ANLS (RRC DocVQA evaluation, threshold 0.5)"),
        CONTAINMENT,
    )
    answer_metric = anls
    title = "DocVQA"
    layout = LAYOUT
    annotation_names = (
        "{split}_v1.0.json", "{split}_v1.0_withQT.json", "{split}/{split}_v1.0.json", "{split}/{split}_v1.0_withQT.json"
    )
    image_folders = (ANNOTATION_FOLDER, ".", "{split}")
    image_folder_rule = "holds_first_image"
    id_field = "questionId"
    image_field = "image"
    hf_copy = ("lmms-lab/DocVQA", "DocVQA")
