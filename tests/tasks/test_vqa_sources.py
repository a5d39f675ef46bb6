"""TextVQA and DocVQA from their official files and from their Hugging Face parquet layout.

The same tiny dataset is written both ways (the official json + image folders, and parquet
files with lmms-lab's exact column schema); a scripted model that checks the pixels it is
shown answers both, through the runner, and every sample must score the same, with the
values computed by hand.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from bench.adapter import ADAPTERS, ModelAdapter
from bench.context import TaskContext
from bench.runner import RunConfig, run
from bench.store import RunStore
from bench.task import TASKS, DatasetError
from bench.types import AnswerRequest, RequestKind

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _encoded(color: tuple[int, int, int], fmt: str) -> bytes:
    image = Image.new("RGB", (24, 16), color)
    image.putpixel((3, 4), (255 - color[0], 7, 9))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def pixel_digest(image: Image.Image) -> str:
    return hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()


def _digest_of(payload: bytes) -> str:
    with Image.open(io.BytesIO(payload)) as image:
        return pixel_digest(image)


@dataclass(frozen=True)
class ScriptedOptions:
    script: Path | None = None


class ScriptedAnswers(ModelAdapter):
    """Answers each question from a script, but only when shown the image the script names."""

    supported_kinds = frozenset({RequestKind.ANSWER})
    Options = ScriptedOptions

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        script = json.loads(self.options.script.read_text())
        answers = []
        for request in requests:
            entry = script[request.question]
            shown = pixel_digest(request.images[0])
            answers.append(entry["answer"] if shown == entry["digest"] else f"wrong image {shown}")
        return answers


ADAPTERS.add("test-scripted-answers", ScriptedAnswers)


# -- the datasets ------------------------------------------------------------------------------

TEXTVQA = [
    # (question_id, image_id, question, answers, model output, accuracy, containment)
    (34602, "a1", "what brand is this?", ["coca cola"] * 3 + ["coke"] * 7, "The answer is: Coca-Cola.", 0.9, 0.0),
    (34603, "a1", "what number is shown?", ["12"] * 10, "12", 1.0, 1.0),
    (34604, "b2", "what does the sign say?", ["stop"] * 2 + ["stop sign"] * 8, "stop sign", 1.0, 1.0),
    (34605, "c3", "is it open?", ["yes"] * 10, "no", 0.0, 0.0),
]
TEXTVQA_COLORS = {"a1": (200, 10, 10), "b2": (10, 200, 10), "c3": (10, 10, 200)}

DOCVQA = [
    # (questionId, document, question, answers, model output, anls, containment)
    (49153, "pybv0228_81", "What is the total?", ["$12.50", "12.50"], "12.5", 0.8, 0.0),
    (49154, "pybv0228_81", "Who sent it?", ["ACME Corp"], "acme corp", 1.0, 1.0),
    (24580, "nkbl0226_1", "Which year?", ["1999"], "The answer is 2000.", 0.0, 0.0),
]
DOCVQA_COLORS = {"pybv0228_81": (240, 240, 240), "nkbl0226_1": (30, 60, 90)}


def write_textvqa_official(folder: Path) -> dict[str, bytes]:
    images = {key: _encoded(color, "JPEG") for key, color in TEXTVQA_COLORS.items()}
    (folder / "train_images").mkdir(parents=True)
    for key, payload in images.items():
        (folder / "train_images" / f"{key}.jpg").write_bytes(payload)
    data = [
        {
            "question": q, "image_id": image_id, "image_classes": ["Sign"], "flickr_original_url": "",
            "flickr_300k_url": "", "image_width": 24, "image_height": 16, "answers": answers,
            "question_tokens": q.split(), "question_id": qid, "set_name": "val",
        }
        for qid, image_id, q, answers, *_ in TEXTVQA
    ]
    payload = {"dataset_type": "val", "dataset_name": "textvqa", "dataset_version": "0.5.1", "data": data}
    (folder / "TextVQA_0.5.1_val.json").write_text(json.dumps(payload), encoding="utf-8")
    return images


def write_textvqa_parquet(folder: Path, images: dict[str, bytes]) -> Path:
    schema = pa.schema(
        [
            ("image_id", pa.string()), ("question_id", pa.int32()), ("question", pa.string()),
            ("question_tokens", pa.list_(pa.string())), ("image", IMAGE), ("image_width", pa.int32()),
            ("image_height", pa.int32()), ("flickr_original_url", pa.string()), ("flickr_300k_url", pa.string()),
            ("answers", pa.list_(pa.string())), ("image_classes", pa.list_(pa.string())), ("set_name", pa.string()),
            ("ocr_tokens", pa.list_(pa.string())),
        ]
    )
    rows = [
        {
            "image_id": image_id, "question_id": qid, "question": q, "question_tokens": q.split(),
            "image": {"bytes": images[image_id], "path": None}, "image_width": 24, "image_height": 16,
            "flickr_original_url": "", "flickr_300k_url": "", "answers": answers, "image_classes": ["Sign"],
            "set_name": "val", "ocr_tokens": ["STOP"],
        }
        for qid, image_id, q, answers, *_ in TEXTVQA
    ]
    (folder / "data").mkdir(parents=True)
    # Two row groups of two rows, as large files have many.
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "data" / "validation-00000-of-00001.parquet", row_group_size=2)
    return folder


def write_docvqa_official(folder: Path) -> dict[str, bytes]:
    images = {key: _encoded(color, "PNG") for key, color in DOCVQA_COLORS.items()}
    (folder / "documents").mkdir(parents=True)
    for key, payload in images.items():
        (folder / "documents" / f"{key}.png").write_bytes(payload)
    data = [
        {
            "questionId": qid, "question": q, "question_types": ["form"], "image": f"documents/{doc}.png",
            "docId": 1, "ucsf_document_id": doc.split("_")[0], "ucsf_document_page_no": doc.split("_")[1],
            "answers": answers, "data_split": "val",
        }
        for qid, doc, q, answers, *_ in DOCVQA
    ]
    payload = {"dataset_name": "docvqa", "dataset_split": "val", "dataset_version": "1.0", "data": data}
    (folder / "val_v1.0.json").write_text(json.dumps(payload), encoding="utf-8")
    return images


def write_docvqa_parquet(folder: Path, images: dict[str, bytes]) -> Path:
    schema = pa.schema(
        [
            ("questionId", pa.string()), ("question", pa.string()), ("question_types", pa.list_(pa.string())),
            ("image", IMAGE), ("docId", pa.int64()), ("ucsf_document_id", pa.string()),
            ("ucsf_document_page_no", pa.string()), ("answers", pa.list_(pa.string())), ("data_split", pa.string()),
        ]
    )
    rows = [
        {
            "questionId": str(qid), "question": q, "question_types": ["form"],
            "image": {"bytes": images[doc], "path": f"{doc}.png"}, "docId": 1,
            "ucsf_document_id": doc.split("_")[0], "ucsf_document_page_no": doc.split("_")[1],
            "answers": answers, "data_split": "val",
        }
        for qid, doc, q, answers, *_ in DOCVQA
    ]
    (folder / "DocVQA").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "DocVQA" / "validation-00000-of-00001.parquet")
    return folder


def write_script(path: Path, entries: list[tuple], colors_of: dict[str, bytes]) -> Path:
    script = {q: {"digest": _digest_of(colors_of[image]), "answer": output} for _, image, q, _, output, *_ in entries}
    path.write_text(json.dumps(script), encoding="utf-8")
    return path


def _run(tmp_path: Path, task: str, task_args: dict, script: Path, name: str) -> dict[str, dict]:
    outcome = run(
        RunConfig(
            model="test-scripted-answers",
            tasks=[task],
            model_args={"script": str(script)},
            task_args={task: task_args},
            context=TaskContext(data_root=tmp_path / "no-default-data"),
            results_root=tmp_path / f"runs-{name}",
            progress=False,
        )
    )
    records = RunStore(outcome.run_dir).read_predictions(task)
    return {r.id: {"raw": r.raw, "parsed": r.parsed, "scores": r.scores, "error": r.error} for r in records.values()}


# -- the same scores both ways --------------------------------------------------------------------

def test_textvqa_official_and_parquet_score_the_same(tmp_path: Path) -> None:
    images = write_textvqa_official(tmp_path / "official")
    hf = write_textvqa_parquet(tmp_path / "hf", images)
    script = write_script(tmp_path / "script.json", TEXTVQA, images)
    official = _run(tmp_path, "textvqa", {"data_dir": str(tmp_path / "official")}, script, "official")
    parquet = _run(
        tmp_path, "textvqa", {"source": "hf", "hf_path": str(hf), "image_cache": str(tmp_path / "cache")}, script, "hf"
    )
    assert official == parquet
    for qid, _, _, _, output, accuracy, containment in TEXTVQA:
        record = official[str(qid)]
        assert record["error"] is None and record["raw"] == output
        assert record["scores"] == {"accuracy": pytest.approx(accuracy), "containment_accuracy": containment}
    assert official["34602"]["parsed"] == "Coca-Cola"


def test_docvqa_official_and_parquet_score_the_same(tmp_path: Path) -> None:
    images = write_docvqa_official(tmp_path / "official")
    hf = write_docvqa_parquet(tmp_path / "hf", images)
    script = write_script(tmp_path / "script.json", DOCVQA, images)
    official = _run(tmp_path, "docvqa", {"data_dir": str(tmp_path / "official")}, script, "official")
    parquet = _run(
        tmp_path, "docvqa", {"source": "hf", "hf_path": str(hf), "image_cache": str(tmp_path / "cache")}, script, "hf"
    )
    assert official == parquet
    for qid, _, _, _, _, anls, containment in DOCVQA:
        assert official[str(qid)]["scores"] == {"anls": pytest.approx(anls), "containment_accuracy": containment}
    assert official["24580"]["parsed"] == "2000"


# -- the parquet reader -----------------------------------------------------------------------------

def _task(name: str, **options) -> object:
    return TASKS.get(name).from_args(options, TaskContext(data_root=Path("/nonexistent")))


def test_dataset_id_is_found_in_the_offline_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = write_textvqa_official(tmp_path / "official")
    repo = tmp_path / "hub" / "datasets--lmms-lab--textvqa"
    write_textvqa_parquet(repo / "snapshots" / "f00d", images)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("f00d")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("THBENCH_CACHE", str(tmp_path / "thbench-cache"))
    samples = _task("textvqa", source="hf").load_samples()
    assert [s.id for s in samples] == [str(q[0]) for q in TEXTVQA]
    assert samples[0].image.parent.parent == tmp_path / "thbench-cache" / "hf-images"
    assert samples[0].image.read_bytes() == images["a1"] and samples[0].image.suffix == ".jpg"
    # Two questions about one image: each sample has its file, with the same bytes.
    assert samples[0].image != samples[1].image and samples[1].image.read_bytes() == images["a1"]


def test_unpacked_images_are_reused(tmp_path: Path) -> None:
    images = write_docvqa_official(tmp_path / "official")
    hf = write_docvqa_parquet(tmp_path / "hf", images)
    options = {"source": "hf", "hf_path": str(hf), "image_cache": str(tmp_path / "cache")}
    first = _task("docvqa", **options).load_samples()
    stamps = [s.image.stat().st_mtime_ns for s in first]
    second = _task("docvqa", **options).load_samples()
    assert [s.image for s in second] == [s.image for s in first]
    assert [s.image.stat().st_mtime_ns for s in second] == stamps
    assert first[0].image.read_bytes() == images["pybv0228_81"] and first[0].image.suffix == ".png"


def test_sample_keys_do_not_depend_on_where_the_data_is(tmp_path: Path) -> None:
    images = write_docvqa_official(tmp_path / "official")
    hf = write_docvqa_parquet(tmp_path / "hf", images)
    a = _task("docvqa", source="hf", hf_path=str(hf), image_cache=str(tmp_path / "c1"))
    b = _task("docvqa", source="hf", hf_path=str(tmp_path / "hf" / "DocVQA"), image_cache=str(tmp_path / "c2"))
    assert [a.sample_key(s) for s in a.load_samples()] == [b.sample_key(s) for s in b.load_samples()]


def test_missing_dataset_in_cache_names_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(DatasetError, match=r"lmms-lab/DocVQA.*huggingface-cli download --repo-type dataset lmms-lab/DocVQA"):
        _task("docvqa", source="hf").load_samples()


def test_parquet_without_a_column_names_file_and_column(tmp_path: Path) -> None:
    folder = tmp_path / "hf" / "data"
    folder.mkdir(parents=True)
    table = pa.table({"question_id": pa.array([1], pa.int32()), "question": ["q"], "image": pa.array([{"bytes": b"x", "path": None}], IMAGE)})
    pq.write_table(table, folder / "validation-00000-of-00001.parquet")
    with pytest.raises(DatasetError, match=r"validation-00000-of-00001\.parquet has no column 'answers'.*lmms-lab/textvqa"):
        _task("textvqa", source="hf", hf_path=str(tmp_path / "hf"), image_cache=str(tmp_path / "c")).load_samples()


def test_parquet_without_the_split(tmp_path: Path) -> None:
    (tmp_path / "hf" / "data").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"no parquet files .*data/validation-\*\.parquet"):
        _task("textvqa", source="hf", hf_path=str(tmp_path / "hf")).load_samples()


# -- official layouts and their errors -------------------------------------------------------------

def test_docvqa_reads_the_tarball_and_mirror_layouts(tmp_path: Path) -> None:
    # val.tar.gz: val/val_v1.0.json beside val/documents/.
    write_docvqa_official(tmp_path / "tar" / "val")
    samples = _task("docvqa", data_dir=str(tmp_path / "tar")).load_samples()
    assert samples[0].image == tmp_path / "tar" / "val" / "documents" / "pybv0228_81.png"
    # Annotations at the top, images under val/ (as big_vision expects), with question types.
    write_docvqa_official(tmp_path / "mirror" / "val")
    (tmp_path / "mirror" / "val" / "val_v1.0.json").rename(tmp_path / "mirror" / "val_v1.0_withQT.json")
    samples = _task("docvqa", data_dir=str(tmp_path / "mirror")).load_samples()
    assert samples[2].image == tmp_path / "mirror" / "val" / "documents" / "nkbl0226_1.png"
    assert [s.answers for s in samples] == [tuple(d[3]) for d in DOCVQA]


def test_missing_annotation_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"missing annotation file .*TextVQA_0\.5\.1_val\.json; expected .*question_id"):
        _task("textvqa", data_dir=str(tmp_path)).load_samples()
    with pytest.raises(DatasetError, match=r"missing DocVQA val annotations: looked for .*val_v1\.0\.json"):
        _task("docvqa", data_dir=str(tmp_path)).load_samples()


def test_malformed_json(tmp_path: Path) -> None:
    (tmp_path / "TextVQA_0.5.1_val.json").write_text('{"data": [', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"TextVQA_0\.5\.1_val\.json is not valid JSON"):
        _task("textvqa", data_dir=str(tmp_path)).load_samples()
    (tmp_path / "TextVQA_0.5.1_val.json").write_text('{"questions": []}', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"has no 'data' list"):
        _task("textvqa", data_dir=str(tmp_path)).load_samples()


def test_missing_field_names_the_entry_and_field(tmp_path: Path) -> None:
    write_textvqa_official(tmp_path)
    path = tmp_path / "TextVQA_0.5.1_val.json"
    content = json.loads(path.read_text())
    del content["data"][1]["image_id"]
    path.write_text(json.dumps(content))
    with pytest.raises(DatasetError, match=r"entry 1 has no field 'image_id'; expected TextVQA_0\.5\.1_<split>\.json"):
        _task("textvqa", data_dir=str(tmp_path)).load_samples()


def test_a_split_without_answers_is_refused(tmp_path: Path) -> None:
    write_docvqa_official(tmp_path)
    path = tmp_path / "val_v1.0.json"
    content = json.loads(path.read_text())
    for entry in content["data"]:
        del entry["answers"]
    path.write_text(json.dumps(content))
    with pytest.raises(DatasetError, match=r"entry 0 has no field 'answers', as in a test split"):
        _task("docvqa", data_dir=str(tmp_path)).load_samples()


def test_missing_image_folder(tmp_path: Path) -> None:
    write_textvqa_official(tmp_path)
    (tmp_path / "train_images").rename(tmp_path / "elsewhere")
    with pytest.raises(DatasetError, match=r"missing image folder .*train_images"):
        _task("textvqa", data_dir=str(tmp_path)).load_samples()
    assert len(_task("textvqa", data_dir=str(tmp_path), image_folder="elsewhere").load_samples()) == 4


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    write_textvqa_official(tmp_path)
    path = tmp_path / "TextVQA_0.5.1_val.json"
    content = json.loads(path.read_text())
    content["data"][1]["question_id"] = content["data"][0]["question_id"]
    path.write_text(json.dumps(content))
    with pytest.raises(DatasetError, match=r"sample id '34602' occurs twice"):
        _task("textvqa", data_dir=str(tmp_path)).load_samples()
