"""MARIO-Eval task: the released layout, the official aggregation on scripted OCR output, the
baselines end to end, and the set-level scores (FID per seed, CLIPScore) or their absence."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
from PIL import Image

from bench.adapter import ADAPTERS, ModelAdapter
from bench.aggregate import aggregate
from bench.context import TaskContext
from bench.ocr.base import OCR_ENGINES, OcrEngine, OcrLine, OcrText
from bench.runner import RunConfig, run
from bench.store import PredictionRecord, RunStore
from bench.task import TASKS, DatasetError
from bench.types import GenerateImageRequest, RequestKind, Response

PROMPTS = {
    "LAIONEval4000": ["A sign that says 'Open Late'", "", "a mug with 'Cafe' printed", "poster 'Jazz' and 'Jazz'"],
    "DrawBenchText": ["a book titled 'Ocean'"],
}


def write_mario(root: Path, with_images: bool = True) -> Path:
    folder = root / "MARIOEval"
    for subset, lines in PROMPTS.items():
        (folder / subset).mkdir(parents=True)
        (folder / subset / f"{subset}.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    if with_images:
        images = folder / "LAIONEval4000" / "images"
        images.mkdir()
        rng = np.random.default_rng(0)
        for index in range(4):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(images / f"{index}.jpg")
    return folder


@dataclass(frozen=True)
class ScriptOptions:
    #: JSON {"<red>,<green>": ["word", ...]}: the words "read" on an image whose top-left pixel has that colour.
    script: str = ""


class ScriptedOcr(OcrEngine):
    """Reads a word list chosen by an image's top-left pixel, so aggregation can be checked on
    OCR outputs fixed in advance."""

    Options = ScriptOptions

    def read_page(self, image: Image.Image) -> list[OcrLine]:
        red, green = image.convert("RGB").getpixel((0, 0))[:2]
        words = json.loads(Path(self.options.script).read_text())[f"{red},{green}"]
        return [OcrLine(word, 1.0, ((0, 0), (1, 0), (1, 1), (0, 1))) for word in words]

    def read_crops(self, crops: Sequence[Image.Image]) -> list[OcrText]:
        raise NotImplementedError

    def version(self) -> str:
        return "scripted"


class BlankCanvasAdapter(ModelAdapter):
    """Returns white images: every OCR-based score must be zero."""

    supported_kinds = frozenset({RequestKind.GENERATE_IMAGE})

    def generate_image(self, requests: Sequence[GenerateImageRequest]) -> list[list[Image.Image]]:
        return [[Image.new("RGB", (r.width, r.height), "white") for _ in range(r.num_images)] for r in requests]


OCR_ENGINES.add("test-scripted-words", ScriptedOcr)
ADAPTERS.add("test-blank-canvas", BlankCanvasAdapter)


def test_reads_the_released_layout(tmp_path):
    write_mario(tmp_path)
    task = TASKS.get("mario-eval").from_args({"subsets": "LAIONEval4000+DrawBenchText"}, TaskContext(data_root=tmp_path))
    samples = task.load_samples()
    assert [s.id for s in samples] == ["LAIONEval4000/0", "LAIONEval4000/2", "LAIONEval4000/3", "DrawBenchText/0"]
    assert samples[0].keywords == ("open", "late") and samples[0].texts == ("Open Late",)
    assert samples[2].keywords == ("jazz", "jazz")
    request = task.build_request(samples[0], "k")
    assert request.num_images == 4 and request.texts == ("Open Late",) and (request.width, request.height) == (512, 512)
    root, annotations, images = task.dataset_files()
    assert len(annotations) == 2 and len(images) == 4


def test_missing_subset_names_the_file(tmp_path):
    write_mario(tmp_path)
    task = TASKS.get("mario-eval")(None, TaskContext(data_root=tmp_path))
    with pytest.raises(DatasetError, match=r"TMDBEval500[/\\]TMDBEval500\.txt"):
        task.load_samples()


def _official_totals(images: list[tuple[list[str], list[str]]]) -> dict[str, float]:
    """``ocr_eval.py`` written out: list removal per image, sums over images, F of the means."""
    p = r = acc = 0.0
    for pred, gt in images:
        pred, gt = [x.strip().lower() for x in pred], [x.strip().lower() for x in gt]
        pred_left, gt_left = list(pred), list(gt)
        for word in pred:
            if word in gt_left:
                pred_left.remove(word)
                gt_left.remove(word)
        p += (len(pred) - len(pred_left)) / (len(pred) + 1e-8)
        r += (len(gt) - len(gt_left)) / (len(gt) + 1e-8)
        acc += "".join(sorted(pred)) == "".join(sorted(gt))
    p, r, acc = p / len(images), r / len(images), acc / len(images)
    return {"precision": p, "recall": r, "accuracy": acc, "f_measure": 2 * p * r / (p + r + 1e-8)}


def test_aggregate_equals_the_official_script(tmp_path):
    write_mario(tmp_path, with_images=False)
    rng = np.random.default_rng(4)
    # single words, as a word spotter writes them (empty entries are covered by the metric's tests)
    vocabulary = ["open", "late", "Cafe", "jazz", "JAZZ", "ocean", "x", " Open "]
    script, images_by_sample, official_images = {}, [], []
    context = TaskContext(data_root=tmp_path, ocr_engine="test-scripted-words", ocr_options={"script": str(tmp_path / "script.json")})
    task = TASKS.get("mario-eval").from_args({"subsets": "LAIONEval4000+DrawBenchText"}, context)
    samples = task.load_samples()
    for index, sample in enumerate(samples):
        images = []
        for seed in range(4):
            colour = (index, seed, 0)
            words = [str(w) for w in rng.choice(vocabulary, size=rng.integers(0, 4))]
            script[f"{index},{seed}"] = words
            images.append(Image.new("RGB", (8, 8), colour))
            # the official script reads the same OCR lines and the keywords of the lowercased prompt
            official_images.append((words, [w for q in _quoted(sample.prompt.lower()) for w in q.split()]))
        images_by_sample.append(images)
    (tmp_path / "script.json").write_text(json.dumps(script))
    records = []
    for sample, images in zip(samples, images_by_sample):
        scored = task.score(sample, Response(images=tuple(images)))
        records.append(PredictionRecord(key=sample.id, id=sample.id, request_fingerprint="", scoring_fingerprint="", seed=0,
                                        prompt="", scores=dict(scored.scores)))
    summary = aggregate(task, records)
    expected = _official_totals(official_images)
    for name, value in expected.items():
        assert summary["metrics"][name]["value"] == pytest.approx(value, abs=1e-12), name


def _quoted(text: str) -> list[str]:
    parts = text.split("'")
    return parts[1::2][: (len(parts) - 1) // 2]


def _run(tmp_path: Path, model: str, **overrides):
    values = dict(
        model=model, tasks=["mario-eval"], context=TaskContext(data_root=tmp_path),
        task_args={"mario-eval": {"subsets": "LAIONEval4000", "num_images": "2", "size": "256"}},
        results_root=tmp_path / "runs", progress=False,
    )
    values.update(overrides)
    outcome = run(RunConfig(**values))
    return outcome, outcome.tasks[0].summary


def test_glyph_render_is_read_back_and_blank_images_score_zero(tmp_path):
    write_mario(tmp_path)
    outcome, summary = _run(tmp_path, "glyph-render", context=TaskContext(data_root=tmp_path, image_format="jpeg"))
    assert summary["errors"] == 0 and summary["metrics"]["accuracy"]["value"] >= 0.9
    assert summary["metrics"]["f_measure"]["value"] >= 0.9
    store = RunStore(outcome.run_dir)
    assert store.read_manifest()["image_format"] == "jpeg"
    stored = sorted((outcome.run_dir / "images" / "mario-eval").iterdir())
    assert len(stored) == 6 and all(p.suffix == ".jpg" for p in stored)
    fid = summary["set_metrics"]["fid"]
    assert fid["value"] == "n/a" and "pt_inception-2015-12-05-6726825d.pth" in fid["reason"]
    assert summary["set_metrics"]["clipscore"]["value"] == "n/a" and "--clip-model" in summary["set_metrics"]["clipscore"]["reason"]

    _, blank = _run(tmp_path, "test-blank-canvas")
    assert blank["errors"] == 0
    assert {name: blank["metrics"][name]["value"] for name in ("accuracy", "precision", "recall", "f_measure")} == {
        "accuracy": 0.0, "precision": 0.0, "recall": 0.0, "f_measure": 0.0
    }


@pytest.fixture
def one_thread():
    """Torch's thread pool only adds waiting on a busy two-core machine for networks this small."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def fid_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random checkpoint in the official layout (the real one cannot be downloaded here)."""
    import torch

    from bench.metrics.fid_weights import FID_WEIGHTS_FILENAME
    from bench.metrics.inception import FidInceptionV3

    torch.manual_seed(0)
    network = FidInceptionV3()
    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    path = tmp_path_factory.mktemp("fid") / FID_WEIGHTS_FILENAME
    torch.save({k: v for k, v in network.state_dict().items() if not k.endswith("num_batches_tracked")}, path)
    return path


@pytest.mark.slow
def test_fid_is_per_seed_against_the_ground_truth(tmp_path, fid_weights, one_thread, monkeypatch):
    """Each seed's images against the subset's images/ folder, then the mean: the same numbers
    as FID between the folders themselves."""
    from bench.metrics.fid import compute_fid

    write_mario(tmp_path)
    context = TaskContext(data_root=tmp_path, fid_weights=fid_weights)
    # 64 features (the first pooling tap) keep the random network cheap; the arithmetic is the same
    task = TASKS.get("mario-eval").from_args({"subsets": "LAIONEval4000+DrawBenchText", "fid_dims": "64"}, context)
    samples = task.load_samples()
    rng = np.random.default_rng(1)
    image_paths = []
    for index, sample in enumerate(samples):
        paths = []
        for seed in range(2):
            path = tmp_path / "generated" / f"{index}_{seed}.png"
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(path)
            paths.append(path)
        image_paths.append(paths)
    fid = task.set_metrics(samples, image_paths)["fid"]

    ground_truth = tmp_path / "MARIOEval" / "LAIONEval4000" / "images"
    direct = []
    for seed in range(2):
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        for sample, paths in zip(samples, image_paths):
            if sample.subset == "LAIONEval4000":
                shutil.copy(paths[seed], folder / paths[seed].name)
        direct.append(compute_fid(ground_truth, folder, fid_weights, dims=64))
    assert fid["per_subset"]["LAIONEval4000"]["per_seed"] == pytest.approx(direct, rel=1e-6)
    assert fid["value"] == pytest.approx(sum(direct) / 2, rel=1e-6)  # DrawBenchText has no images/
    assert set(fid["per_subset"]) == {"LAIONEval4000"} and fid["protocol"] == "pytorch-fid"
    assert fid["weights"] == "pt_inception-2015-12-05-6726825d.pth" and os.fspath(ground_truth) in fid["reference"]["LAIONEval4000"]

    # the reference statistics are cached: a second computation reads no reference image
    from bench.metrics import image_sets as image_set_metrics

    read: list[int] = []
    original = image_set_metrics.FidGroups.add
    monkeypatch.setattr(image_set_metrics.FidGroups, "add", lambda self, name, files: read.append(len(files)) or original(self, name, files))
    again = task.set_metrics(samples, image_paths)["fid"]
    assert again["value"] == pytest.approx(fid["value"], rel=1e-9)
    assert sum(read) == sum(len(paths) for sample, paths in zip(samples, image_paths) if sample.subset == "LAIONEval4000")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random CLIP saved in the hub layout, small enough to run in a test."""
    import string

    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    root = tmp_path_factory.mktemp("clip")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for letter in string.ascii_lowercase:
            vocab[letter + suffix] = len(vocab)
    (root / "vocab.json").write_text(json.dumps(vocab))
    (root / "merges.txt").write_text("#version: 0.2\n")
    folder = root / "tiny-clip"
    config = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 1,
                     "num_attention_heads": 4, "max_position_embeddings": 64, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
        vision_config={"image_size": 32, "patch_size": 8, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 1,
                       "num_attention_heads": 4},
        projection_dim=16,
    )
    torch.manual_seed(2)
    CLIPModel(config).save_pretrained(folder)
    CLIPTokenizer.from_pretrained(root).save_pretrained(folder)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def test_clipscore_pairs_each_image_with_the_prefixed_prompt(tmp_path, tiny_clip, one_thread):
    from bench.metrics.clipscore import clip_scores, load_clip

    write_mario(tmp_path, with_images=False)
    context = TaskContext(data_root=tmp_path, clip_model=tiny_clip)
    task = TASKS.get("mario-eval").from_args({"subsets": "LAIONEval4000"}, context)
    samples = task.load_samples()
    rng = np.random.default_rng(2)
    image_paths = []
    for index, _ in enumerate(samples):
        paths = []
        for seed in range(2):
            path = tmp_path / f"{index}_{seed}.png"
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
            paths.append(path)
        image_paths.append(paths)
    clip = task.set_metrics(samples, image_paths)["clipscore"]
    model, processor = load_clip(tiny_clip)
    per_seed = []
    for seed in range(2):
        images = [Image.open(paths[seed]).convert("RGB") for paths in image_paths]
        texts = ["A photo depicts " + sample.prompt for sample in samples]
        per_seed.append(float(clip_scores(model, processor, images, texts, weight=1.0).double().mean()))
    assert clip["per_seed"] == pytest.approx(per_seed, abs=1e-6)
    assert clip["value"] == pytest.approx(sum(per_seed) / 2, abs=1e-6)
    assert clip["weight"] == 1.0 and clip["prefix"] == "A photo depicts "


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA device")
def test_set_metrics_on_the_gpu_equal_those_on_the_cpu(tmp_path, fid_weights, tiny_clip):
    """Features extracted on the model's device give the CPU's FID and CLIPScore."""
    write_mario(tmp_path)
    rng = np.random.default_rng(3)
    results = {}
    for device in ("cpu", "cuda"):
        context = TaskContext(data_root=tmp_path, fid_weights=fid_weights, clip_model=tiny_clip, adapter_device=device)
        task = TASKS.get("mario-eval").from_args({"subsets": "LAIONEval4000", "fid_dims": "64"}, context)
        samples = task.load_samples()
        image_paths = []
        for index, _ in enumerate(samples):
            path = tmp_path / "generated" / f"{index}.png"
            if not path.is_file():
                path.parent.mkdir(exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
            image_paths.append([path])
        results[device] = task.set_metrics(samples, image_paths)
    assert results["cuda"]["fid"]["value"] == pytest.approx(results["cpu"]["fid"]["value"], rel=1e-5)
    assert results["cuda"]["clipscore"]["value"] == pytest.approx(results["cpu"]["clipscore"]["value"], rel=1e-5)
