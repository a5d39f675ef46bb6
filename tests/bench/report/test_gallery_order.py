"""Worst-sample galleries order by a continuous score where the headline is pass/fail: a box
just short of IoU 0.5 is shown after one on the other side of the image, and an ANLS answer one
letter off after one that shares nothing with the reference."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from bench.context import TaskContext
from bench.records import PredictionRecord
from bench.report.samples import SampleView, TaskSamples
from bench.task import TASKS
from bench.types import Response


def _grounding(folder: Path):
    (folder / "images").mkdir(parents=True)
    Image.new("RGB", (100, 100)).save(folder / "images" / "a.png")
    lines = [{"id": str(i), "image": "images/a.png", "text": "OPEN", "box": [10, 10, 50, 50]} for i in range(2)]
    (folder / "annotations.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return TASKS.get("grounding").from_args({"data_dir": str(folder)}, TaskContext(data_root=folder))


def _views(task, answers: list[str]) -> list[SampleView]:
    views = []
    for sample, answer in zip(task.load_samples(), answers):
        scored = task.score(sample, Response(text=answer))
        record = PredictionRecord(key=sample.id, id=sample.id, request_fingerprint="", scoring_fingerprint="", seed=0,
                                  prompt="", raw=answer, parsed=scored.parsed, scores=dict(scored.scores))
        headline = record.scores[task.headline()]
        ranking = task.ranking_score(sample, record.scores, record.parsed)
        views.append(SampleView(record, sample, headline, headline if ranking is None else ranking))
    return views


def test_grounding_galleries_show_the_farthest_miss_first(tmp_path):
    task = _grounding(tmp_path / "grounding")
    near, far = _views(task, ["[20, 20, 60, 60]", "[80, 80, 99, 99]"])
    assert near.headline == far.headline == 0.0  # both fail Acc@0.5
    assert 0.0 == far.rank < near.rank
    assert [v.record.id for v in TaskSamples("grounding", "answer", "acc@0.5", [near, far], []).worst(2)] == ["1", "0"]
    boxes = task.gallery_boxes(near.sample, near.record.parsed)
    assert [(b.role, b.box) for b in boxes] == [("reference", (10.0, 10.0, 50.0, 50.0)), ("answer", (20.0, 20.0, 60.0, 60.0))]
    assert task.gallery_boxes(near.sample, None)[0].role == "reference"  # an unparsable answer draws no box


def test_anls_galleries_show_the_unrelated_answer_before_the_near_miss(tmp_path):
    folder = tmp_path / "docvqa"
    (folder / "documents").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "documents" / "d.png")
    entries = [{"questionId": i, "question": "name?", "image": "documents/d.png", "answers": ["washington"]} for i in (1, 2)]
    (folder / "val_v1.0.json").write_text(json.dumps({"data": entries}))
    task = TASKS.get("docvqa").from_args({"data_dir": str(folder)}, TaskContext(data_root=tmp_path))
    close, unrelated = _views(task, ["wash", "zzz"])
    assert close.headline == unrelated.headline == 0.0  # both below the 0.5 threshold
    assert unrelated.rank < close.rank == 0.4
    assert [v.record.id for v in TaskSamples("docvqa", "answer", "anls", [close, unrelated], []).worst(2)] == ["2", "1"]
