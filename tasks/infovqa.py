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
from typing import Literal

from bench.metrics import anls
from bench.options import option
from bench.task import MetricSpec, register_task
from tasks.rrc_vqa import RrcVqaTask
from tasks.vqa_base import CONTAINMENT, VqaOptions

LAYOUT = (
    'infographicsVQA_<split>_v1.0[_withQT].json with {"data": [{"questionId", "question", "image_local_name", '
    '"answers"}]} and images in infographicsvqa_images/<image_local_name>'
)


@dataclass(frozen=True)
class InfoVqaOptions(VqaOptions):
    split: Literal["val", "train"] = "val"
    #: Annotation file relative to ``data_dir`` (default: the release's names, searched).
    annotation_file: str | None = option(None, role="location")
    #: Image folder relative to ``data_dir`` (default: infographicsvqa_images, else images).
    image_folder: str | None = option(None, role="location")


@register_task("infovqa")
class InfoVqaTask(RrcVqaTask):
    description = "InfographicVQA: infographics VQA, official ANLS (+ TextHarmony's containment accuracy)"
    Options = InfoVqaOptions
    default_folder = "infovqa"
    metrics = (
        MetricSpec("anls", "official ANLS (RRC InfographicVQA evaluation, threshold 0.5)"),
        CONTAINMENT,
    )
    answer_metric = anls
    title = "InfographicVQA"
    layout = LAYOUT
    annotation_names = {
        "val": ("infographicsVQA_val_v1.0_withQT.json", "infographicsVQA_val_v1.0.json"),
        "train": ("infographicsVQA_train_v1.0.json", "infographicVQA_train_v1.0.json"),
    }
    image_folders = ("infographicsvqa_images", "images")
    id_field = "questionId"
    image_field = "image_local_name"
    hf_copy = ("lmms-lab/DocVQA", "InfographicVQA")
