"""What every visual question answering benchmark shares: image + question in, short text out,
scored against a list of human answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.prompts import AnswerExtraction, PromptProfile, choose_profile
from bench.task import DatasetError, Task
from bench.types import IMAGE_PLACEHOLDER, AnswerRequest, RequestKind, Response, ScoredSample


@dataclass(frozen=True)
class VqaSample:
    id: str
    image: Path
    question: str
    answers: tuple[str, ...]


#: Prompt profiles shared by the VQA tasks. ``textharmony`` is the template of the released
#: TextHarmony evaluation; ``chat`` suits instruction-tuned chat models (the adapter applies
#: the model's chat template around it); ``default`` is the bare question after the image.
VQA_PROFILES: dict[str, PromptProfile] = {
    "default": PromptProfile(
        name="default",
        template=f"{IMAGE_PLACEHOLDER}{{question}}",
        extraction=AnswerExtraction(strip_prefixes=("The answer is", "Answer")),
    ),
    "chat": PromptProfile(
        name="chat",
        template=f"{IMAGE_PLACEHOLDER}\n{{question}}\nAnswer the question using a single word or phrase.",
        extraction=AnswerExtraction(strip_prefixes=("The answer is", "Answer")),
    ),
    "textharmony": PromptProfile(
        name="textharmony",
        template=f"Based on the image, please answer the question. {IMAGE_PLACEHOLDER}{{question}} The answer is:",
        extraction=AnswerExtraction(strip_prefixes=("The answer is",)),
        max_new_tokens=30,
    ),
}


class VqaTask(Task):
    kind = RequestKind.ANSWER
    profiles: ClassVar[dict[str, PromptProfile]] = VQA_PROFILES
    #: Folder under the data root used when the ``data_dir`` option is not given.
    default_folder: ClassVar[str]

    @property
    def data_dir(self) -> Path:
        return self.options.data_dir or self.context.data_root / self.default_folder

    @property
    def annotation_path(self) -> Path:
        raise NotImplementedError

    def dataset_files(self) -> tuple[Path, list[Path], list[Path]]:
        images = sorted({sample.image for sample in self.load_samples() if sample.image.exists()})
        return self.data_dir, [self.annotation_path], images

    @property
    def profile(self) -> PromptProfile:
        return choose_profile(self.profiles, self.context.prompt_profile, self.context.adapter_prompt_profile, self.name)

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
        return ScoredSample(parsed=parsed, scores=self.score_answer(raw, parsed, sample.answers))

    def score_answer(self, raw: str, parsed: str, answers: tuple[str, ...]) -> dict[str, float]:
        raise NotImplementedError

    def scoring_identity(self) -> dict[str, Any]:
        return {"task": self.name, "metrics": [m.name for m in self.metrics], "profile": self.profile.describe()}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "prompt_profile": self.profile.describe()}


def read_json(path: Path, layout: str) -> Any:
    """Parse an annotation file, naming the file and the expected layout when that fails."""
    if not path.is_file():
        raise DatasetError(f"missing annotation file {path}; expected {layout}")
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path} is not valid JSON ({error}); expected {layout}") from None


def require(record: dict[str, Any], field: str, path: Path, index: int, layout: str) -> Any:
    if not isinstance(record, dict) or field not in record:
        raise DatasetError(f"{path}: entry {index} has no field {field!r}; expected {layout}")
    return record[field]
