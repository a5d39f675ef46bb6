"""Annotation values that would score silently wrong are refused at load, naming the file, the
entry and the field; values that reach outside their image are clipped and the clipping is
recorded; run-level input mistakes fail before anything loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from bench.cli import main
from bench.context import TaskContext
from bench.task import TASKS, DatasetError


def _task(name: str, data_dir: Path, **options: str):
    return TASKS.get(name).from_args({"data_dir": str(data_dir), **options}, TaskContext(data_root=data_dir))


def _textvqa(folder: Path, answers) -> Path:
    (folder / "train_images").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "train_images" / "img1.jpg")
    entry = {"question_id": 1, "image_id": "img1", "question": "what is written?", "answers": answers}
    (folder / "TextVQA_0.5.1_val.json").write_text(json.dumps({"data": [entry]}))
    return folder


def test_a_single_answer_string_is_refused_not_taken_as_one_answer(tmp_path):
    folder = _textvqa(tmp_path / "textvqa", "open")
    with pytest.raises(DatasetError, match=r"TextVQA_0\.5\.1_val\.json: entry 0 field 'answers' is the string 'open', "
                                           r"not a list of answers; write it as \['open'\]"):
        _task("textvqa", folder).load_samples()


@pytest.mark.parametrize("answers", [[], ["a", 3], [["nested"]]])
def test_answers_must_be_a_non_empty_list_of_strings(tmp_path, answers):
    with pytest.raises(DatasetError, match="field 'answers' must be a non-empty list of strings"):
        _task("textvqa", _textvqa(tmp_path / "textvqa", answers)).load_samples()


def _grounding(folder: Path, *entries: dict) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (100, 50)).save(folder / "images" / "a.png")
    lines = [{"id": str(i), "image": "images/a.png", "text": "OPEN", **entry} for i, entry in enumerate(entries)]
    (folder / "annotations.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"box": [40, 10, 20, 30]}, r"annotations\.jsonl:1 field 'box' \[40, 10, 20, 30\] has no area: it needs x1 < x2 and y1 < y2"),
        ({"box": [10, 10, 10, 30]}, r"has no area"),
        ({"box": [200, 10, 300, 30]}, r"field 'box' \[200\.0, 10\.0, 300\.0, 30\.0\] lies outside its 100x50 image"),
        ({"box": [1, 2, "3", 4]}, r"field 'box' must hold 4 numbers"),
        ({"polygon": [[0, 0], [10, float("nan")], [10, 10]]}, r"field 'polygon' .* holds a value that is not a finite number"),
        ({"polygon": [[0, 0], [10, 0], [20, 0]]}, r"field 'polygon' .* encloses no area"),
        ({"polygon": [[0, 0, 1], [10, 0, 1], [10, 10, 1]]}, r"the point \[0, 0, 1\] has 3 coordinates"),
        ({"box": [1, 2, 3, 4], "image": "/etc/passwd"}, r"image /etc/passwd lies outside the dataset folder .*allow_outside_root=true"),
        ({"box": [1, 2, 3, 4], "image": "../elsewhere.png"}, r"lies outside the dataset folder"),
    ],
)
def test_impossible_grounding_annotations_are_refused(tmp_path, entry, message):
    with pytest.raises(DatasetError, match=message):
        _task("grounding", _grounding(tmp_path / "grounding", entry)).load_samples()


def test_boxes_reaching_outside_the_image_are_clipped_and_recorded(tmp_path):
    task = _task("grounding", _grounding(tmp_path / "grounding", {"box": [90, -5, 120, 20]}, {"box": [1, 2, 3, 4]}))
    clipped, kept = task.load_samples()
    assert clipped.box == (90.0, 0.0, 100.0, 20.0) and kept.box == (1.0, 2.0, 3.0, 4.0)
    warnings = task.describe()["data_warnings"]
    assert warnings["count"] == 1
    assert warnings["first"][0].endswith("annotations.jsonl:1 field 'box' [90.0, -5.0, 120.0, 20.0] reached outside its "
                                         "100x50 image; clipped to [90.0, 0.0, 100.0, 20.0]")


def test_an_image_outside_the_folder_is_read_when_allowed(tmp_path):
    Image.new("RGB", (100, 50)).save(tmp_path / "outside.png")
    folder = _grounding(tmp_path / "grounding", {"box": [1, 2, 3, 4], "image": str(tmp_path / "outside.png")})
    (sample,) = _task("grounding", folder, allow_outside_root="true").load_samples()
    assert sample.image == tmp_path / "outside.png"


def _anytext(folder: Path, entries: list) -> Path:
    subset = folder / "benchmark" / "laion_word"
    (subset / "imgs").mkdir(parents=True)
    (subset / "test1k.json").write_text(json.dumps({"data_list": entries}))
    return folder


@pytest.mark.parametrize(
    "entries, message",
    [
        (["not an object"], r"test1k\.json: entry 0 is not an object with 'img_name' and 'caption'"),
        ([{"img_name": "a.jpg", "caption": "c", "annotations": ["x"]}], r"entry 0 field 'annotations' must be a list of objects"),
        ([{"img_name": "a.jpg", "caption": "c", "annotations": [{"polygon": [[0, 0], [5, 5]], "text": "HI"}]}],
         r"entry 0 annotation 0 field 'polygon' has 2 points; a polygon needs at least 3 points"),
        ([{"img_name": "a.jpg", "caption": "c", "annotations": [{"polygon": [[0, 0, 0], [5, 0, 0], [5, 5, 0]], "text": "HI"}]}],
         r"entry 0 annotation 0 field 'polygon' must be a list of \[x, y\] points .* has 3 coordinates"),
        ([{"img_name": "/tmp/a.jpg", "caption": "c", "annotations": []}], r"entry '/tmp/a\.jpg': image /tmp/a\.jpg lies outside"),
    ],
)
def test_malformed_anytext_items_are_refused(tmp_path, entries, message):
    with pytest.raises(DatasetError, match=message):
        _task("anytext-generate", _anytext(tmp_path / "anytext", entries)).load_samples()


def _cli(*argv: str) -> int:
    return main(["run", "--no-progress", *argv])


def test_an_empty_dataset_is_an_error(tmp_path, caplog):
    folder = tmp_path / "grounding"
    folder.mkdir()
    (folder / "annotations.jsonl").write_text("")
    code = _cli("--model", "ocr-pipeline", "--tasks", "grounding", "--data-dir", str(tmp_path), "--results-dir", str(tmp_path / "runs"))
    assert code == 2 and "task 'grounding' found no samples in its data" in caplog.text


def test_an_empty_selection_is_an_error(tmp_path, caplog):
    _anytext(tmp_path / "AnyText-benchmark", [{"img_name": "a.jpg", "caption": "no text here", "annotations": []}])
    code = _cli("--model", "glyph-render", "--tasks", "anytext-edit", "--data-dir", str(tmp_path), "--results-dir", str(tmp_path / "runs"))
    assert code == 2 and "task 'anytext-edit' found no samples" in caplog.text


def test_task_args_for_a_task_outside_the_run_fail_before_anything_loads(toy_data, tmp_path, caplog):
    code = _cli("--model", "test-echo", "--tasks", "toy-say", "--task-args", "nosuchtask:x=1", "--data-dir", str(toy_data),
                "--results-dir", str(tmp_path / "runs"))
    assert code == 2 and "--task-args names 'nosuchtask', which this run does not include (its tasks: toy-say)" in caplog.text
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("task, option", [("mario-eval", "num_images=-1"), ("mario-eval", "num_images=0"),
                                          ("anytext-generate", "num_images=0"), ("mario-eval", "size=4")])
def test_out_of_range_options_fail_before_anything_loads(task, option, tmp_path, caplog):
    code = _cli("--model", "glyph-render", "--tasks", task, "--task-args", f"{task}:{option}", "--data-dir", str(tmp_path),
                "--results-dir", str(tmp_path / "runs"))
    name, value = option.split("=")
    assert code == 2 and f"task {task!r} option {name!r} must be at least" in caplog.text and f"got {value}" in caplog.text
    assert not (tmp_path / "runs").exists()


def test_a_missing_mario_subset_suggests_the_subsets_option(tmp_path):
    (tmp_path / "MARIOEval" / "LAIONEval4000").mkdir(parents=True)
    (tmp_path / "MARIOEval" / "LAIONEval4000" / "LAIONEval4000.txt").write_text('a sign saying "open"\n')
    with pytest.raises(DatasetError, match=r"pass --task-args mario-eval:subsets=LAIONEval4000 to run those alone"):
        _task("mario-eval", tmp_path / "MARIOEval").load_samples()
