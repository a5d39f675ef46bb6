"""AnyText-benchmark (AnyText, Tuo et al., 2024): multi-line text generation and editing.

Layout read::

    <data_dir>/<subset>/test1k.json   {"data_list": [{"img_name", "caption", "annotations":
                                        [{"polygon": [[x, y], ...], "text", "valid", "language"}]}]}
    <data_dir>/<subset>/imgs/<img_name>   source images (needed for editing and FID)

Line scores follow the official evaluation: every ground-truth polygon is cut from the output
image, recognised, and compared with its text; sentence accuracy and NED are averaged over
lines, so items with many lines weigh more, as in the published numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping

import numpy as np

from bench.metrics import anytext_line_scores
from bench.ocr.crop import normalize_line_crop, rectify_polygon
from bench.task import DatasetError, MetricSpec, Task, register_task
from bench.types import EditImageRequest, GenerateImageRequest, Polygon, Request, RequestKind, Response, ScoredSample
from tasks.vqa_base import read_json

LAYOUT = '{"data_list": [{"img_name", "caption", "annotations": [{"polygon", "text", "valid", "language"}]}]}'
#: Lines longer than this are left out by the benchmark's protocol.
MAX_LINE_CHARS = 20
MAX_LINES = 5


@dataclass(frozen=True)
class AnyTextSample:
    id: str
    image: Path
    caption: str
    polygons: tuple[Polygon, ...]
    texts: tuple[str, ...]
    language: str


@dataclass(frozen=True)
class AnyTextOptions:
    data_dir: Path | None = None
    #: ``laion_word`` (English) or ``wukong_word`` (Chinese).
    subset: str | None = None
    num_images: int = 4


class AnyTextTask(Task):
    Options = AnyTextOptions
    default_folder: ClassVar[str] = "AnyText-benchmark"
    default_subset: ClassVar[str] = "laion_word"
    metrics = (
        MetricSpec("correct_lines", "lines read exactly right, per item", percent=False, shown=False),
        MetricSpec("ned_sum", "sum of line NEDs, per item", percent=False, shown=False),
        MetricSpec("lines", "scored lines, per item", percent=False, shown=False),
    )
    derived = (
        MetricSpec("sentence_accuracy", "Sen.ACC: lines recognised exactly (case-sensitive), over all lines"),
        MetricSpec("ned", "1 - normalised edit distance, over all lines"),
    )
    primary_metric = "sentence_accuracy"

    @property
    def data_dir(self) -> Path:
        return self.options.data_dir or self.context.data_root / self.default_folder

    @property
    def subset(self) -> str:
        return self.options.subset or self.default_subset

    @property
    def annotation_path(self) -> Path:
        return self.data_dir / self.subset / "test1k.json"

    def load_samples(self) -> list[AnyTextSample]:
        path = self.annotation_path
        content = read_json(path, LAYOUT)
        entries = content.get("data_list") if isinstance(content, dict) else None
        if not isinstance(entries, list):
            raise DatasetError(f"{path} has no 'data_list'; expected {LAYOUT}")
        samples = []
        for index, entry in enumerate(entries):
            if "img_name" not in entry or "annotations" not in entry:
                raise DatasetError(f"{path}: entry {index} lacks 'img_name' or 'annotations'; expected {LAYOUT}")
            lines = [
                a for a in entry["annotations"]
                if a.get("valid", True) and a.get("polygon") and a.get("text") and len(a["text"]) <= MAX_LINE_CHARS
            ][:MAX_LINES]
            if not lines:
                continue
            samples.append(
                AnyTextSample(
                    id=str(entry["img_name"]),
                    image=self.data_dir / self.subset / "imgs" / entry["img_name"],
                    caption=str(entry.get("caption", "")),
                    polygons=tuple(tuple((float(x), float(y)) for x, y in a["polygon"]) for a in lines),
                    texts=tuple(str(a["text"]) for a in lines),
                    language=str(lines[0].get("language", "Latin")),
                )
            )
        return samples

    def dataset_files(self) -> tuple[Path, list[Path], list[Path]]:
        images = sorted({s.image for s in self.load_samples() if s.image.exists()})
        return self.data_dir, [self.annotation_path], images

    def score(self, sample: AnyTextSample, response: Response) -> ScoredSample:
        crops = [normalize_line_crop(rectify_polygon(image, polygon)) for image in response.images for polygon in sample.polygons]
        readings = [r.text for r in self.context.ocr().read_crops(crops)]
        targets = list(sample.texts) * len(response.images)
        lang = "ch" if sample.language.lower().startswith("ch") else "en"
        line_scores = [anytext_line_scores(reading, text, lang) for reading, text in zip(readings, targets)]
        scores = {
            "correct_lines": sum(s["sentence_accuracy"] for s in line_scores),
            "ned_sum": sum(s["ned"] for s in line_scores),
            "lines": float(len(line_scores)),
        }
        return ScoredSample(parsed=readings, scores=scores)

    def miss_scores(self, sample: AnyTextSample | None = None) -> dict[str, float]:
        """A failed item still counts its lines, all wrong."""
        lines = len(sample.polygons) if sample is not None else 1
        return {"correct_lines": 0.0, "ned_sum": 0.0, "lines": float(self.options.num_images * lines)}

    def derive(self, means: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        lines = np.maximum(means["lines"], 1e-12)
        return {"sentence_accuracy": means["correct_lines"] / lines, "ned": means["ned_sum"] / lines}

    def scoring_identity(self) -> dict[str, Any]:
        return {"task": self.name, "ocr": self.context.ocr().describe()}


@register_task("anytext-generate")
class AnyTextGenerateTask(AnyTextTask):
    kind = RequestKind.GENERATE_IMAGE
    description = "AnyText-benchmark generation: Sen.ACC and NED of each text line"

    def build_request(self, sample: AnyTextSample, key: str) -> Request:
        return GenerateImageRequest(
            key=key, prompt=sample.caption, texts=sample.texts, positions=sample.polygons, num_images=self.options.num_images
        )


@register_task("anytext-edit")
class AnyTextEditTask(AnyTextTask):
    kind = RequestKind.EDIT_IMAGE
    description = "AnyText-benchmark editing: Sen.ACC and NED of each replaced line"

    def build_request(self, sample: AnyTextSample, key: str) -> Request:
        return EditImageRequest(
            key=key, prompt=sample.caption, image=sample.image, polygons=sample.polygons, texts=sample.texts,
            num_images=self.options.num_images,
        )
