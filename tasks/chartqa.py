"""ChartQA (Masry et al., 2022): questions about charts, scored by relaxed accuracy.

Official release (github.com/vis-nlp/ChartQA; the zip unpacks to ``ChartQA Dataset/``)::

    <data_dir>/[ChartQA Dataset/]test/test_human.json       [{"imgname", "query", "label"}, ...]
    <data_dir>/[ChartQA Dataset/]test/test_augmented.json
    <data_dir>/[ChartQA Dataset/]test/png/<imgname>

Sample ids are ``<human|augmented>-<position in its file>`` (the files have no ids). The usual
headline number is over both subsets (1,250 questions each), i.e. their average.

Hugging Face copy (``source=hf``, test split only): ``lmms-lab/ChartQA``,
``data/test-*.parquet`` with columns type ("human_test" / "augmented_test"), question, answer,
image; ids are counted per type in row order.

Metric: relaxed accuracy (``bench.metrics.relaxed_accuracy``, pix2struct's
``relaxed_correctness``: 5% tolerance for numbers, exact match otherwise) of the extracted answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bench.datasets import first_existing, read_json, require
from bench.hf_parquet import HfLayout, hf_field
from bench.metrics import relaxed_accuracy
from bench.task import DatasetError, MetricSpec, register_task
from tasks.vqa_base import CONTAINMENT, VqaOptions, VqaSample, VqaTask

LAYOUT = '<split>/<split>_<human|augmented>.json with [{"imgname", "query", "label"}] and images in <split>/png/<imgname>'
_SUBSETS = {"both": ("human", "augmented"), "human": ("human",), "augmented": ("augmented",)}


@dataclass(frozen=True)
class ChartQaOptions(VqaOptions):
    split: Literal["test", "val", "train"] = "test"
    subset: Literal["both", "human", "augmented"] = "both"


@register_task("chartqa")
class ChartQaTask(VqaTask):
    description = "ChartQA: chart VQA, relaxed accuracy (+ TextHarmony's containment accuracy)"
    Options = ChartQaOptions
    default_folder = "chartqa"
    metrics = (
        MetricSpec("relaxed_accuracy", "official relaxed accuracy (5% numeric tolerance, pix2struct)"),
        CONTAINMENT,
    )

    @property
    def split_dir(self) -> Path:
        split = self.options.split
        return first_existing(
            [self.data_dir / split, self.data_dir / "ChartQA Dataset" / split], f"ChartQA {split} folder", LAYOUT
        )

    def official_files(self) -> list[Path]:
        split = self.options.split
        return [self.split_dir / f"{split}_{subset}.json" for subset in _SUBSETS[self.options.subset]]

    def _official_samples(self) -> list[VqaSample]:
        images = self.split_dir / "png"
        samples = []
        for subset, path in zip(_SUBSETS[self.options.subset], self.official_files()):
            entries = read_json(path, LAYOUT)
            if not isinstance(entries, list):
                raise DatasetError(f"{path} is not a list; expected {LAYOUT}")
            for index, entry in enumerate(entries):
                samples.append(
                    VqaSample(
                        id=f"{subset}-{index}",
                        image=images / str(require(entry, "imgname", path, index, LAYOUT)),
                        question=str(require(entry, "query", path, index, LAYOUT)),
                        answers=(str(require(entry, "label", path, index, LAYOUT)),),
                    )
                )
        return samples

    def hf_layout(self) -> HfLayout:
        if self.options.split != "test":
            raise DatasetError("lmms-lab/ChartQA has only the test split; use source=official for the others")
        return HfLayout("lmms-lab/ChartQA", "data", "test", ("type", "question", "answer"))

    def hf_entries(self, rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], tuple[str, str, tuple[str, ...]]]]:
        layout = self.hf_layout()
        wanted = _SUBSETS[self.options.subset]
        counts: dict[str, int] = {}
        entries = []
        for row in rows:
            subset = str(hf_field(row, "type", layout)).removesuffix("_test")
            position = counts.get(subset, 0)
            counts[subset] = position + 1
            if subset in wanted:
                question, answer = str(hf_field(row, "question", layout)), str(hf_field(row, "answer", layout))
                entries.append((row, (f"{subset}-{position}", question, (answer,))))
        return entries

    def score_answer(self, parsed: str, answers: tuple[str, ...]) -> dict[str, float]:
        return {"relaxed_accuracy": max(relaxed_accuracy(parsed, answer) for answer in answers)}
