"""ST-VQA, OCR-VQA, InfographicVQA and ChartQA from files in their release layouts, and the
strings each metric is given (extracted answer for the official metric, raw output for
TextHarmony's containment accuracy)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from bench.context import TaskContext
from bench.task import TASKS, DatasetError
from bench.types import Response

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _task(name: str, profile: str | None = None, **options):
    context = TaskContext(data_root=Path("/nonexistent"), prompt_profile=profile)
    return TASKS.get(name).from_args(options, context)


def _image(path: Path, color=(90, 20, 20)) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.new("RGB", (12, 10), color).save(buffer, format="JPEG" if path.suffix == ".jpg" else "PNG")
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def _score(task, sample, output: str) -> dict[str, float]:
    return dict(task.score(sample, Response(text=output)).scores)


# -- ST-VQA -----------------------------------------------------------------------------------------

def _write_stvqa(folder: Path) -> None:
    _image(folder / "train_images" / "coco-text" / "COCO_train2014_000000000036.jpg")
    _image(folder / "train_images" / "imageNet" / "n01440764_1.jpg")
    data = [
        {"question_id": 1, "question": "What is written on the bus?", "file_path": "coco-text/COCO_train2014_000000000036.jpg",
         "answers": ["city bus", "city bus"], "dataset": "coco-text", "file_name": "COCO_train2014_000000000036.jpg", "set_name": "train"},
        {"question_id": 2, "question": "What brand?", "file_path": "imageNet/n01440764_1.jpg", "answers": ["sony"],
         "dataset": "imageNet", "file_name": "n01440764_1.jpg", "set_name": "train"},
    ]
    (folder / "train_task_3.json").write_text(json.dumps({"dataset_name": "ST-VQA", "data": data}), encoding="utf-8")


def test_stvqa(tmp_path: Path) -> None:
    _write_stvqa(tmp_path)
    task = _task("stvqa", data_dir=str(tmp_path))
    samples = task.load_samples()
    assert [s.id for s in samples] == ["1", "2"]
    assert samples[1].image == tmp_path / "train_images" / "imageNet" / "n01440764_1.jpg" and samples[1].image.is_file()
    # "city buss" vs "city bus": distance 1 over 9 characters.
    assert _score(task, samples[0], "City buss.") == {"anls": pytest.approx(1 - 1 / 9), "containment_accuracy": 1.0}
    assert _score(task, samples[1], "panasonic") == {"anls": 0.0, "containment_accuracy": 0.0}


def test_stvqa_test_split_has_no_answers(tmp_path: Path) -> None:
    _image(tmp_path / "test_task3_images" / "a.jpg")
    data = [{"question_id": 9, "question": "q", "file_path": "a.jpg"}]
    (tmp_path / "test_task_3.json").write_text(json.dumps({"data": data}))
    task = _task("stvqa", data_dir=str(tmp_path), annotation_file="test_task_3.json", image_folder="test_task3_images")
    with pytest.raises(DatasetError, match=r"test_task_3\.json: entry 0 has no field 'answers'"):
        task.load_samples()


# -- OCR-VQA ----------------------------------------------------------------------------------------

def _write_ocrvqa(folder: Path) -> None:
    dataset = {
        "761183272": {
            "imageURL": "http://ecx.images-amazon.com/images/I/61Y5cOdHJbL.jpg",
            "questions": ["Who wrote this book?", "What is the genre of this book?"],
            "answers": ["Sandra Boynton", "Calendars"],
            "title": "Mom's Family Wall Calendar 2016", "authorName": "Sandra Boynton", "genre": "Calendars", "split": 3,
        },
        "1590282493": {
            "imageURL": "http://ecx.images-amazon.com/images/I/51xyz.png",
            "questions": ["Is this a comedy book?"], "answers": ["No"],
            "title": "t", "authorName": "a", "genre": "g", "split": 3,
        },
        "0000000001": {
            "imageURL": "http://ecx.images-amazon.com/images/I/1.jpg",
            "questions": ["Train question?"], "answers": ["Yes"], "title": "t", "authorName": "a", "genre": "g", "split": 1,
        },
    }
    (folder / "dataset.json").write_text(json.dumps(dataset), encoding="utf-8")
    _image(folder / "images" / "761183272.jpg")


def test_ocrvqa(tmp_path: Path) -> None:
    _write_ocrvqa(tmp_path)
    task = _task("ocrvqa", data_dir=str(tmp_path))
    samples = task.load_samples()
    assert [(s.id, s.question, s.answers) for s in samples] == [
        ("761183272_0", "Who wrote this book?", ("Sandra Boynton",)),
        ("761183272_1", "What is the genre of this book?", ("Calendars",)),
        ("1590282493_0", "Is this a comedy book?", ("No",)),
    ]
    assert samples[0].image == tmp_path / "images" / "761183272.jpg"
    assert samples[2].image == tmp_path / "images" / "1590282493.png"
    # Exact match ignores case and surrounding space only.
    assert _score(task, samples[0], " sandra boynton\n") == {"accuracy": 1.0, "containment_accuracy": 1.0}
    assert _score(task, samples[0], "By Sandra Boynton") == {"accuracy": 0.0, "containment_accuracy": 1.0}
    assert _task("ocrvqa", data_dir=str(tmp_path), split="train").load_samples()[0].id == "0000000001_0"
    skipping = _task("ocrvqa", data_dir=str(tmp_path), skip_missing_images=True).load_samples()
    assert [s.id for s in skipping] == ["761183272_0", "761183272_1"]


def test_ocrvqa_mismatched_lists(tmp_path: Path) -> None:
    _write_ocrvqa(tmp_path)
    content = json.loads((tmp_path / "dataset.json").read_text())
    content["761183272"]["answers"].pop()
    (tmp_path / "dataset.json").write_text(json.dumps(content))
    with pytest.raises(DatasetError, match=r"entry 761183272 needs lists 'questions' and 'answers' of equal length"):
        _task("ocrvqa", data_dir=str(tmp_path)).load_samples()


# -- InfographicVQA ------------------------------------------------------------------------------

INFOVQA = [(65718, "37313.jpeg", "What percentage?", ["25%", "25"]), (65719, "37314.jpeg", "Which country?", ["india"])]


def _write_infovqa(folder: Path, image_folder: str = "infographicsvqa_images") -> dict[str, bytes]:
    images = {name: _image(folder / image_folder / name, (i * 40, 100, 30)) for i, (_, name, _, _) in enumerate(INFOVQA)}
    data = [
        {"questionId": qid, "question": q, "image_local_name": name, "image_url": "", "ocr_output_file": name + ".json",
         "answers": answers, "data_split": "val", "answer_type": ["single span"], "evidence": ["text"], "operation/reasoning": []}
        for qid, name, q, answers in INFOVQA
    ]
    payload = {"dataset_name": "infographicVQA", "dataset_version": "1.0", "dataset_split": "val", "data": data}
    (folder / "infographicsVQA_val_v1.0_withQT.json").write_text(json.dumps(payload), encoding="utf-8")
    return images


def test_infovqa_official_and_parquet_give_the_same_samples(tmp_path: Path) -> None:
    images = _write_infovqa(tmp_path / "official")
    official = _task("infovqa", data_dir=str(tmp_path / "official")).load_samples()
    assert official[0].image == tmp_path / "official" / "infographicsvqa_images" / "37313.jpeg"
    schema = pa.schema(
        [("questionId", pa.string()), ("question", pa.string()), ("answers", pa.list_(pa.string())),
         ("answer_type", pa.list_(pa.string())), ("image", IMAGE), ("image_url", pa.string()),
         ("operation/reasoning", pa.list_(pa.string())), ("ocr", pa.string()), ("data_split", pa.string())]
    )
    rows = [
        {"questionId": str(qid), "question": q, "answers": answers, "answer_type": ["single span"],
         "image": {"bytes": images[name], "path": name}, "image_url": "", "operation/reasoning": [], "ocr": "{}", "data_split": "val"}
        for qid, name, q, answers in INFOVQA
    ]
    (tmp_path / "hf" / "InfographicVQA").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "hf" / "InfographicVQA" / "validation-00000-of-00001.parquet")
    hf = _task("infovqa", source="hf", hf_path=str(tmp_path / "hf"), image_cache=str(tmp_path / "cache")).load_samples()
    assert [(s.id, s.question, s.answers) for s in hf] == [(s.id, s.question, s.answers) for s in official]
    assert [s.image.read_bytes() for s in hf] == [s.image.read_bytes() for s in official]
    task = _task("infovqa", data_dir=str(tmp_path / "official"))
    assert _score(task, official[0], "25 %") == {"anls": pytest.approx(1 - 1 / 4), "containment_accuracy": 1.0}


def test_infovqa_images_folder_fallback_and_missing(tmp_path: Path) -> None:
    _write_infovqa(tmp_path, image_folder="images")
    assert _task("infovqa", data_dir=str(tmp_path)).load_samples()[1].image == tmp_path / "images" / "37314.jpeg"
    (tmp_path / "images").rename(tmp_path / "pictures")
    with pytest.raises(DatasetError, match=r"missing InfographicVQA image folder: looked for .*infographicsvqa_images, .*images"):
        _task("infovqa", data_dir=str(tmp_path)).load_samples()


# -- ChartQA ------------------------------------------------------------------------------------------

CHARTQA = {
    "human": [("two_col_1.png", "What is the peak value?", "45"), ("multi_col_2.png", "Which year is highest?", "2019")],
    "augmented": [("two_col_3.png", "What is the share of Asia?", "0.57")],
}


def _write_chartqa(folder: Path) -> dict[str, bytes]:
    test = folder / "ChartQA Dataset" / "test"
    images = {}
    for subset, entries in CHARTQA.items():
        for index, (name, _, _) in enumerate(entries):
            images[name] = _image(test / "png" / name, (index * 50, 10, 200))
        (test / f"test_{subset}.json").write_text(
            json.dumps([{"imgname": name, "query": q, "label": label} for name, q, label in entries]), encoding="utf-8"
        )
    return images


def test_chartqa_official(tmp_path: Path) -> None:
    _write_chartqa(tmp_path)
    task = _task("chartqa", data_dir=str(tmp_path))
    samples = task.load_samples()
    assert [(s.id, s.answers) for s in samples] == [("human-0", ("45",)), ("human-1", ("2019",)), ("augmented-0", ("0.57",))]
    assert samples[2].image == tmp_path / "ChartQA Dataset" / "test" / "png" / "two_col_3.png"
    # 47 is within 5% of 45; the trailing period goes with the default extraction.
    assert _score(task, samples[0], "47.") == {"relaxed_accuracy": 1.0, "containment_accuracy": 0.0}
    assert _score(task, samples[2], "57%") == {"relaxed_accuracy": 1.0, "containment_accuracy": 0.0}
    assert _score(task, samples[1], "2020") == {"relaxed_accuracy": 1.0, "containment_accuracy": 0.0}
    assert _score(task, samples[1], "2122") == {"relaxed_accuracy": 0.0, "containment_accuracy": 0.0}
    assert [s.id for s in _task("chartqa", data_dir=str(tmp_path), subset="augmented").load_samples()] == ["augmented-0"]


def test_chartqa_parquet_ids_count_per_type(tmp_path: Path) -> None:
    images = _write_chartqa(tmp_path / "official")
    order = [("human", 0), ("augmented", 0), ("human", 1)]
    rows = []
    for subset, index in order:
        name, question, label = CHARTQA[subset][index]
        rows.append({"type": f"{subset}_test", "question": question, "answer": label, "image": {"bytes": images[name], "path": None}})
    schema = pa.schema([("type", pa.string()), ("question", pa.string()), ("answer", pa.string()), ("image", IMAGE)])
    (tmp_path / "hf" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "hf" / "data" / "test-00000-of-00001.parquet")
    hf = _task("chartqa", source="hf", hf_path=str(tmp_path / "hf"), image_cache=str(tmp_path / "c")).load_samples()
    official = {s.id: s for s in _task("chartqa", data_dir=str(tmp_path / "official")).load_samples()}
    assert sorted(s.id for s in hf) == sorted(official)
    for sample in hf:
        assert (sample.question, sample.answers) == (official[sample.id].question, official[sample.id].answers)
        assert sample.image.read_bytes() == official[sample.id].image.read_bytes()


# -- what each metric is given ----------------------------------------------------------------------

def test_textharmony_profile_scores_the_decoded_text_as_the_release_does(tmp_path: Path) -> None:
    _write_stvqa(tmp_path)
    task = _task("stvqa", profile="textharmony", data_dir=str(tmp_path))
    sample = task.load_samples()[1]
    assert task.build_request(sample, "k").prompt == "Based on the image, please answer the question.<image>What brand? The answer is:"
    assert task.build_request(sample, "k").max_new_tokens == 30
    scored = task.score(sample, Response(text=" Sony.\n"))
    # The release strips the answer for ANLS and keeps the period: "sony." vs "sony" = 1 - 1/5.
    assert scored.parsed == "Sony."
    assert dict(scored.scores) == {"anls": pytest.approx(0.8), "containment_accuracy": 1.0}


def test_containment_uses_the_raw_output_not_the_extracted_answer(tmp_path: Path) -> None:
    _write_stvqa(tmp_path)
    task = _task("stvqa", data_dir=str(tmp_path))
    sample = task.load_samples()[1]
    # The default profile keeps the first line only; the answer sits on the second.
    scored = task.score(sample, Response(text="I think it is\nsony"))
    assert scored.parsed == "I think it is"
    assert dict(scored.scores) == {"anls": 0.0, "containment_accuracy": 1.0}


def test_unknown_profile_is_refused(tmp_path: Path) -> None:
    _write_stvqa(tmp_path)
    task = _task("stvqa", profile="llava-next", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="no prompt profile 'llava-next'"):
        task.build_request(task.load_samples()[0], "k")


def test_sets_without_a_parquet_copy_say_so() -> None:
    with pytest.raises(DatasetError, match="task 'stvqa' has no Hugging Face layout; use source=official"):
        _task("stvqa", source="hf").load_samples()
    with pytest.raises(DatasetError, match="lmms-lab/ChartQA has only the test split"):
        _task("chartqa", source="hf", split="val").load_samples()
