"""AnyText-benchmark (AnyText, Tuo et al., 2024): multi-line text generation and editing.

Layout read (the released ``AnyText-benchmark`` folder; ``benchmark/`` may also be the root)::

    <data_dir>/benchmark/<subset>/test1k.json   {"data_root", "data_list": [{"img_name", "caption",
                                                  "annotations": [{"polygon": [[x, y], ...], "text",
                                                  "pos", "valid", "language"}]}]}
    <data_dir>/benchmark/<subset>/imgs/<img_name>   source images (editing)
    <data_dir>/FID/laion-40k/, FID/wukong-40k/      FID reference images

Items are read as ``load_data``/``get_item`` of ``eval/anytext_singleGPU.py`` (tyxsspa/AnyText)
read them: a ``*`` in a caption becomes a space; annotations with an empty polygon or
``valid: false`` are dropped; the first 20 lines are kept and each text is cut to its first 20
characters; an item without lines is still generated (it counts for FID, not for line scores).

Scoring follows ``eval/eval_dgocr.py``: every line's polygon is cut from each generated image
(``bench.ocr.crop``), recognised, and compared with its text; Sen.ACC and NED are averaged over
all lines of all images (``laion_word`` uses the English dictionary, ``wukong_word`` the Chinese
one). FID compares all generated images with the subset's reference folder, as
``eval/eval_fid.sh`` runs pytorch-fid.

``protocol=textharmony`` is TextHarmony's own variant (``image_eval/eval_dgocr.py`` of
bytedance/TextHarmony): English only, one image per item, and both strings lowercased and reduced
to ASCII letters and digits before they are compared. TextHarmony reports only NED; the
sentence accuracy under that profile compares the reduced strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Sequence

import numpy as np

from bench import annotation_checks
from bench.datasets import read_json
from bench.metrics import anytext_line_scores
from bench.metrics.anytext import CharacterDictionary, builtin_dictionary, textharmony_normalize
from bench.metrics.image_sets import clip_description, clip_pair_scores, clip_prefix, mean, not_computed, open_fid_groups
from bench.ocr.crop import line_crops
from bench.options import option
from bench.task import DatasetError, MetricSpec, Task, register_task
from bench.types import EditImageRequest, GenerateImageRequest, Polygon, Request, RequestKind, Response, ScoredSample

LAYOUT = '{"data_list": [{"img_name", "caption", "annotations": [{"polygon", "text", "valid", "language"}]}]}'
ANNOTATION_FILE = "test1k.json"
#: A line's text is cut to this many characters, as the official ``get_item`` does.
MAX_CHARS = 20
#: Lines after this many are dropped, as the official ``get_item`` does.
MAX_LINES = 20
PLACEHOLDER = "*"
#: The phrase AnyText's generation script adds before the placeholders. It draws it at random,
#: but seeds Python's generator with 100 after every item, which always draws this one.
ANYTEXT_PHRASE = ", these texts are written on it: "
FID_REFERENCES = {"laion_word": "laion-40k", "wukong_word": "wukong-40k"}
PROTOCOL_IMAGES = {"anytext": 4, "textharmony": 1}
#: The prompt profile of models that take AnyText's own prompts (the ``anytext`` adapter's).
ANYTEXT_PROFILE = "anytext"


@dataclass(frozen=True)
class AnyTextSample:
    id: str
    image: Path
    #: The caption with ``*`` turned into spaces.
    caption: str
    polygons: tuple[Polygon, ...]
    texts: tuple[str, ...]


@dataclass(frozen=True)
class AnyTextOptions:
    data_dir: Path | None = None
    #: ``laion_word`` (English) or ``wukong_word`` (Chinese).
    subset: str | None = None
    #: ``anytext`` (the benchmark's own scoring) or ``textharmony`` (TextHarmony's variant).
    protocol: Literal["anytext", "textharmony"] = "anytext"
    #: Images per item; the protocol's (4 for anytext, 1 for textharmony) when not given.
    num_images: int | None = option(None, minimum=1)
    #: ``caption``: the caption alone (what the baselines in AnyText's evaluation were given);
    #: ``anytext``: caption, AnyText's phrase and one ``*`` per line, for placeholder models;
    #: ``auto``: ``anytext`` for a model whose prompt profile is ``anytext``, else ``caption``.
    prompt_style: Literal["auto", "caption", "anytext"] = "auto"
    #: Recogniser dictionary for NED; ``auto``: Chinese for ``wukong`` subsets, else English.
    lang: Literal["auto", "en", "ch"] = option("auto", role="scoring")
    #: A dictionary file to use instead of the built-in one (e.g. AnyText's ocr_weights/ file).
    dictionary: Path | None = option(None, role="scoring")
    #: FID reference folder; default ``<data_dir>/FID/<laion-40k|wukong-40k>``.
    fid_reference: Path | None = option(None, role="set_metric")
    fid_protocol: str = option("pytorch-fid", role="set_metric")
    #: Inception features for FID: 2048 (the published numbers), or 768, 192, 64.
    fid_dims: int = option(2048, role="set_metric")
    clip_weight: float = option(1.0, role="set_metric")
    clip_prefix: str = option("", role="set_metric")
    #: Accept ``img_name`` paths that lead outside the image folder (absolute, or with ``..``).
    allow_outside_root: bool = option(False, role="location")


class AnyTextTask(Task):
    Options = AnyTextOptions
    default_folder = "AnyText-benchmark"
    default_subset: ClassVar[str] = "laion_word"
    metrics = (
        MetricSpec("correct_lines", "lines read exactly right, per item", percent=False, shown=False),
        MetricSpec("ned_sum", "sum of line NEDs, per item", percent=False, shown=False),
        MetricSpec("lines", "scored lines, per item", percent=False, shown=False),
    )
    derived = (
        MetricSpec("sentence_accuracy", "Sen.ACC: lines recognised exactly (case-sensitive), over all lines"),
        MetricSpec("ned", "1 - edit distance over dictionary ids / max length, over all lines"),
    )
    primary_metric = "sentence_accuracy"

    def __init__(self, options: Any = None, context: Any = None) -> None:
        super().__init__(options, context)
        if self.options.protocol == "textharmony" and self.language == "ch":
            raise ValueError("protocol=textharmony is English only (laion_word); it keeps ASCII letters and digits")
        self._dictionary: CharacterDictionary | None = None

    # -- dataset ---------------------------------------------------------------------------
    @property
    def subset(self) -> str:
        return self.options.subset or self.default_subset

    @property
    def annotation_path(self) -> Path:
        released = self.data_dir / "benchmark" / self.subset / ANNOTATION_FILE
        return released if released.is_file() else self.data_dir / self.subset / ANNOTATION_FILE

    @property
    def num_images(self) -> int:
        return self.options.num_images or PROTOCOL_IMAGES[self.options.protocol]

    @property
    def prompt_style(self) -> str:
        """AnyText itself is evaluated with its own prompts, every other model with the caption."""
        if self.options.prompt_style != "auto":
            return self.options.prompt_style
        profile = self.context.prompt_profile or self.context.adapter_prompt_profile
        return "anytext" if profile == ANYTEXT_PROFILE else "caption"

    @property
    def language(self) -> str:
        if self.options.lang != "auto":
            return self.options.lang
        return "ch" if "wukong" in self.subset else "en"

    def load_samples(self) -> list[AnyTextSample]:
        path = self.annotation_path
        content = read_json(path, LAYOUT)
        entries = content.get("data_list") if isinstance(content, dict) else None
        if not isinstance(entries, list):
            raise DatasetError(f"{path} has no 'data_list'; expected {LAYOUT}")
        images = _image_folder(path, content)
        samples = [self._sample(entry, images, f"{path}: entry {index}") for index, entry in enumerate(entries)]
        if not self.options.allow_outside_root:
            for sample in samples:
                annotation_checks.check_inside(sample.image, images, f"{path}: entry {sample.id!r}")
        return samples

    def _sample(self, entry: Any, images: Path, where: str) -> AnyTextSample:
        """One item as the official ``get_item`` reads it, every kept line's polygon checked."""
        if not isinstance(entry, dict) or "img_name" not in entry or "caption" not in entry:
            raise DatasetError(f"{where} is not an object with 'img_name' and 'caption'; expected {LAYOUT}")
        lines = entry.get("annotations", [])
        if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
            raise DatasetError(f"{where} field 'annotations' must be a list of objects; expected {LAYOUT}")
        kept = [(i, a) for i, a in enumerate(lines) if len(a.get("polygon") or []) > 0 and a.get("valid") is not False]
        kept = kept[:MAX_LINES]
        if not isinstance(entry["img_name"], str) or not entry["img_name"]:
            raise DatasetError(f"{where} field 'img_name' must be a file name, got {entry['img_name']!r}")
        return AnyTextSample(
            id=entry["img_name"],
            image=images / entry["img_name"],
            caption=str(entry["caption"]).replace(PLACEHOLDER, " "),
            polygons=tuple(annotation_checks.polygon(a["polygon"], f"{where} annotation {i} field 'polygon'") for i, a in kept),
            texts=tuple(str(a.get("text", ""))[:MAX_CHARS] for _, a in kept),
        )

    def dataset_files(self) -> tuple[Path, list[Path], list[Path]]:
        images = sorted({s.image for s in self.load_samples() if s.image.is_file()})
        return self.data_dir, [self.annotation_path], images

    # -- scoring ---------------------------------------------------------------------------
    def dictionary(self) -> CharacterDictionary:
        if self._dictionary is None:
            path = self.options.dictionary
            self._dictionary = CharacterDictionary.from_file(path) if path else builtin_dictionary(self.language)
        return self._dictionary

    def line_scores(self, reading: str, text: str) -> dict[str, float]:
        if self.options.protocol == "textharmony":
            reading, text = textharmony_normalize(reading), textharmony_normalize(text)
        return anytext_line_scores(reading, text, self.language, self.dictionary())

    def score(self, sample: AnyTextSample, response: Response) -> ScoredSample:
        crops = [crop for image in response.images for crop in line_crops(image, sample.polygons)]
        readings = [r.text for r in self.context.ocr().read_crops(crops)] if crops else []
        targets = list(sample.texts) * len(response.images)
        line_scores = [self.line_scores(reading, text) for reading, text in zip(readings, targets)]
        scores = {
            "correct_lines": sum(s["sentence_accuracy"] for s in line_scores),
            "ned_sum": sum(s["ned"] for s in line_scores),
            "lines": float(len(line_scores)),
        }
        return ScoredSample(parsed=readings, scores=scores, details={"texts": targets})

    def miss_scores(self, sample: AnyTextSample | None = None) -> dict[str, float]:
        """A failed item still counts its lines, all wrong."""
        lines = len(sample.polygons) if sample is not None else 0
        return {"correct_lines": 0.0, "ned_sum": 0.0, "lines": float(self.num_images * lines)}

    def derive(self, means: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        lines = np.maximum(means["lines"], 1e-12)
        return {"sentence_accuracy": means["correct_lines"] / lines, "ned": means["ned_sum"] / lines}

    def identity(self) -> dict[str, Any]:
        """With the number of images and the prompt style resolved, so that leaving them to the
        protocol and the model or naming what those choose give the same keys."""
        identity = super().identity()
        identity["options"]["num_images"] = self.num_images
        identity["options"]["prompt_style"] = self.prompt_style
        return identity

    def scoring_identity(self) -> dict[str, Any]:
        return {
            **super().scoring_identity(),
            "protocol": self.options.protocol,
            "dictionary": self.dictionary().name,
            "ocr": self.context.ocr_description(),
        }

    def describe(self) -> dict[str, Any]:
        label = "TextHarmony's variant (lowercase, ASCII letters and digits)" if self.options.protocol == "textharmony" else "AnyText-benchmark"
        return {**super().describe(), "protocol": label, "num_images": self.num_images, "dictionary": self.dictionary().name}

    # -- set-level metrics -------------------------------------------------------------------
    @property
    def fid_reference(self) -> Path:
        if self.options.fid_reference is not None:
            return self.options.fid_reference
        return self.data_dir / "FID" / FID_REFERENCES.get(self.subset, self.subset)

    def set_metrics(self, samples: Sequence[AnyTextSample], image_paths: Sequence[Sequence[Path]]) -> dict[str, Any]:
        files = [path for paths in image_paths for path in paths]
        return {"fid": self._fid(files), "clipscore": self._clipscore(samples, image_paths)}

    def _fid(self, files: list[Path]) -> dict[str, Any]:
        reference = self.fid_reference
        if not reference.is_dir():
            return not_computed(f"FID not computed: no reference folder {reference} (set fid_reference=PATH)")
        if not files:
            return not_computed("FID not computed: no generated images")
        groups = open_fid_groups(self.context.fid_weights, self.options.fid_protocol, self.options.fid_dims,
                                 self.context.feature_device)
        if isinstance(groups, dict):
            return groups
        groups.add_folder("reference", reference)
        groups.add("generated", files)
        try:
            value = groups.fid(["reference"], ["generated"])
        except (RuntimeError, ValueError) as error:
            return not_computed(f"FID not computed: {error}", **groups.describe())
        return {"value": value, "reference": str(reference), "images": len(files), **groups.describe()}

    def _clipscore(self, samples: Sequence[AnyTextSample], image_paths: Sequence[Sequence[Path]]) -> dict[str, Any]:
        if self.context.clip_model is None:
            return not_computed("CLIPScore not computed: no CLIP model folder given (--clip-model PATH)")
        prefix = clip_prefix(self.options.clip_prefix)
        pairs = [(path, prefix + sample.caption) for sample, paths in zip(samples, image_paths) for path in paths]
        if not pairs:
            return not_computed("CLIPScore not computed: no generated images")
        scores = clip_pair_scores(self.context.clip_model, [p for p, _ in pairs], [t for _, t in pairs], self.options.clip_weight,
                                  self.context.feature_device)
        return {"value": mean(scores), "pairs": len(scores), **clip_description(self.context.clip_model, self.options.clip_weight, prefix)}


@register_task("anytext-generate")
class AnyTextGenerateTask(AnyTextTask):
    kind = RequestKind.GENERATE_IMAGE
    description = "AnyText-benchmark generation: Sen.ACC and NED of each text line; FID"

    def build_request(self, sample: AnyTextSample, key: str) -> Request:
        prompt = sample.caption
        if self.prompt_style == "anytext":
            prompt = anytext_prompt(sample.caption, len(sample.texts))
        return GenerateImageRequest(
            key=key, prompt=prompt, texts=sample.texts, positions=sample.polygons, num_images=self.num_images
        )


@register_task("anytext-edit")
class AnyTextEditTask(AnyTextTask):
    kind = RequestKind.EDIT_IMAGE
    description = "AnyText-benchmark editing: Sen.ACC and NED of each replaced line"

    def load_samples(self) -> list[AnyTextSample]:
        """Items without a line to write have nothing to edit."""
        return [sample for sample in super().load_samples() if sample.texts]

    def build_request(self, sample: AnyTextSample, key: str) -> Request:
        return EditImageRequest(
            key=key, prompt=sample.caption, image=sample.image, polygons=sample.polygons, texts=sample.texts,
            num_images=self.num_images,
        )


def anytext_prompt(caption: str, lines: int) -> str:
    """The caption as AnyText's generation script sends it (before its quality suffix): the
    phrase, then one placeholder per line, ``* , * .``-style."""
    if lines == 0:
        return caption
    return caption + ANYTEXT_PHRASE + "".join(f"{PLACEHOLDER} , " for _ in range(lines))[:-2] + "."


def _image_folder(annotation_path: Path, content: Mapping[str, Any]) -> Path:
    """``data_root`` of the file when it names an existing folder (the release asks users to set
    it), else ``imgs/`` beside the file."""
    root = content.get("data_root")
    if isinstance(root, str) and root:
        candidate = Path(root).expanduser()
        candidate = candidate if candidate.is_absolute() else annotation_path.parent / candidate
        if candidate.is_dir():
            return candidate
    return annotation_path.parent / "imgs"
