"""What the ``Task`` base gives every task: where its data lies, its prompt profile, and samples
read once per task object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.context import TaskContext
from bench.prompts import PromptProfile
from bench.task import MetricSpec, Task, load_once
from bench.types import AnswerRequest, RequestKind, Response, ScoredSample


@dataclass(frozen=True)
class _Options:
    data_dir: Path | None = None


@dataclass(frozen=True)
class _Sample:
    id: str


class _Counting(Task):
    """Reads ``reads`` samples named after how often it has read its dataset."""

    name = "counting"
    kind = RequestKind.ANSWER
    Options = _Options
    default_folder = "counting"
    metrics = (MetricSpec("exact", "exact"),)
    profiles = {"default": PromptProfile("default", "<image>{question}"), "terse": PromptProfile("terse", "{question}<image>")}

    def __init__(self, options=None, context=None) -> None:
        super().__init__(options, context)
        self.reads = 0

    @load_once
    def load_samples(self) -> list[_Sample]:
        self.reads += 1
        return [_Sample(f"read{self.reads}")]

    def dataset_files(self):
        return self.data_dir, [], []

    def build_request(self, sample: _Sample, key: str) -> AnswerRequest:
        return AnswerRequest(key=key, prompt=self.profile.format("q"), images=(), question="q")

    def score(self, sample: _Sample, response: Response) -> ScoredSample:
        return ScoredSample(parsed=response.text, scores={"exact": 1.0})


class _Filtered(_Counting):
    """Extends a cached loader: its own result is cached apart from the parent's."""

    @load_once
    def load_samples(self) -> list[_Sample]:
        return [_Sample(s.id + "-kept") for s in super().load_samples()]


class _Plain(_Counting):
    default_folder = None
    profiles = {}


def test_data_dir_is_the_option_else_the_default_folder_under_the_data_root(tmp_path: Path) -> None:
    assert _Counting(context=TaskContext(data_root=tmp_path)).data_dir == tmp_path / "counting"
    assert _Counting(_Options(data_dir=tmp_path / "elsewhere")).data_dir == tmp_path / "elsewhere"
    with pytest.raises(TypeError, match="_Plain has no default_folder"):
        _ = _Plain(context=TaskContext(data_root=tmp_path)).data_dir


def test_samples_are_read_once_per_task_object() -> None:
    task = _Counting()
    assert task.load_samples() is task.load_samples() and task.reads == 1
    assert [s.id for s in _Counting().load_samples()] == ["read1"]
    filtered = _Filtered()
    assert [s.id for s in filtered.load_samples()] == ["read1-kept"]
    assert [s.id for s in filtered.load_samples()] == ["read1-kept"] and filtered.reads == 1


def test_the_profile_is_the_requested_one_else_the_models_else_default() -> None:
    assert _Counting(context=TaskContext(prompt_profile="terse")).profile.name == "terse"
    assert _Counting(context=TaskContext(adapter_prompt_profile="terse")).profile.name == "terse"
    task = _Counting(context=TaskContext(adapter_prompt_profile="other-model"))
    assert task.profile.name == "default"
    assert task.describe()["prompt_profile"]["name"] == "default"
    assert task.scoring_identity()["profile"]["name"] == "default"
    assert task.describe()["prompt_profile_fallback"] == {"wanted": "other-model", "used": "default"}
    with pytest.raises(TypeError, match="_Plain has no prompt profiles"):
        _ = _Plain().profile
    assert "prompt_profile" not in _Plain().describe() and "profile" not in _Plain().scoring_identity()
