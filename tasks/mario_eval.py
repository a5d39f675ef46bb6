"""MARIO-Eval (TextDiffuser): text-to-image prompts whose quoted words must appear, legibly.

Layout read (the released ``MARIOEval`` folder)::

    <data_dir>/<Subset>/<Subset>.txt          one prompt per line; keywords in 'single quotes'
    <data_dir>/<Subset>/images/               ground-truth images (LAIONEval4000, TMDBEval500,
                                              OpenLibraryEval500 only), the FID reference
    <data_dir>/<Subset>/render/, <Subset>_wo_quote.txt   not used

Scoring follows ``textdiffuser/eval/`` of microsoft/unilm: every image is OCRed and scored on
its own (``ocr_eval.py``), precision, recall and accuracy are averaged over all images of all
subsets, and the F-measure comes from the two means. FID is computed per seed against each
subset's ground-truth images and averaged over seeds; the overall FID compares, per seed, all
ground-truth folders with all generated images (``MARIOEval_evaluate.py``). CLIPScore pairs each
image with ``"A photo depicts " + prompt`` at weight 1 (``clipscore.py``), averaged per seed and
then over seeds.

The official OCR is MaskTextSpotterV3, which spots words; a line-level engine's lines are split
at whitespace into words. Sample ids are ``<Subset>/<line index>`` as the official prompt index;
blank lines (none in the released files) are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from bench.metrics import mario_f_measure, mario_keywords, mario_ocr_scores
from bench.metrics.image_sets import clip_description, clip_pair_scores, clip_prefix, mean, not_computed, open_fid_groups
from bench.options import option
from bench.task import DatasetError, MetricSpec, Task, register_task
from bench.types import GenerateImageRequest, RequestKind, Response, ScoredSample

SUBSETS = ("LAIONEval4000", "TMDBEval500", "OpenLibraryEval500", "ChineseDrawText", "DrawBenchText", "DrawTextCreative")
#: Subsets released with ground-truth images (the others have none, so no FID).
SUBSETS_WITH_IMAGES = ("LAIONEval4000", "TMDBEval500", "OpenLibraryEval500")
GROUND_TRUTH_FOLDER = "images"
_QUOTED = re.compile(r"'(.*?)'")


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
    #: ``+``-joined subset names; all six when not given.
    subsets: str | None = option(None, role="location")
    #: Images per prompt, one per seed (``request.seed + i``).
    num_images: int = option(4, minimum=1)
    size: int = option(512, minimum=8)
    #: CLIPScore weight: 1 in MARIO-Eval, 2.5 in the CLIPScore paper.
    clip_weight: float = option(1.0, role="set_metric")
    #: Put before each prompt for CLIPScore, followed by a space (MARIO-Eval: "A photo depicts").
    clip_prefix: str = option("A photo depicts", role="set_metric")
    fid_protocol: str = option("pytorch-fid", role="set_metric")
    #: Inception features for FID: 2048 (the published numbers), or 768, 192, 64.
    fid_dims: int = option(2048, role="set_metric")


@register_task("mario-eval")
class MarioEvalTask(Task):
    kind = RequestKind.GENERATE_IMAGE
    description = "MARIO-Eval: OCR precision/recall/F and accuracy of the quoted keywords; FID, CLIPScore"
    Options = MarioOptions
    #: Sample ids carry their subset, so selecting subsets does not change any sample's key.
    default_folder = "MARIOEval"
    default_subsets: ClassVar[tuple[str, ...]] = SUBSETS
    metrics = (
        MetricSpec("accuracy", "sorted OCR words joined equal the sorted keywords joined, mean over images"),
        MetricSpec("precision", "matched OCR words / OCR words, mean over images"),
        MetricSpec("recall", "matched keywords / keywords, mean over images"),
    )
    derived = (MetricSpec("f_measure", "2PR/(P+R) from the mean precision and mean recall (official)"),)

    @property
    def subset_names(self) -> list[str]:
        if self.options.subsets is None:
            return list(self.default_subsets)
        return [name.strip() for name in self.options.subsets.split("+") if name.strip()]

    def _prompt_file(self, subset: str) -> Path:
        return self.data_dir / subset / f"{subset}.txt"

    def _ground_truth(self, subset: str) -> Path:
        return self.data_dir / subset / GROUND_TRUTH_FOLDER

    def load_samples(self) -> list[MarioSample]:
        samples = []
        for subset in self.subset_names:
            path = self._prompt_file(subset)
            if not path.is_file():
                present = [name for name in SUBSETS if self._prompt_file(name).is_file()]
                hint = (f"; this folder has {', '.join(present)}: pass --task-args {self.name}:subsets={'+'.join(present)} "
                        "to run those alone") if present else ""
                raise DatasetError(
                    f"missing prompt file {path}; expected the MARIOEval layout <data_dir>/{subset}/{subset}.txt, "
                    f"one prompt per line (subsets: {', '.join(SUBSETS)}){hint}"
                )
            for index, line in enumerate(_read_lines(path)):
                prompt = line.strip()
                if not prompt:
                    continue
                texts = tuple(text for text in _QUOTED.findall(prompt) if text.strip())
                samples.append(MarioSample(f"{subset}/{index}", subset, prompt, tuple(mario_keywords(prompt)), texts))
        return samples

    def dataset_files(self) -> tuple[Path, list[Path], list[Path]]:
        prompts = [self._prompt_file(subset) for subset in self.subset_names]
        images = [p for subset in self.subset_names for p in sorted(self._ground_truth(subset).glob("*")) if p.is_file()]
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
        names = ("accuracy", "precision", "recall")
        scores = {name: float(np.mean([s[name] for s in per_image])) if per_image else 0.0 for name in names}
        return ScoredSample(parsed=readings, scores=scores, details={"per_image": per_image, "keywords": list(sample.keywords)})

    def derive(self, means: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        precision, recall = means["precision"], means["recall"]
        return {"f_measure": np.array([mario_f_measure(p, r) for p, r in zip(precision, recall)])}

    def scoring_identity(self) -> dict[str, Any]:
        return {**super().scoring_identity(), "ocr": self.context.ocr_description()}

    # -- set-level metrics -------------------------------------------------------------------
    def set_metrics(self, samples: Sequence[MarioSample], image_paths: Sequence[Sequence[Path]]) -> dict[str, Any]:
        return {"fid": self._fid(samples, image_paths), "clipscore": self._clipscore(samples, image_paths)}

    def _seeds(self, image_paths: Sequence[Sequence[Path]]) -> range:
        return range(max((len(paths) for paths in image_paths), default=0))

    def _fid(self, samples: Sequence[MarioSample], image_paths: Sequence[Sequence[Path]]) -> dict[str, Any]:
        subsets = [s for s in dict.fromkeys(sample.subset for sample in samples) if self._ground_truth(s).is_dir()]
        if not subsets:
            return not_computed(f"no ground-truth {GROUND_TRUTH_FOLDER}/ folder in the subsets scored (FID needs them)")
        seeds = self._seeds(image_paths)
        if not seeds:
            return not_computed("FID not computed: no generated images")
        groups = open_fid_groups(self.context.fid_weights, self.options.fid_protocol, self.options.fid_dims,
                                 self.context.feature_device)
        if isinstance(groups, dict):
            return groups
        for subset in subsets:
            groups.add_folder(f"gt/{subset}", self._ground_truth(subset))
            for seed in seeds:
                files = [paths[seed] for sample, paths in zip(samples, image_paths) if sample.subset == subset and len(paths) > seed]
                groups.add(f"gen/{subset}/{seed}", files)
        try:
            per_subset = {
                subset: _seed_entry([groups.fid([f"gt/{subset}"], [f"gen/{subset}/{seed}"]) for seed in seeds])
                for subset in subsets
            }
            overall = _seed_entry(
                [groups.fid([f"gt/{s}" for s in subsets], [f"gen/{s}/{seed}" for s in subsets]) for seed in seeds]
            )
        except (RuntimeError, ValueError) as error:
            return not_computed(f"FID not computed: {error}", **groups.describe())
        return {**overall, "per_subset": per_subset, **groups.describe(), "reference": {s: str(self._ground_truth(s)) for s in subsets}}

    def _clipscore(self, samples: Sequence[MarioSample], image_paths: Sequence[Sequence[Path]]) -> dict[str, Any]:
        if self.context.clip_model is None:
            return not_computed("CLIPScore not computed: no CLIP model folder given (--clip-model PATH)")
        prefix = clip_prefix(self.options.clip_prefix)
        pairs = [(sample.subset, seed, path, prefix + sample.prompt)
                 for sample, paths in zip(samples, image_paths) for seed, path in enumerate(paths)]
        if not pairs:
            return not_computed("CLIPScore not computed: no generated images")
        scores = clip_pair_scores(self.context.clip_model, [p[2] for p in pairs], [p[3] for p in pairs], self.options.clip_weight,
                                  self.context.feature_device)
        seeds = sorted({seed for _, seed, _, _ in pairs})

        def per_seed(subset: str | None) -> list[float]:
            values = []
            for seed in seeds:
                chosen = [score for (s, k, _, _), score in zip(pairs, scores) if k == seed and subset in (None, s)]
                if chosen:
                    values.append(mean(chosen))
            return values

        per_subset = {subset: _seed_entry(per_seed(subset)) for subset in dict.fromkeys(s.subset for s in samples)}
        description = clip_description(self.context.clip_model, self.options.clip_weight, prefix)
        return {**_seed_entry(per_seed(None)), "per_subset": per_subset, **description}


def _seed_entry(values: list[float]) -> dict[str, Any]:
    return {"value": mean(values), "per_seed": values}


def _read_lines(path: Path) -> list[str]:
    """Lines as ``readlines`` gives them (universal newlines, no other separators)."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines
