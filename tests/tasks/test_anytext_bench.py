"""AnyText-benchmark tasks: the official reading rules, the official Sen.ACC/NED aggregation on
scripted recogniser output, prompts, the TextHarmony profile, and the baselines end to end."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pytest
from PIL import Image

from bench.adapter import ADAPTERS, ModelAdapter
from bench.aggregate import aggregate
from bench.context import TaskContext
from bench.ocr.base import OCR_ENGINES, OcrEngine, OcrLine, OcrText
from bench.runner import RunConfig, run
from bench.store import PredictionRecord
from bench.task import TASKS
from bench.types import EditImageRequest, GenerateImageRequest, RequestKind, Response
from tasks.anytext_bench import anytext_prompt

BOX = [[10, 10], [200, 10], [200, 60], [10, 60]]


def annotation(text: str, polygon=BOX, **extra) -> dict:
    return {"polygon": polygon, "text": text, "pos": 0, "language": "Latin", "valid": True, **extra}


def write_benchmark(root: Path, items: list[dict], subset: str = "laion_word", data_root: str = "imgs") -> Path:
    folder = root / "AnyText-benchmark" / "benchmark" / subset
    (folder / "imgs").mkdir(parents=True)
    for item in items:
        Image.new("RGB", (256, 256), "white").save(folder / "imgs" / item["img_name"])
    (folder / "test1k.json").write_text(json.dumps({"data_root": data_root, "data_list": items}))
    return folder


def test_reads_items_as_the_official_loader(tmp_path):
    lines = [annotation(f"L{i}") for i in range(22)]
    items = [
        {"img_name": "a.jpg", "caption": "a * sign", "annotations": [
            annotation("Open"), annotation("gone", valid=False), annotation("empty", polygon=[]),
            annotation("abcdefghijklmnopqrstuvwxyz"), {"polygon": BOX, "text": "novalid"},
        ]},
        {"img_name": "b.jpg", "caption": "many lines", "annotations": lines},
        {"img_name": "c.jpg", "caption": "no text", "annotations": []},
    ]
    folder = write_benchmark(tmp_path, items)
    context = TaskContext(data_root=tmp_path)
    generate = TASKS.get("anytext-generate")(None, context)
    samples = generate.load_samples()
    assert [s.id for s in samples] == ["a.jpg", "b.jpg", "c.jpg"]
    assert samples[0].caption == "a   sign"
    assert samples[0].texts == ("Open", "abcdefghijklmnopqrst", "novalid")
    assert samples[1].texts == tuple(f"L{i}" for i in range(20))
    assert samples[0].image == folder / "imgs" / "a.jpg" and samples[0].polygons[0] == ((10.0, 10.0), (200.0, 10.0), (200.0, 60.0), (10.0, 60.0))
    assert generate.num_images == 4 and generate.language == "en"
    edit = TASKS.get("anytext-edit")(None, context)
    assert [s.id for s in edit.load_samples()] == ["a.jpg", "b.jpg"]  # nothing to edit in c.jpg
    request = edit.build_request(samples[0], "k")
    assert isinstance(request, EditImageRequest) and request.texts == samples[0].texts and request.num_images == 4


def test_prompts():
    assert anytext_prompt("a cup", 2) == "a cup, these texts are written on it: * , * ."
    assert anytext_prompt("a cup", 1) == "a cup, these texts are written on it: * ."
    assert anytext_prompt("a cup", 0) == "a cup"


def test_prompt_style_option(tmp_path):
    write_benchmark(tmp_path, [{"img_name": "a.jpg", "caption": "a cup", "annotations": [annotation("Tea")]}])
    context = TaskContext(data_root=tmp_path)
    plain = TASKS.get("anytext-generate")(None, context)
    sample = plain.load_samples()[0]
    request = plain.build_request(sample, "k")
    assert isinstance(request, GenerateImageRequest) and request.prompt == "a cup" and request.texts == ("Tea",)
    styled = TASKS.get("anytext-generate").from_args({"prompt_style": "anytext"}, context)
    assert styled.build_request(sample, "k").prompt == "a cup, these texts are written on it: * ."
    assert plain.sample_key(sample) != styled.sample_key(sample)
    rescored = TASKS.get("anytext-generate").from_args({"clip_weight": "2.5", "lang": "ch"}, context)
    assert plain.sample_key(sample) == rescored.sample_key(sample)  # scoring options keep the outputs


def test_anytext_itself_gets_its_own_prompts_unless_told_otherwise(tmp_path):
    write_benchmark(tmp_path, [{"img_name": "a.jpg", "caption": "a cup", "annotations": [annotation("Tea")]}])
    for profile, style in (("anytext", "anytext"), ("default", "caption"), ("textharmony", "caption")):
        task = TASKS.get("anytext-generate")(None, TaskContext(data_root=tmp_path, adapter_prompt_profile=profile))
        assert task.prompt_style == style
        named = TASKS.get("anytext-generate").from_args({"prompt_style": style}, TaskContext(data_root=tmp_path))
        sample = task.load_samples()[0]
        assert task.build_request(sample, "k").prompt == named.build_request(sample, "k").prompt
        assert task.sample_key(sample) == named.sample_key(sample), "auto and the style it chose are one configuration"
    caption = TASKS.get("anytext-generate").from_args({"prompt_style": "caption"},
                                                      TaskContext(data_root=tmp_path, adapter_prompt_profile="anytext"))
    assert caption.prompt_style == "caption"
    assert ADAPTERS.get("anytext").prompt_profile == "anytext"


@dataclass(frozen=True)
class QueueOptions:
    #: JSON list of readings, handed out in order, one per crop.
    script: str = ""


class QueuedReadings(OcrEngine):
    """Returns fixed readings in the order crops arrive (image by image, line by line)."""

    Options = QueueOptions

    def __init__(self, options: QueueOptions | None = None) -> None:
        super().__init__(options)
        self._readings = list(json.loads(Path(self.options.script).read_text()))

    def read_page(self, image: Image.Image) -> list[OcrLine]:
        raise NotImplementedError

    def read_crops(self, crops: Sequence[Image.Image]) -> list[OcrText]:
        taken, self._readings = self._readings[: len(crops)], self._readings[len(crops) :]
        return [OcrText(text, 1.0) for text in taken]

    def version(self) -> str:
        return "queued"


class BlankAdapter(ModelAdapter):
    """White images for both kinds: nothing to read."""

    supported_kinds = frozenset({RequestKind.GENERATE_IMAGE, RequestKind.EDIT_IMAGE})

    def generate_image(self, requests: Sequence[GenerateImageRequest]) -> list[list[Image.Image]]:
        return [[Image.new("RGB", (r.width, r.height), "white") for _ in range(r.num_images)] for r in requests]

    def edit_image(self, requests: Sequence[EditImageRequest]) -> list[list[Image.Image]]:
        return [[Image.new("RGB", r.image.size, "white") for _ in range(r.num_images)] for r in requests]


OCR_ENGINES.add("test-queued-readings", QueuedReadings)
ADAPTERS.add("test-blank-anytext", BlankAdapter)


def _levenshtein(a: list, b: list) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _official_ids(text: str) -> list[int]:
    """en_dict.txt numbering: "sos" 0, "0".."~" then "!".."/", the space (and anything else) last."""
    order = [chr(c) for c in range(0x30, 0x7F)] + [chr(c) for c in range(0x21, 0x30)]
    ids = {c: i + 1 for i, c in enumerate(order)}
    return [ids.get(c, 96) for c in text]


@pytest.mark.parametrize("protocol", ["anytext", "textharmony"])
def test_aggregate_equals_the_official_script(tmp_path, protocol):
    items = [
        {"img_name": "a.jpg", "caption": "x", "annotations": [annotation("Open"), annotation("Caf\u00e9 24")]},
        {"img_name": "b.jpg", "caption": "y", "annotations": [annotation("Jazz Night")]},
        {"img_name": "c.jpg", "caption": "z", "annotations": []},
        {"img_name": "d.jpg", "caption": "w", "annotations": [annotation("SALE"), annotation("50%"), annotation("Now")]},
    ]
    write_benchmark(tmp_path, items)
    images = 4 if protocol == "anytext" else 1
    pool = ["Open", "open", "Caf\u00fc 24", "Jazz Nite", "", "SALE", "5O%", "now!", "Now", "Jazz Night"]
    readings, official_sen, official_ned = [], [], []
    for item_index, item in enumerate(items):
        for image in range(images):
            for line_index, line in enumerate(item["annotations"]):
                reading = pool[(item_index * 7 + image * 3 + line_index) % len(pool)]
                readings.append(reading)
                pred, gt = reading, line["text"]
                if protocol == "textharmony":  # lowercase, keep [a-z0-9]
                    pred = "".join(c for c in pred.lower() if c.isascii() and c.isalnum())
                    gt = "".join(c for c in gt.lower() if c.isascii() and c.isalnum())
                official_sen.append(1 if pred == gt else 0)
                p_ids, g_ids = _official_ids(pred), _official_ids(gt)
                official_ned.append(1 - _levenshtein(p_ids, g_ids) / (max(len(p_ids), len(g_ids)) + 1e-5))
    (tmp_path / "readings.json").write_text(json.dumps(readings))
    context = TaskContext(data_root=tmp_path, ocr_engine="test-queued-readings", ocr_options={"script": str(tmp_path / "readings.json")})
    task = TASKS.get("anytext-generate").from_args({"protocol": protocol}, context)
    records = []
    for sample in task.load_samples():
        response = Response(images=tuple(Image.new("RGB", (256, 256), "white") for _ in range(task.num_images)))
        scored = task.score(sample, response)
        records.append(PredictionRecord(key=sample.id, id=sample.id, request_fingerprint="", scoring_fingerprint="", seed=0,
                                        prompt="", scores=dict(scored.scores)))
    summary = aggregate(task, records)
    assert summary["metrics"]["sentence_accuracy"]["value"] == pytest.approx(sum(official_sen) / len(official_sen), abs=1e-12)
    assert summary["metrics"]["ned"]["value"] == pytest.approx(sum(official_ned) / len(official_ned), abs=1e-12)


def test_textharmony_profile(tmp_path):
    write_benchmark(tmp_path, [{"img_name": "a.jpg", "caption": "x", "annotations": [annotation("Hi")]}])
    task = TASKS.get("anytext-generate").from_args({"protocol": "textharmony"}, TaskContext(data_root=tmp_path))
    assert task.num_images == 1 and task.describe()["protocol"].startswith("TextHarmony")
    assert task.line_scores("HELLO, world", "Hello World!")["sentence_accuracy"] == 1.0
    with pytest.raises(ValueError, match="English only"):
        TASKS.get("anytext-generate").from_args({"protocol": "textharmony", "subset": "wukong_word"}, TaskContext(data_root=tmp_path))


def test_fid_reports_what_is_missing(tmp_path):
    write_benchmark(tmp_path, [{"img_name": "a.jpg", "caption": "x", "annotations": [annotation("Hi")]}])
    task = TASKS.get("anytext-generate")(None, TaskContext(data_root=tmp_path))
    samples = task.load_samples()
    missing_reference = task.set_metrics(samples, [[tmp_path / "g.png"]])["fid"]
    assert missing_reference["value"] == "n/a" and "FID/laion-40k" in missing_reference["reason"]
    (tmp_path / "AnyText-benchmark" / "FID" / "laion-40k").mkdir(parents=True)
    missing_weights = task.set_metrics(samples, [[tmp_path / "g.png"]])["fid"]
    assert "pt_inception-2015-12-05-6726825d.pth" in missing_weights["reason"]


@pytest.mark.slow
def test_baselines_on_starter_items(starter_data, tmp_path):
    """glyph-render writes what is asked and is read back; white images read as nothing."""
    common = dict(context=TaskContext(data_root=starter_data), results_root=tmp_path, progress=False, limit=6)
    edit_args = {"starter-edit": {"num_images": "1"}}
    written = run(RunConfig(model="glyph-render", tasks=["starter-edit"], task_args=edit_args, **common)).tasks[0].summary
    assert written["errors"] == 0 and written["metrics"]["sentence_accuracy"]["value"] >= 0.95
    blank = run(RunConfig(model="test-blank-anytext", tasks=["starter-edit"], task_args=edit_args, **common)).tasks[0].summary
    assert blank["errors"] == 0 and blank["metrics"]["sentence_accuracy"]["value"] == 0.0
    generate_args = {"anytext-generate": {"num_images": "1", "data_dir": str(starter_data / "starter/edit"), "subset": "starter_word"}}
    generated = run(RunConfig(model="glyph-render", tasks=["anytext-generate"], task_args=generate_args, **common)).tasks[0].summary
    assert generated["metrics"]["sentence_accuracy"]["value"] >= 0.95 and generated["metrics"]["ned"]["value"] >= 0.95
