"""Text grounding: "Where is "WORD" in this image?", answered with a box (or polygon) in text.

Annotation format (one JSON object per line in ``<data_dir>/annotations.jsonl``)::

    {"id": "0001", "image": "images/0001.jpg", "text": "OPEN", "box": [x1, y1, x2, y2]}

* ``image``: path relative to ``data_dir`` (or absolute);
* ``box``: pixels of the image file, continuous coordinates, (x1, y1) the top-left corner;
* ``polygon`` (optional, may replace ``box``): ``[[x, y], ...]`` in pixels; the box of its
  bounds is the ground-truth box when ``box`` is absent, and the polygon itself is the ground
  truth under ``match=polygon``;
* ``image_size`` (optional): ``[width, height]``, saves opening the image to scale answers.

``tasks.grounding_convert`` writes this format from ICDAR2015, Total-Text and MARIO-10M OCR
annotations.

Scores: IoU of the parsed answer with the ground truth (boxes by default; ``match=polygon``
compares polygons, a box answer as its rectangle), Acc@IoU for thresholds 0.3-0.9 (headline
Acc@0.5, IoU >= threshold as in TextHarmony's ``grounding_eval``), and ``unparsable``: answers
holding no region in the profile's syntax, which score IoU 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping

from bench import annotation_checks
from bench.boxes import BoxFormat, Region, parse_region
from bench.datasets import absolute_path, common_root, refuse_duplicate_ids
from bench.jsonl import iter_json_lines
from bench.metrics import box_iou, polygon_iou
from bench.metrics.boxes import IOU_THRESHOLDS, box_to_polygon
from bench.options import option
from bench.prompts import STRIP_ONLY, PromptProfile
from bench.task import DatasetError, GalleryBox, MetricSpec, Task, load_once, register_task
from bench.types import IMAGE_PLACEHOLDER, AnswerRequest, Point, RequestKind, Response, ScoredSample, polygon_bounds
from tasks.vqa_base import TEXTHARMONY_SOURCE

LAYOUT = (
    'annotations.jsonl: one {"id", "image", "text", "box": [x1, y1, x2, y2]} per line '
    '("polygon": [[x, y], ...] may replace or accompany "box"; optional "image_size": [w, h])'
)
QUESTION = 'Where is "{text}" in this image?'


@dataclass(frozen=True)
class GroundingSample:
    id: str
    image: Path
    text: str
    box: tuple[float, float, float, float]
    image_size: tuple[int, int] | None = None
    polygon: tuple[Point, ...] | None = None


@dataclass(frozen=True)
class GroundingOptions:
    data_dir: Path | None = None
    annotation_file: str = "annotations.jsonl"
    #: ``box``: IoU of boxes (a polygon answer or ground truth counts as its bounds);
    #: ``polygon``: IoU of polygons (for curved text).
    match: Literal["box", "polygon"] = option("box", role="scoring")
    #: Accept image paths that lead outside ``data_dir`` (absolute, or with ``..``).
    allow_outside_root: bool = option(False, role="location")


def _profile(name: str, template: str, box_format: BoxFormat, source: str, **extra: Any) -> PromptProfile:
    settings = (
        ("coordinates", box_format.coordinates),
        ("grid", box_format.grid),
        ("frame", box_format.frame),
        ("syntax", box_format.syntax),
    )
    return PromptProfile(name=name, template=template, extraction=STRIP_ONLY, settings=settings, source=source, **extra)


GROUNDING_PROFILES: dict[str, PromptProfile] = {
    "default": _profile(
        "default",
        f"{IMAGE_PLACEHOLDER}{{question}} Answer with the bounding box [x1, y1, x2, y2] in pixels.",
        BoxFormat("pixel"),
        "thbench: box in pixels of the image",
        max_new_tokens=48,
    ),
    "chat": _profile(
        "chat",
        f"{IMAGE_PLACEHOLDER}\n{{question}}\nAnswer with the bounding box of the text as [x1, y1, x2, y2] in pixels of the image.",
        BoxFormat("pixel"),
        "thbench: box in pixels of the image; the adapter wraps it in the model's chat template",
        max_new_tokens=48,
    ),
    # TextHarmony learnt text grounding from MARIO-10M OCR (all_mixed_dataset.py, _get_ocr): the
    # question 'Where is "<word>" in this image?' in its VQA template (collator_sft.py,
    # _get_vqa) answered with str(points): the word's polygon from ocr.txt, each coordinate
    # int(v / 512 * 448), i.e. a list [[x, y], ...] in a 448x448 frame of the whole image
    # (images are resized to a square, utils.py transform_numpy). 128 new tokens: a
    # four-point answer takes ~45 LLaMA tokens, more than the 30 of the VQA evaluation config.
    "textharmony": _profile(
        "textharmony",
        f"Based on the image, please answer the question. {IMAGE_PLACEHOLDER}{{question}} The answer is:",
        BoxFormat("frame", frame=(448, 448), syntax="point_list"),
        "github.com/bytedance/TextHarmony custom_datasets/all_mixed_dataset.py (_get_ocr: question and "
        "448-frame point-list answers), collator_sft.py (_get_vqa template); " + TEXTHARMONY_SOURCE,
        max_new_tokens=128,
        trim_image_spaces=True,
    ),
    # The only grounding evaluator in the TextHarmony release, inherited from MM-Interleaved:
    # GroundingCollator's prompt (custom_datasets/collator.py, task "grounding") and
    # utils/grounding_score.py (parse_box: "(x1,y1)(x2,y2)", divided by 999, times width/height).
    "textharmony-refexp": _profile(
        "textharmony-refexp",
        f"{IMAGE_PLACEHOLDER}Provide the bounding box coordinate of the region this sentence describes. {{text}}<box>",
        BoxFormat("grid", grid=999.0, syntax="paired_points"),
        "github.com/bytedance/TextHarmony custom_datasets/collator.py (GroundingCollator, task grounding) "
        "and utils/grounding_score.py (parse_box, /999 x width/height)",
        max_new_tokens=30,
    ),
    # Monkey is Qwen-VL trained further; Qwen-VL's grounding evaluation (eval_mm/evaluate_grounding.py):
    # '<img>{}</img><ref>{}</ref><box>', 28 new tokens (the adapter keeps at least 10, as that script
    # does), the answer's first "(x1,y1),(x2,y2)" (its regex) divided by 999 and scaled to the image.
    "monkey": _profile(
        "monkey",
        f"{IMAGE_PLACEHOLDER}<ref>{{text}}</ref><box>",
        BoxFormat("grid", grid=999.0, syntax="qwen_points"),
        "github.com/QwenLM/Qwen-VL eval_mm/evaluate_grounding.py ('<img>{}</img><ref>{}</ref><box>', "
        "max_new_tokens 28, min_new_tokens 10, boxes /999 x width/height)",
        max_new_tokens=28,
    ),
    # Qwen-VL-style grounding, which TextMonkey exposes as "Position of Text: <ref>...</ref>"
    # (Monkey repository, demo_textmonkey.py): "<box>(x1,y1),(x2,y2)</box>" on a 0-1000 grid.
    "textmonkey": _profile(
        "textmonkey",
        f"{IMAGE_PLACEHOLDER} <ref>{{text}}</ref>",
        BoxFormat("grid", grid=1000.0),
        "github.com/Yuliang-Liu/Monkey demo_textmonkey.py ('<img>path</img> <ref>text</ref>', "
        "<box>(x1,y1),(x2,y2)</box> on a 0-1000 grid); the adapter must keep <box> tags when decoding",
        max_new_tokens=100,
    ),
}


def _metric_specs() -> tuple[MetricSpec, ...]:
    at = [MetricSpec(f"acc@{t}", f"fraction of answers with IoU >= {t}") for t in IOU_THRESHOLDS]
    headline = at[IOU_THRESHOLDS.index(0.5)]
    rest = [m for m in at if m is not headline]
    return (
        headline,
        MetricSpec("iou", "mean IoU (unparsable answers count 0)", percent=False),
        *rest,
        MetricSpec("unparsable", "answers with no region in the profile's syntax", higher_is_better=False, miss_value=1.0),
    )


@register_task("grounding")
class GroundingTask(Task):
    kind = RequestKind.ANSWER
    description = "Text grounding: box of a given word, Acc@IoU 0.5 (0.3-0.9 and mean IoU too)"
    Options = GroundingOptions
    default_folder = "grounding"
    profiles: ClassVar[dict[str, PromptProfile]] = GROUNDING_PROFILES
    metrics = _metric_specs()

    @property
    def box_format(self) -> BoxFormat:
        profile = self.profile
        return BoxFormat(
            profile.setting("coordinates", "pixel"),
            profile.setting("grid", 1000.0),
            profile.setting("frame"),
            profile.setting("syntax", "auto"),
        )

    @property
    def annotation_path(self) -> Path:
        return self.data_dir / self.options.annotation_file

    # -- data ----------------------------------------------------------------------------------
    @load_once
    def load_samples(self) -> list[GroundingSample]:
        path = self.annotation_path
        if not path.is_file():
            raise DatasetError(f"missing annotation file {path}; expected {LAYOUT}")
        numbered = [(number, self._sample(entry, path, number)) for number, entry in iter_json_lines(path, DatasetError, LAYOUT)]
        refuse_duplicate_ids(((sample.id, f"{path}:{number}") for number, sample in numbered), what="id")
        return [sample for _, sample in numbered]

    def _sample(self, entry: Any, path: Path, number: int) -> GroundingSample:
        where = f"{path}:{number}"
        if not isinstance(entry, dict):
            raise DatasetError(f"{where}: the line is not a JSON object; expected {LAYOUT}")
        for field in ("id", "image", "text"):
            if field not in entry:
                raise DatasetError(f"{where}: no field {field!r}; expected {LAYOUT}")
        image = annotation_checks.image_inside(self.data_dir, entry["image"], f"{where} field 'image'", self.options.allow_outside_root)
        polygon = annotation_checks.polygon(entry["polygon"], f"{where} field 'polygon'") if "polygon" in entry else None
        if "box" in entry:
            box = annotation_checks.box(entry["box"], f"{where} field 'box'")
        elif polygon is not None:
            box = polygon_bounds(polygon)
        else:
            raise DatasetError(f"{where}: neither 'box' nor 'polygon'; expected {LAYOUT}")
        size = _declared_size(entry, where)
        actual = size or _file_size(image)
        if actual is not None:
            box = annotation_checks.clip_box(box, actual, f"{where} field 'box'", self.data_warnings)
            if polygon is not None:
                polygon = annotation_checks.clip_polygon(polygon, actual, f"{where} field 'polygon'", self.data_warnings)
        return GroundingSample(str(entry["id"]), image, str(entry["text"]), box, size, polygon)

    def dataset_files(self) -> tuple[Path, list[Path], list[Path]]:
        annotation = absolute_path(self.annotation_path)
        images = sorted({absolute_path(s.image) for s in self.load_samples() if s.image.exists()})
        return common_root([absolute_path(self.data_dir), annotation, *images]), [annotation], images

    # -- requests and scores --------------------------------------------------------------------
    def build_request(self, sample: GroundingSample, key: str) -> AnswerRequest:
        question = QUESTION.format(text=sample.text)
        return AnswerRequest(
            key=key,
            prompt=self.profile.format(question, text=sample.text),
            images=(sample.image,),
            question=question,
            max_new_tokens=self.profile.max_new_tokens,
        )

    def score(self, sample: GroundingSample, response: Response) -> ScoredSample:
        text = self.profile.extraction(response.text or "")
        region = parse_region(text, self.box_format, self._image_size(sample))
        if region is None:
            return ScoredSample(parsed=None, scores=self.miss_scores(sample))
        iou = self._iou(region, sample)
        scores = {f"acc@{t}": float(iou >= t) for t in IOU_THRESHOLDS}
        scores.update(iou=iou, unparsable=0.0)
        parsed: dict[str, Any] = {"box": list(region.box)}
        if region.polygon is not None:
            parsed["polygon"] = [list(p) for p in region.polygon]
        return ScoredSample(parsed=parsed, scores=scores)

    def _iou(self, region: Region, sample: GroundingSample) -> float:
        if self.options.match == "polygon":
            predicted = region.polygon or box_to_polygon(region.box)
            truth = sample.polygon or box_to_polygon(sample.box)
            return polygon_iou(predicted, truth)
        return box_iou(region.box, sample.box)

    def ranking_score(self, sample: GroundingSample, scores: Mapping[str, float], parsed: Any) -> float | None:
        """IoU: a near miss and a box on the other side of the image both fail Acc@0.5."""
        return scores.get("iou")

    def gallery_boxes(self, sample: GroundingSample, parsed: Any) -> list[GalleryBox]:
        boxes = [GalleryBox(sample.box, "reference")]
        answer = parsed.get("box") if isinstance(parsed, dict) else None
        if isinstance(answer, list) and len(answer) == 4:
            boxes.append(GalleryBox((float(answer[0]), float(answer[1]), float(answer[2]), float(answer[3])), "answer"))
        return boxes

    def _image_size(self, sample: GroundingSample) -> tuple[int, int]:
        if sample.image_size is not None:
            return sample.image_size
        from PIL import Image

        with Image.open(sample.image) as image:
            return image.size

    # -- identity --------------------------------------------------------------------------------
    def scoring_identity(self) -> dict[str, Any]:
        return {**super().scoring_identity(), "thresholds": IOU_THRESHOLDS}


def _declared_size(entry: dict[str, Any], where: str) -> tuple[int, int] | None:
    if "image_size" not in entry:
        return None
    value = entry["image_size"]
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise DatasetError(f"{where}: 'image_size' must be [width, height] in whole pixels, got {value!r}; expected {LAYOUT}")
    return value[0], value[1]


def _file_size(image: Path) -> tuple[int, int] | None:
    """The image's size from its header; None when it cannot be read (that sample then fails
    at its input stage, where an unreadable image belongs)."""
    from PIL import Image

    try:
        with Image.open(image) as opened:
            return opened.size
    except (OSError, ValueError):
        return None
