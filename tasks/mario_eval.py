"""MARIO-Eval (TextDiffuser): text-to-image prompts whose quoted words must appear, legibly.

Layout read::

    <data_dir>/<Subset>/<Subset>.txt     one prompt per line; keywords in 'single quotes'
    <data_dir>/<Subset>/images/<n>.jpg   ground-truth images (LAIONEval4000, TMDBEval500,
                                         OpenLibraryEval500), used for FID
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from bench.metrics import mario_f_measure, mario_keywords, mario_ocr_scores
from bench.task import DatasetError, MetricSpec, Task, register_task
from bench.types import GenerateImageRequest, RequestKind, Response, ScoredSample

SUBSETS = ("LAIONEval4000", "TMDBEval500", "OpenLibraryEval500", "ChineseDrawText", "DrawBenchText", "DrawTextCreative")


@dataclass(frozen=True)
class MarioSample:
    id: str
    subset: str
    prompt: str
    keywords: tuple[str, ...]
    #: The quoted strings as written in the prompt (case kept), for glyph-layout models.
    texts: tuple[str, ...]


@dataclass(frozen=True)
class MarioOptions:
    data_dir: Path | None = None
    #: Comma-separated subset names; all six when not given.
    subsets: str | None = None
    num_images: int = 4
    size: int = 512


@register_task("mario-eval")
class MarioEvalTask(Task):
    kind = RequestKind.GENERATE_IMAGE
    description = "MARIO-Eval: OCR precision/recall/F and accuracy of the quoted keywords"
    Options = MarioOptions
    default_folder: ClassVar[str] = "MARIOEval"
    default_subsets: ClassVar[tuple[str, ...]] = SUBSETS
    metrics = (
        MetricSpec("accuracy", "OCR words equal the keywords (sorted, joined), mean over images"),
        MetricSpec("precision", "matched OCR words / OCR words, mean over images"),
        MetricSpec("recall", "matched keywords / keywords, mean over images"),
    )
    derived = (MetricSpec("f_measure", "F from the mean precision and mean recall (official)"),)

    @property
    def data_dir(self) -> Path:
        return self.options.data_dir or self.context.data_root / self.default_folder

    @property
    def subset_names(self) -> list[str]:
        if self.options.subsets is None:
            return list(self.default_subsets)
        return [name.strip() for name in self.options.subsets.split(",") if name.strip()]

    def _prompt_file(self, subset: str) -> Path:
        return self.data_dir / subset / f"{subset}.txt"

    def load_samples(self) -> list[MarioSample]:
        samples = []
        for subset in self.subset_names:
            path = self._prompt_file(subset)
            if not path.is_file():
                raise DatasetError(f"missing prompt file {path}; expected <data_dir>/{subset}/{subset}.txt, one prompt per line")
            for index, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                prompt = line.strip()
                if not prompt:
                    continue
                texts = tuple(_quoted(prompt))
                samples.append(MarioSample(f"{subset}/{index}", subset, prompt, tuple(mario_keywords(prompt)), texts))
        return samples

    def dataset_files(self) -> tuple[Path, list[Path], list[Path]]:
        prompts = [self._prompt_file(subset) for subset in self.subset_names]
        images = [p for subset in self.subset_names for p in sorted((self.data_dir / subset / "images").glob("*")) if p.is_file()]
        return self.data_dir, prompts, images

    def build_request(self, sample: MarioSample, key: str) -> GenerateImageRequest:
        return GenerateImageRequest(
            key=key,
            prompt=sample.prompt,
            texts=sample.texts,
            num_images=self.options.num_images,
            width=self.options.size,
            height=self.options.size,
        )

    def score(self, sample: MarioSample, response: Response) -> ScoredSample:
        ocr = self.context.ocr()
        readings = []
        per_image = []
        for image in response.images:
            words = [word for line in ocr.read_page(image) for word in line.text.split()]
            readings.append(words)
            per_image.append(mario_ocr_scores(words, list(sample.keywords)))
        scores = {name: float(np.mean([s[name] for s in per_image])) if per_image else 0.0 for name in ("accuracy", "precision", "recall")}
        return ScoredSample(parsed=readings, scores=scores, details={"per_image": per_image})

    def derive(self, means: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        precision, recall = means["precision"], means["recall"]
        return {"f_measure": np.array([mario_f_measure(p, r) for p, r in zip(precision, recall)])}

    def scoring_identity(self) -> dict[str, Any]:
        return {"task": self.name, "ocr": self.context.ocr().describe()}


def _quoted(prompt: str) -> Sequence[str]:
    import re

    return [text for text in re.findall(r"'(.*?)'", prompt) if text.strip()]
