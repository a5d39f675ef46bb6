"""OCR-VQA (Mishra et al., 2019): questions about book covers, scored by exact match.

Official release (ocr-vqa.github.io; ``loadDataset.py`` downloads the covers)::

    <data_dir>/dataset.json   {"<image id>": {"imageURL", "questions": [...], "answers": [...],
                                              "title", "authorName", "genre", "split": 1|2|3}, ...}
    <data_dir>/images/<image id><extension of imageURL>

``split`` is 1 for train, 2 for val, 3 for test; each (question, answer) pair of an image is one
sample, with id ``<image id>_<question index>``.

Metric: exact-match accuracy (``bench.metrics.exact_match``) as in Qwen-VL's ``eval_mm/evaluate_vqa.py``
(``evaluate_exact_match_accuracy``, used there for OCR-VQA): the stripped, lower-cased
extracted answer must equal the stripped, lower-cased reference.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.datasets import read_json, require, require_folder
from bench.metrics import exact_match
from bench.options import option
from bench.task import DatasetError, MetricSpec, register_task
from tasks.vqa_base import CONTAINMENT, VqaOptions, VqaSample, VqaTask

logger = logging.getLogger(__name__)

LAYOUT = (
    'dataset.json with {"<image id>": {"imageURL", "questions": [...], "answers": [...], "split": 1|2|3}} '
    "and images in images/<image id><extension of imageURL>"
)
_SPLIT_CODES = {"train": 1, "val": 2, "test": 3}


@dataclass(frozen=True)
class OcrVqaOptions(VqaOptions):
    split: Literal["test", "val", "train"] = "test"
    image_folder: str = option("images", role="location")
    #: Leave out samples whose cover is missing (some image links of the release are dead);
    #: off by default, so that a missing image counts as a failed sample.
    skip_missing_images: bool = False


@register_task("ocrvqa")
class OcrVqaTask(VqaTask):
    description = "OCR-VQA: book-cover VQA, exact-match accuracy (+ TextHarmony's containment accuracy)"
    Options = OcrVqaOptions
    default_folder = "ocrvqa"
    metrics = (
        MetricSpec("accuracy", "exact match after strip and lower-case (Qwen-VL's OCR-VQA evaluation)"),
        CONTAINMENT,
    )

    @property
    def annotation_path(self) -> Path:
        return self.data_dir / "dataset.json"

    def official_files(self) -> list[Path]:
        return [self.annotation_path]

    def _official_samples(self) -> list[VqaSample]:
        path = self.annotation_path
        content = read_json(path, LAYOUT)
        if not isinstance(content, dict):
            raise DatasetError(f"{path} is not an object keyed by image id; expected {LAYOUT}")
        images = require_folder(self.data_dir / self.options.image_folder, LAYOUT)
        wanted = _SPLIT_CODES[self.options.split]
        samples = []
        skipped = 0
        for key, entry in content.items():
            if require(entry, "split", path, key, LAYOUT) != wanted:
                continue
            questions = require(entry, "questions", path, key, LAYOUT)
            answers = require(entry, "answers", path, key, LAYOUT)
            if not isinstance(questions, list) or not isinstance(answers, list) or len(questions) != len(answers):
                raise DatasetError(f"{path}: entry {key} needs lists 'questions' and 'answers' of equal length; expected {LAYOUT}")
            url = str(require(entry, "imageURL", path, key, LAYOUT))
            image = images / f"{key}{os.path.splitext(url)[1]}"
            if self.options.skip_missing_images and not image.is_file():
                skipped += len(questions)
                continue
            for index, (question, answer) in enumerate(zip(questions, answers)):
                samples.append(VqaSample(f"{key}_{index}", image, str(question), (str(answer),)))
        if skipped:
            logger.warning("OCR-VQA %s: left out %d questions whose image is missing", self.options.split, skipped)
        return samples

    def score_answer(self, parsed: str, answers: tuple[str, ...]) -> dict[str, float]:
        return {"accuracy": exact_match(parsed, answers)}
