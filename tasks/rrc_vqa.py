"""The VQA sets released in the Robust Reading Competition's json shape (DocVQA, InfographicVQA,
ST-VQA, TextVQA): one annotation file ``{"data": [entry, ...]}`` whose entries carry an id, the
question, a list of answers and an image field, beside a folder of images.

Such a set is a subclass of :class:`RrcVqaTask` that states facts (file names, field names,
where the images are, the metric) and no loading code; ``tasks/docvqa.py`` is one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Mapping, Sequence

from bench.datasets import first_existing, image_root, read_json, require, require_answers, require_folder
from bench.hf_parquet import HfLayout
from bench.task import DatasetError
from tasks.vqa_base import HF_SPLITS, VqaSample, VqaTask

#: In ``image_folders``: the folder of the annotation file.
ANNOTATION_FOLDER = "{annotations}"


class RrcVqaTask(VqaTask):
    """A VQA set in the RRC json shape, declared by the class attributes below.

    Options it reads when the subclass's ``Options`` has them: ``split`` (filled in for
    ``{split}``), ``annotation_file`` and ``image_folder`` (each, when set, replaces the
    searched names).
    """

    #: The set's name in messages ("DocVQA"); the task name when empty.
    title: ClassVar[str] = ""
    #: The expected files, quoted by every loading error.
    layout: ClassVar[str]
    #: Annotation file names relative to ``data_dir``, ``{split}`` filled in; several are
    #: searched in order. A mapping gives the names per split.
    annotation_names: ClassVar[tuple[str, ...] | Mapping[str, tuple[str, ...]]] = ()
    #: Image folders relative to ``data_dir`` (``{split}`` filled in; ``{annotations}``: the
    #: annotation file's folder), searched by ``image_folder_rule``.
    image_folders: ClassVar[tuple[str, ...]] = ()
    #: ``exists``: the first folder that exists; ``holds_first_image``: the first that holds the
    #: first entry's image (for releases whose mirrors move the json relative to the images).
    image_folder_rule: ClassVar[Literal["exists", "holds_first_image"]] = "exists"
    #: Entry fields. The id field also names the id column of the parquet copy.
    id_field: ClassVar[str]
    image_field: ClassVar[str]
    question_field: ClassVar[str] = "question"
    answers_field: ClassVar[str] = "answers"
    #: The image file name from the image field's value.
    image_name: ClassVar[str] = "{}"
    #: The official metric of the extracted answer, ``(answer, references) -> score``, stored
    #: under the name of ``metrics[0]``.
    answer_metric: ClassVar[Callable[[str, Sequence[str]], float]]
    #: The lmms-eval parquet copy (``source=hf``): dataset id and configuration folder.
    hf_copy: ClassVar[tuple[str, str] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "id_field" in cls.__dict__ and "hf_id_column" not in cls.__dict__:
            cls.hf_id_column = cls.id_field

    # -- files -----------------------------------------------------------------------------------
    @property
    def split(self) -> str:
        return str(getattr(self.options, "split", ""))

    @property
    def annotation_path(self) -> Path:
        chosen = getattr(self.options, "annotation_file", None)
        if chosen:
            return self.data_dir / chosen
        names = self.annotation_names
        templates = names[self.split] if isinstance(names, Mapping) else names
        candidates = [self.data_dir / name.format(split=self.split) for name in templates]
        if len(candidates) == 1:
            return candidates[0]  # reading it names it when it is missing
        return first_existing(candidates, f"{self.title or self.name} {self.split} annotations", self.layout)

    def official_files(self) -> list[Path]:
        return [self.annotation_path]

    def image_folder(self, annotation: Path, entries: Sequence[Any]) -> Path:
        chosen = getattr(self.options, "image_folder", None)
        names = (chosen,) if chosen else self.image_folders
        candidates = [
            annotation.parent if name == ANNOTATION_FOLDER else self.data_dir / name.format(split=self.split) for name in names
        ]
        if self.image_folder_rule == "holds_first_image":
            if not entries:
                return self.data_dir
            first = str(require(entries[0], self.image_field, annotation, 0, self.layout))
            return image_root(candidates, self.image_name.format(first), self.layout)
        if len(candidates) == 1:
            return require_folder(candidates[0], self.layout)
        return first_existing(candidates, f"{self.title or self.name} image folder", self.layout)

    # -- samples ---------------------------------------------------------------------------------
    def _official_samples(self) -> list[VqaSample]:
        path = self.annotation_path
        entries = data_list(read_json(path, self.layout), path, self.layout)
        images = self.image_folder(path, entries)
        return [self._sample(entry, path, index, images) for index, entry in enumerate(entries)]

    def _sample(self, entry: Any, path: Path, index: int, images: Path) -> VqaSample:
        layout = self.layout
        return VqaSample(
            id=str(require(entry, self.id_field, path, index, layout)),
            image=images / self.image_name.format(require(entry, self.image_field, path, index, layout)),
            question=str(require(entry, self.question_field, path, index, layout)),
            answers=require_answers(entry, self.answers_field, path, index, layout),
        )

    def hf_layout(self) -> HfLayout:
        if self.hf_copy is None:
            return super().hf_layout()
        dataset_id, config_folder = self.hf_copy
        return HfLayout(dataset_id, config_folder, HF_SPLITS[self.split], (self.hf_id_column, "question", "answers"))

    def score_answer(self, parsed: str, answers: tuple[str, ...]) -> dict[str, float]:
        return {self.metrics[0].name: type(self).answer_metric(parsed, list(answers))}


def data_list(content: Any, path: Path, layout: str) -> list[Any]:
    """The ``"data"`` list of an RRC-style annotation file."""
    entries = content.get("data") if isinstance(content, dict) else None
    if not isinstance(entries, list):
        raise DatasetError(f"{path} has no 'data' list; expected {layout}")
    return entries
