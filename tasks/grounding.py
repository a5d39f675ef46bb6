"""Text grounding: "Where is "WORD" in this image?", answered with a box in text.

Annotation format (one JSON object per line in ``<data_dir>/annotations.jsonl``)::

    {"id": "0001", "image": "images/0001.jpg", "text": "OPEN", "box": [x1, y1, x2, y2]}

``box`` is in pixels of the image file, continuous coordinates, (x1, y1) the top-left corner.
A ``polygon`` field ([[x, y], ...]) may replace or accompany ``box``; the box of its bounds is
then the ground truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.boxes import BoxFormat, parse_box
from bench.metrics import box_iou
from bench.prompts import AnswerExtraction, PromptProfile, choose_profile
from bench.task import DatasetError, MetricSpec, Task, register_task
from bench.types import IMAGE_PLACEHOLDER, AnswerRequest, RequestKind, Response, ScoredSample, polygon_bounds

LAYOUT = 'annotations.jsonl: one {"id", "image", "text", "box": [x1, y1, x2, y2]} (or "polygon") per line'
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class GroundingSample:
    id: str
    image: Path
    text: str
    box: tuple[float, float, float, float]
    image_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class GroundingOptions:
    data_dir: Path | None = None


_QUESTION = 'Where is "{text}" in this image?'

GROUNDING_PROFILES: dict[str, PromptProfile] = {
    "default": PromptProfile(
        name="default",
        template=f"{IMAGE_PLACEHOLDER}{{question}} Answer with the bounding box [x1, y1, x2, y2] in pixels.",
        extraction=AnswerExtraction(first_line_only=False, strip_trailing_period=False),
        max_new_tokens=48,
        settings=(("box_format", "pixel"),),
    ),
    "textharmony": PromptProfile(
        name="textharmony",
        template=f"{IMAGE_PLACEHOLDER}{{question}}",
        extraction=AnswerExtraction(first_line_only=False, strip_trailing_period=False),
        max_new_tokens=48,
        settings=(("box_format", "frame"), ("frame", (448, 448))),
    ),
}


def _metric_specs() -> tuple[MetricSpec, ...]:
    at = [MetricSpec(f"acc@{t}", f"fraction of boxes with IoU ≥ {t}") for t in THRESHOLDS]
    headline = at[THRESHOLDS.index(0.5)]
    rest = [m for m in at if m is not headline]
    return (
        headline,
        MetricSpec("iou", "mean IoU", percent=False),
        *rest,
        MetricSpec("unparsable", "answers with no box in them", higher_is_better=False, miss_value=1.0),
    )


@register_task("grounding")
class GroundingTask(Task):
    kind = RequestKind.ANSWER
    description = "Text grounding: box of a given word, Acc@IoU 0.5 (0.3-0.9 and mean IoU too)"
    Options = GroundingOptions
    default_folder: ClassVar[str] = "grounding"
    profiles: ClassVar[dict[str, PromptProfile]] = GROUNDING_PROFILES
    metrics = _metric_specs()

    @property
    def data_dir(self) -> Path:
        return self.options.data_dir or self.context.data_root / self.default_folder

    @property
    def profile(self) -> PromptProfile:
        return choose_profile(self.profiles, self.context.prompt_profile, self.context.adapter_prompt_profile, self.name)

    @property
    def annotation_path(self) -> Path:
        return self.data_dir / "annotations.jsonl"

    def load_samples(self) -> list[GroundingSample]:
        path = self.annotation_path
        if not path.is_file():
            raise DatasetError(f"missing annotation file {path}; expected {LAYOUT}")
        samples = []
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DatasetError(f"{path}:{number} is not JSON ({error}); expected {LAYOUT}") from None
                samples.append(self._sample(entry, path, number))
        return samples

    def _sample(self, entry: dict[str, Any], path: Path, number: int) -> GroundingSample:
        for field in ("id", "image", "text"):
            if field not in entry:
                raise DatasetError(f"{path}:{number} has no field {field!r}; expected {LAYOUT}")
        if "box" in entry:
            box = tuple(float(v) for v in entry["box"])
            if len(box) != 4:
                raise DatasetError(f"{path}:{number}: 'box' must hold 4 numbers; expected {LAYOUT}")
        elif "polygon" in entry:
            box = polygon_bounds([tuple(point) for point in entry["polygon"]])
        else:
            raise DatasetError(f"{path}:{number} has neither 'box' nor 'polygon'; expected {LAYOUT}")
        size = tuple(entry["image_size"]) if "image_size" in entry else None
        return GroundingSample(str(entry["id"]), self.data_dir / entry["image"], str(entry["text"]), box, size)

    def dataset_files(self) -> tuple[Path, list[Path], list[Path]]:
        images = sorted({s.image for s in self.load_samples() if s.image.exists()})
        return self.data_dir, [self.annotation_path], images

    def build_request(self, sample: GroundingSample, key: str) -> AnswerRequest:
        question = _QUESTION.format(text=sample.text)
        return AnswerRequest(
            key=key,
            prompt=self.profile.format(question),
            images=(sample.image,),
            question=question,
            max_new_tokens=self.profile.max_new_tokens,
        )

    def score(self, sample: GroundingSample, response: Response) -> ScoredSample:
        text = self.profile.extraction(response.text or "")
        box = parse_box(text, self._box_format(), self._image_size(sample))
        if box is None:
            return ScoredSample(parsed=None, scores=self.miss_scores(sample))
        iou = box_iou(box, sample.box)
        scores = {f"acc@{t}": float(iou >= t) for t in THRESHOLDS}
        scores.update(iou=iou, unparsable=0.0)
        return ScoredSample(parsed=list(box), scores=scores)

    def _box_format(self) -> BoxFormat:
        return BoxFormat(self.profile.setting("box_format", "pixel"), self.profile.setting("frame"))

    def _image_size(self, sample: GroundingSample) -> tuple[int, int]:
        if sample.image_size is not None:
            return sample.image_size
        from PIL import Image

        with Image.open(sample.image) as image:
            return image.size

    def scoring_identity(self) -> dict[str, Any]:
        return {"task": self.name, "profile": self.profile.describe(), "thresholds": THRESHOLDS}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "prompt_profile": self.profile.describe()}
