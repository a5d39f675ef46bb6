"""ST-VQA (Biten et al., 2019): scene-text VQA, Task 3 (open vocabulary), scored by ANLS.

Official release (rrc.cvc.uab.es/?ch=11)::

    <data_dir>/train_task_3.json   {"dataset_name": "ST-VQA", "data": [{"question_id", "question",
                                    "file_path": "coco-text/<name>.jpg", "answers": [...], ...}]}
    <data_dir>/train_images/<file_path>

Only the train split has public answers (the test answers are held by the RRC server, and
there is no official val split), so the default reads ``train_task_3.json``; point
``annotation_file`` / ``image_folder`` at another file with answers (e.g. a held-out part of
train) to evaluate on it.

Metric: ANLS (``bench.metrics.anls``; ST-VQA's ANLS, threshold 0.5, is the definition that the
RRC DocVQA/InfographicVQA script implements) of the extracted answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.metrics import anls
from bench.options import option
from bench.task import MetricSpec, register_task
from tasks.rrc_vqa import RrcVqaTask
from tasks.vqa_base import CONTAINMENT, VqaOptions

LAYOUT = (
    'train_task_3.json with {"data": [{"question_id", "question", "file_path", "answers"}]} '
    "and images in train_images/<file_path>"
)


@dataclass(frozen=True)
class StVqaOptions(VqaOptions):
    annotation_file: str = option("train_task_3.json", role="location")
    image_folder: str = option("train_images", role="location")


@register_task("stvqa")
class StVqaTask(RrcVqaTask):
    description = "ST-VQA Task 3: scene-text VQA, official ANLS (+ TextHarmony's containment accuracy)"
    Options = StVqaOptions
    default_folder = "stvqa"
    metrics = (
        MetricSpec("anls", "official ANLS (ST-VQA Task 3, threshold 0.5)"),
        CONTAINMENT,
    )
    answer_metric = anls
    title = "ST-VQA"
    layout = LAYOUT
    id_field = "question_id"
    image_field = "file_path"
