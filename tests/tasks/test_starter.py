"""The starter suite is generated deterministically, in the real benchmarks' layouts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bench.context import TaskContext
from bench.task import TASKS
from tasks.starter import STARTER_TASKS, ensure_generated


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", STARTER_TASKS)
def test_generation_is_deterministic(name, tmp_path):
    digests = []
    for copy in ("a", "b"):
        task = TASKS.get(name)(None, TaskContext(data_root=tmp_path / copy))
        task.load_samples()
        digests.append(_digest(task.data_dir))
    assert digests[0] == digests[1]
    assert len(digests[0]) > 10


def test_layouts_are_the_official_ones(starter_data):
    context = TaskContext(data_root=starter_data)
    for name in STARTER_TASKS:
        TASKS.get(name)(None, context).load_samples()
    textvqa = json.loads((starter_data / "starter/textvqa/TextVQA_0.5.1_val.json").read_text())
    entry = textvqa["data"][0]
    assert {"question_id", "image_id", "question", "answers"} <= set(entry) and len(entry["answers"]) == 10
    assert (starter_data / "starter/textvqa/train_images" / f"{entry['image_id']}.jpg").is_file()
    docvqa = json.loads((starter_data / "starter/docvqa/val_v1.0.json").read_text())
    assert docvqa["data"][0]["image"].startswith("documents/")
    anytext = json.loads((starter_data / "starter/edit/starter_word/test1k.json").read_text())
    annotation = anytext["data_list"][0]["annotations"][0]
    assert {"polygon", "text", "valid", "language"} <= set(annotation)
    prompts = (starter_data / "starter/t2i/StarterEval/StarterEval.txt").read_text().splitlines()
    assert len(prompts) == 30 and all("'" in p for p in prompts)


def test_starter_tasks_are_read_by_the_official_tasks(starter_data):
    """Pointing the official task at the starter folder reads the same samples."""
    context = TaskContext(data_root=starter_data)
    starter = TASKS.get("starter-textvqa")(None, context).load_samples()
    official_type = TASKS.get("textvqa")
    official = official_type.from_args({"data_dir": str(starter_data / "starter/textvqa")}, context).load_samples()
    assert [(s.id, s.question, s.answers) for s in starter] == [(s.id, s.question, s.answers) for s in official]


def test_an_interrupted_generation_leaves_nothing_behind(tmp_path):
    def failing(folder: Path) -> None:
        (folder / "half.json").write_text("{")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        ensure_generated(tmp_path / "set", failing)
    assert not (tmp_path / "set").exists() and list(tmp_path.iterdir()) == []
