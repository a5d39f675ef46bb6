"""The grounding task: its JSONL format, each profile's answer syntax and frame, IoU scoring,
unparsable answers counted as misses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pytest
from PIL import Image

from bench.adapter import ADAPTERS, ModelAdapter
from bench.context import TaskContext
from bench.runner import RunConfig, run
from bench.task import TASKS, DatasetError
from bench.types import AnswerRequest, RequestKind, Response

WIDTH, HEIGHT = 224, 112


def _write(folder: Path, entries: list[dict]) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (WIDTH, HEIGHT), (240, 240, 240)).save(folder / "images" / "scene.png")
    (folder / "annotations.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    return folder


def _task(folder: Path, profile: str | None = None, **options):
    context = TaskContext(data_root=Path("/nonexistent"), prompt_profile=profile)
    return TASKS.get("grounding").from_args({"data_dir": str(folder), **options}, context)


BOX_ENTRY = {"id": "w1", "image": "images/scene.png", "text": "OPEN", "box": [50, 25, 100, 50]}


def _scores(task, output: str) -> dict[str, float]:
    return dict(task.score(task.load_samples()[0], Response(text=output)).scores)


def test_default_profile_pixels(tmp_path: Path) -> None:
    task = _task(_write(tmp_path, [BOX_ENTRY]))
    sample = task.load_samples()[0]
    request = task.build_request(sample, "k")
    assert request.question == 'Where is "OPEN" in this image?'
    assert request.prompt == '<image>Where is "OPEN" in this image? Answer with the bounding box [x1, y1, x2, y2] in pixels.'
    scores = _scores(task, "It is at [50, 25, 100, 50].")
    assert scores["iou"] == 1.0 and scores["acc@0.9"] == 1.0 and scores["unparsable"] == 0.0
    # Shifted right by half its width: intersection 25x25, union 2*50*25 - 625 -> 1/3.
    scores = _scores(task, "[75, 25, 125, 50]")
    assert scores["iou"] == pytest.approx(1 / 3)
    assert (scores["acc@0.3"], scores["acc@0.4"], scores["acc@0.5"]) == (1.0, 0.0, 0.0)


def test_textharmony_profile_reads_point_lists_in_a_448_frame(tmp_path: Path) -> None:
    task = _task(_write(tmp_path, [BOX_ENTRY]), profile="textharmony")
    request = task.build_request(task.load_samples()[0], "k")
    assert request.prompt == (
        'Based on the image, please answer the question.<image>Where is "OPEN" in this image? The answer is:'
    )
    assert request.max_new_tokens == 128
    # x * 224 / 448 and y * 112 / 448: [[100, 100], [200, 200]] is the box (50, 25, 100, 50).
    assert _scores(task, "[[100, 100], [200, 100], [200, 200], [100, 200]]")["iou"] == 1.0
    parsed = task.score(task.load_samples()[0], Response(text="[[100, 100], [200, 100], [200, 200]]")).parsed
    assert parsed == {"box": [50.0, 25.0, 100.0, 50.0], "polygon": [[50.0, 25.0], [100.0, 25.0], [100.0, 50.0]]}
    # A flat list is read as points too, so corners in any order give the same bounds.
    assert _scores(task, "[200, 200, 100, 100]")["iou"] == 1.0


def test_textharmony_refexp_profile_reproduces_grounding_score(tmp_path: Path) -> None:
    entry = {**BOX_ENTRY, "box": [0, 0, 112, 56]}
    task = _task(_write(tmp_path, [entry]), profile="textharmony-refexp")
    assert task.build_request(task.load_samples()[0], "k").prompt == (
        "<image>Provide the bounding box coordinate of the region this sentence describes. OPEN<box>"
    )
    # (000,000)(999,999) is the whole 224x112 image; the truth is its top-left quarter.
    assert _scores(task, "(000,000)(999,999)</box>")["iou"] == pytest.approx(0.25)
    # "(x1,y1),(x2,y2)" does not match the release's pattern: unparsable.
    assert _scores(task, "(000,000),(999,999)")["unparsable"] == 1.0


def test_unparsable_answers_are_misses(tmp_path: Path) -> None:
    task = _task(_write(tmp_path, [BOX_ENTRY]))
    scored = task.score(task.load_samples()[0], Response(text="I cannot see it."))
    assert scored.parsed is None
    assert scored.scores["unparsable"] == 1.0 and scored.scores["iou"] == 0.0 and scored.scores["acc@0.5"] == 0.0
    assert task.miss_scores()["unparsable"] == 1.0


def test_polygon_matching(tmp_path: Path) -> None:
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    folder = _write(tmp_path, [{"id": "p", "image": "images/scene.png", "text": "O", "polygon": square}])
    triangle = "[[0, 0], [10, 0], [0, 10]]"
    # Box matching compares the triangle's bounds with the square: identical.
    assert _scores(_task(folder), triangle)["iou"] == 1.0
    # Polygon matching: the triangle covers half the square.
    polygon_task = _task(folder, match="polygon")
    assert _scores(polygon_task, triangle)["iou"] == pytest.approx(0.5)
    # A box answer counts as its rectangle: (0, 0, 10, 5) is half the square.
    assert _scores(polygon_task, "[0, 0, 10, 5]")["iou"] == pytest.approx(0.5)


def test_match_is_a_scoring_option(tmp_path: Path) -> None:
    folder = _write(tmp_path, [BOX_ENTRY])
    box, polygon = _task(folder), _task(folder, match="polygon")
    sample = box.load_samples()[0]
    assert box.sample_key(sample) == polygon.sample_key(sample)
    assert box.scoring_identity() != polygon.scoring_identity()


def test_image_size_field_saves_opening_the_image(tmp_path: Path) -> None:
    entry = {**BOX_ENTRY, "image": "images/absent.png", "image_size": [WIDTH, HEIGHT]}
    task = _task(tmp_path, profile="textharmony")
    (tmp_path / "annotations.jsonl").write_text(json.dumps(entry) + "\n")
    assert _scores(task, "[[100, 100], [200, 200]]")["iou"] == 1.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", r"annotations\.jsonl:1 is not JSON"),
        (json.dumps({"id": "a", "image": "x.png", "box": [1, 2, 3, 4]}), r":1: no field 'text'"),
        (json.dumps({"id": "a", "image": "x.png", "text": "t"}), r":1: neither 'box' nor 'polygon'"),
        (json.dumps({"id": "a", "image": "x.png", "text": "t", "box": [1, 2, 3]}), r"'box' must hold 4 numbers"),
        (json.dumps({"id": "a", "image": "x.png", "text": "t", "polygon": [[1, 2], [3, 4]]}), r"at least 3 points"),
        (json.dumps({"id": "a", "image": "x.png", "text": "t", "polygon": [1, 2, 3]}), r"list of \[x, y\] points"),
    ],
)
def test_malformed_annotations(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "annotations.jsonl").write_text(line + "\n")
    with pytest.raises(DatasetError, match=message):
        _task(tmp_path).load_samples()


def test_missing_annotations_and_duplicate_ids(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"missing annotation file .*annotations\.jsonl; expected"):
        _task(tmp_path).load_samples()
    _write(tmp_path, [BOX_ENTRY, BOX_ENTRY])
    with pytest.raises(DatasetError, match=r":2: id 'w1' occurs twice"):
        _task(tmp_path).load_samples()


@dataclass(frozen=True)
class _FixedOptions:
    answer: str = ""


class _FixedAnswer(ModelAdapter):
    supported_kinds = frozenset({RequestKind.ANSWER})
    Options = _FixedOptions
    prompt_profile = "textharmony"

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        return [self.options.answer if "OPEN" in r.question else "no idea" for r in requests]


ADAPTERS.add("test-grounding-fixed-answer", _FixedAnswer)


def test_runner_uses_the_adapter_profile_and_counts_unparsable(tmp_path: Path) -> None:
    entries = [BOX_ENTRY, {**BOX_ENTRY, "id": "w2", "text": "CLOSED"}]
    folder = _write(tmp_path / "data", entries)
    outcome = run(
        RunConfig(
            model="test-grounding-fixed-answer",
            tasks=["grounding"],
            model_args={"answer": "[[100, 100], [200, 200]]"},
            task_args={"grounding": {"data_dir": str(folder)}},
            context=TaskContext(data_root=tmp_path),
            results_root=tmp_path / "runs",
            progress=False,
        )
    )
    metrics = outcome.tasks[0].summary["metrics"]
    assert metrics["acc@0.5"]["value"] == 0.5 and metrics["unparsable"]["value"] == 0.5
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["tasks"]["grounding"]["config"]["prompt_profile"]["name"] == "textharmony"


def test_an_iou_of_exactly_the_threshold_counts_as_correct(tmp_path: Path) -> None:
    """IoU >= t, as RefCOCO's evaluators and TextHarmony's grounding_eval count: a box covering
    exactly half of the reference (IoU 0.5) is right at 0.5 and wrong at 0.6."""
    from bench.types import Response

    (tmp_path / "images").mkdir()
    Image.new("RGB", (20, 20)).save(tmp_path / "images" / "a.png")
    line = {"id": "a", "image": "images/a.png", "text": "OPEN", "box": [0, 0, 10, 10]}
    (tmp_path / "annotations.jsonl").write_text(json.dumps(line) + "\n")
    task = TASKS.get("grounding").from_args({"data_dir": str(tmp_path)}, TaskContext(data_root=tmp_path))
    (sample,) = task.load_samples()
    scores = task.score(sample, Response(text="[0, 0, 10, 5]")).scores
    assert scores["iou"] == 0.5 and scores["acc@0.5"] == 1.0 and scores["acc@0.6"] == 0.0
