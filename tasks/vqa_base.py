"""What every visual question answering benchmark shares: image + question in, short text out,
scored against the reference answers.

Each benchmark reads either its official release (``source=official``, the default: the
annotation file and image folder as the authors distribute them) or the lmms-eval parquet copy
of it (``source=hf``, see ``bench.hf_parquet``). Both give the same samples with the same ids,
so a run scores the same either way.

Every task reports its official metric on the *extracted* answer (the profile's
``AnswerExtraction`` applied to the raw output) and, beside it, ``containment_accuracy``: the
TextHarmony paper's "Accuracy", computed on the *raw* output exactly as TextHarmony's
``evaluate.py`` passes the decoded text to ``evaluate_exact_match_accuracy``.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping

from bench.annotation_checks import check_inside
from bench.datasets import absolute_path, common_root, refuse_duplicate_ids
from bench.hf_parquet import (
    HfLayout,
    default_image_cache,
    extract_images,
    hf_answers,
    hf_field,
    parquet_files,
    read_rows,
    resolve_root,
    safe_stem,
)
from bench.metrics import anls, containment_accuracy
from bench.options import option
from bench.prompts import SENTENCE_ANSWER, STRIP_ONLY, AnswerExtraction, PromptProfile
from bench.task import DatasetError, MetricSpec, Task, load_once
from bench.types import IMAGE_PLACEHOLDER, AnswerRequest, RequestKind, Response, ScoredSample


@dataclass(frozen=True)
class VqaSample:
    id: str
    image: Path
    question: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class VqaOptions:
    """Options every VQA task has; tasks add their split and file choices."""

    #: Folder of the official release (default: ``<data root>/<task folder>``).
    data_dir: Path | None = option(None, role="location")
    source: Literal["official", "hf"] = option("official", role="location")
    #: For ``source=hf``: a folder with the parquet files, or a dataset id in the offline
    #: Hugging Face cache (default: the lmms-eval dataset of the task).
    hf_path: str | None = option(None, role="location")
    #: For ``source=hf``: where the images are unpacked (default: ``$THBENCH_CACHE/hf-images``).
    image_cache: Path | None = option(None, role="location")
    #: Accept annotation image paths that lead outside ``data_dir`` (absolute, or with ``..``).
    allow_outside_root: bool = option(False, role="location")


#: Split names of the official releases → those of the lmms-eval parquet copies.
HF_SPLITS = {"val": "validation", "train": "train"}

CONTAINMENT = MetricSpec(
    "containment_accuracy",
    "TextHarmony paper's 'Accuracy' (not the official metric): 1 if any reference answer occurs "
    "in the lower-cased raw output with '.' removed",
)

TEXTHARMONY_SOURCE = (
    "github.com/bytedance/TextHarmony evaluate.py: model_gen template, spaces next to the image "
    "tokens removed, the decoded text scored as it is (stripped by the metrics); "
    "configs/release/896-moe-eval.yaml: max_length 30 new tokens, 5 beams"
)


def vqa_profiles(monkey_max_new_tokens: int = 100) -> dict[str, PromptProfile]:
    """The VQA prompt profiles; Monkey's evaluation allows 10 new tokens for VQAv2-style sets
    (TextVQA) and 100 for the document sets, hence the parameter."""
    return {
        "default": PromptProfile(
            name="default",
            template=f"{IMAGE_PLACEHOLDER}{{question}}",
            extraction=SENTENCE_ANSWER,
            source="thbench: the bare question after the image",
        ),
        "chat": PromptProfile(
            name="chat",
            template=f"{IMAGE_PLACEHOLDER}\n{{question}}\nAnswer the question using a single word or phrase.",
            extraction=SENTENCE_ANSWER,
            source="LLaVA-1.5 short-answer instruction; the adapter wraps it in the model's chat template",
        ),
        "textharmony": PromptProfile(
            name="textharmony",
            template=f"Based on the image, please answer the question. {IMAGE_PLACEHOLDER}{{question}} The answer is:",
            extraction=STRIP_ONLY,
            max_new_tokens=30,
            trim_image_spaces=True,
            source=TEXTHARMONY_SOURCE,
        ),
        "monkey": PromptProfile(
            name="monkey",
            template=f"{IMAGE_PLACEHOLDER}{{question}} Answer:",
            extraction=STRIP_ONLY,
            max_new_tokens=monkey_max_new_tokens,
            source=(
                "github.com/Yuliang-Liu/Monkey eval/evaluate_vqa.py: '<img>{}</img>{} Answer:' "
                "(the adapter writes <img>path</img> for <image>), greedy, decoded text stripped"
            ),
        ),
        "textmonkey": PromptProfile(
            name="textmonkey",
            template=f"{IMAGE_PLACEHOLDER} {{question}} Answer:",
            extraction=AnswerExtraction(drop_patterns=(r"<point>.*?</point>", r"<box>.*?</box>")),
            max_new_tokens=100,
            source=(
                "github.com/Yuliang-Liu/Monkey eval/evaluate_vqa_doc.py: '<img>{}</img> {} Answer:', "
                "greedy, <point>/<box> blocks removed and the text stripped before scoring"
            ),
        ),
        "docowl": PromptProfile(
            name="docowl",
            template=f"{IMAGE_PLACEHOLDER}{{question}}",
            extraction=STRIP_ONLY,
            max_new_tokens=512,
            source=(
                "github.com/X-PLUG/mPLUG-DocOwl DocOwl1.5/docowl_benchmark_evaluate.py: the test file's user turn "
                "with <|image|> removed, passed to DocOwlInfer.inference, which puts the image first, applies the "
                "mplug_owl2 template and decodes greedily (max_new_tokens 512); the answer stripped"
            ),
        ),
        "tgdoc": PromptProfile(
            name="tgdoc",
            template=f"{IMAGE_PLACEHOLDER}\n{{question}} Support your reasoning with the coordinates [xmin, ymin, xmax, ymax]",
            extraction=STRIP_ONLY,
            source=(
                "github.com/harrytea/TGDoc README: the question followed by the request for supporting "
                "coordinates; scored on the raw text (containment accuracy, as MultimodalOCR); the adapter "
                "wraps it in the converted folder's chat template (thbench convert llava --preset tgdoc)"
            ),
        ),
    }


class VqaTask(Task):
    kind = RequestKind.ANSWER
    Options = VqaOptions
    profiles: ClassVar[dict[str, PromptProfile]] = vqa_profiles()
    #: The parquet column holding the sample id (``hf_sample``): the official release and its
    #: parquet copy hold the same samples under the same ids.
    hf_id_column: ClassVar[str] = "question_id"

    # -- data ----------------------------------------------------------------------------------
    @load_once
    def load_samples(self) -> list[VqaSample]:
        samples = self._official_samples() if self.options.source == "official" else self._hf_samples()
        source = self._source_description()
        refuse_duplicate_ids((sample.id, source) for sample in samples)
        if self.options.source == "official" and not self.options.allow_outside_root:
            for sample in samples:
                check_inside(sample.image, self.data_dir, f"{source}: sample {sample.id!r}")
        return samples

    @abstractmethod
    def _official_samples(self) -> list[VqaSample]:
        """Samples from the official release under ``data_dir``."""

    @abstractmethod
    def official_files(self) -> list[Path]:
        """The annotation files ``_official_samples`` reads."""

    def hf_layout(self) -> HfLayout:
        raise DatasetError(f"task {self.name!r} has no Hugging Face layout; use source=official")

    def hf_sample(self, row: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
        """(id, question, answers) of one parquet row: the columns ``hf_id_column``,
        ``question`` and ``answers`` of the lmms-eval copies; tasks whose rows differ override
        this or ``hf_entries``."""
        layout = self.hf_layout()
        question_id = str(hf_field(row, self.hf_id_column, layout))
        return question_id, str(hf_field(row, "question", layout)), hf_answers(row, "answers", layout)

    def hf_entries(self, rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], tuple[str, str, tuple[str, ...]]]]:
        """The rows that become samples, each with its (id, question, answers)."""
        return [(row, self.hf_sample(row)) for row in rows]

    def _hf_samples(self) -> list[VqaSample]:
        layout = self.hf_layout()
        files = self._hf_files(layout)
        entries = self.hf_entries(read_rows(files, layout))
        names = {(row["_file"], row["_row"]): safe_stem(sample_id) for row, (sample_id, _, _) in entries}
        images = extract_images(files, layout, names, self.options.image_cache or default_image_cache())
        return [
            VqaSample(sample_id, images[(row["_file"], row["_row"])], question, answers)
            for row, (sample_id, question, answers) in entries
        ]

    def _hf_files(self, layout: HfLayout) -> list[Path]:
        return parquet_files(resolve_root(self.options.hf_path or layout.dataset_id), layout)

    def dataset_files(self) -> tuple[Path, list[Path], list[Path]]:
        if self.options.source == "hf":
            # The parquet files hold the images, so they count as media (name and size), not as
            # annotations hashed in full: a split weighs gigabytes.
            files = [absolute_path(p) for p in self._hf_files(self.hf_layout())]
            return common_root(files), [], files
        annotations = [absolute_path(p) for p in self.official_files()]
        images = sorted({absolute_path(s.image) for s in self.load_samples() if s.image.exists()})
        return common_root([absolute_path(self.data_dir), *annotations, *images]), annotations, images

    def _source_description(self) -> str:
        if self.options.source == "hf":
            return self.hf_layout().describe()
        return ", ".join(str(p) for p in self.official_files())

    # -- requests and scores --------------------------------------------------------------------
    def build_request(self, sample: VqaSample, key: str) -> AnswerRequest:
        profile = self.profile
        return AnswerRequest(
            key=key,
            prompt=profile.format(sample.question),
            images=(sample.image,),
            question=sample.question,
            max_new_tokens=profile.max_new_tokens,
        )

    def score(self, sample: VqaSample, response: Response) -> ScoredSample:
        raw = response.text or ""
        parsed = self.profile.extraction(raw)
        scores = self.score_answer(parsed, sample.answers)
        scores[CONTAINMENT.name] = containment_accuracy(raw, list(sample.answers))
        return ScoredSample(parsed=parsed, scores=scores)

    @abstractmethod
    def score_answer(self, parsed: str, answers: tuple[str, ...]) -> dict[str, float]:
        """The official metric of the extracted answer."""

    def ranking_score(self, sample: VqaSample, scores: Mapping[str, float], parsed: Any) -> float | None:
        """For ANLS tasks, the similarity before the 0.5 threshold: every answer below it scores 0,
        yet a near miss and a wrong answer are not alike."""
        if self.headline() != "anls" or not isinstance(parsed, str):
            return None
        return anls(parsed, list(sample.answers), threshold=0.0)

    # -- identity --------------------------------------------------------------------------------
    def scoring_identity(self) -> dict[str, Any]:
        return {**super().scoring_identity(), "metrics": [m.name for m in self.metrics]}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "source": self._source_description()}
