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
from typing import Literal

from bench.metrics import textvqa_accuracy
from bench.options import option
from bench.task import MetricSpec, register_task
from tasks.rrc_vqa import RrcVqaTask
from tasks.vqa_base import CONTAINMENT, VqaOptions, vqa_profiles

LAYOUT = (
    'TextVQA_0.5.1_<split>.json with {"data": [{"question_id", "image_id", "question", "answers"}]} '
    "and images in train_images/<image_id>.jpg"
)


@dataclass(frozen=True)
class TextVqaOptions(VqaOptions):
    split: Literal["val", "train"] = "val"
    image_folder: str = option("train_images", role="location")


@register_task("textvqa")
class TextVqaTask(RrcVqaTask):
    description = "TextVQA: scene-text VQA, official soft accuracy (+ TextHarmony's containment accuracy)"
    Options = TextVqaOptions
    default_folder = "textvqa"
    profiles = vqa_profiles(monkey_max_new_tokens=10)
    metrics = (
        MetricSpec("accuracy", "official TextVQA accuracy (EvalAI normalisation, min(1, matches/3), leave-one-out)"),
        CONTAINMENT,
    )
    answer_metric = textvqa_accuracy
    title = "TextVQA"
    layout = LAYOUT
    annotation_names = ("TextVQA_0.5.1_{split}.json",)
    id_field = "question_id"
    image_field = "image_id"
    image_name = "{}.jpg"
    hf_copy = ("lmms-lab/textvqa", "data")
