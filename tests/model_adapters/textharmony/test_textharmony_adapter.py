"""The harness adapters: registration, the three request kinds on the tiny model."""

from __future__ import annotations

import pytest
from PIL import Image

from bench.adapter import ADAPTERS
from bench.types import AnswerRequest, EditImageRequest, GenerateImageRequest, RequestKind
from model_adapters.common.folders import ModelFolderError


@pytest.fixture(scope="module")
def tiny_adapter():
    adapter = ADAPTERS.get("textharmony-tiny").from_args({"steps": "2"})
    adapter.load()
    return adapter


def test_both_adapters_are_registered_with_all_kinds():
    for name in ("textharmony", "textharmony-tiny"):
        cls = ADAPTERS.get(name)
        assert cls.supported_kinds == {RequestKind.ANSWER, RequestKind.GENERATE_IMAGE, RequestKind.EDIT_IMAGE}
        assert cls.prompt_profile == "textharmony"


def test_real_adapter_names_what_it_needs():
    with pytest.raises(ValueError, match="checkpoint=PATH"):
        ADAPTERS.get("textharmony").from_args({})


def test_missing_model_files_stop_the_run_before_anything_loads(run_cli, tmp_path):
    vicuna = tmp_path / "vicuna"
    vicuna.mkdir()
    build = ADAPTERS.get("textharmony").from_args
    with pytest.raises(FileNotFoundError, match=r"checkpoint .*nowhere\.bin does not exist"):
        build({"checkpoint": str(tmp_path / "nowhere.bin"), "vicuna": str(vicuna)})
    (tmp_path / "pytorch_model.binaa").write_bytes(b"first part")
    split = str(tmp_path / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="neither tokenizer.model nor tokenizer.json"):
        build({"checkpoint": split, "vicuna": str(vicuna)})
    (vicuna / "tokenizer.json").write_text("{}")
    (tmp_path / "sd2" / "unet").mkdir(parents=True)
    with pytest.raises(ModelFolderError, match=r"sd2/vae does not exist"):
        build({"checkpoint": split, "vicuna": str(vicuna), "sd2": str(tmp_path / "sd2")})
    assert build({"checkpoint": split, "vicuna": str(vicuna)}).pipeline is None  # nothing loaded yet
    result = run_cli("textharmony", f"checkpoint={tmp_path / 'nowhere.bin'},vicuna={vicuna}", "starter-textvqa")
    assert result.code == 2 and not result.run_dir.exists()


def test_answers_do_not_depend_on_batching(tiny_adapter, tmp_path):
    image_path = tmp_path / "a.png"
    Image.new("RGB", (30, 20), (250, 0, 0)).save(image_path)
    requests = [
        AnswerRequest(key="a", prompt="Based on the image, please answer the question. <image>what? The answer is:",
                      images=(image_path,), max_new_tokens=4),
        AnswerRequest(key="b", prompt="<image>colour?", images=(Image.new("RGB", (8, 8), (0, 0, 250)),), max_new_tokens=3),
    ]
    together = tiny_adapter.answer(requests)
    assert together == [tiny_adapter.answer([r])[0] for r in requests]
    assert tiny_adapter.describe()["text_generation"]["name"] == "greedy"


def test_generates_and_edits_at_the_requested_size(tiny_adapter):
    generated = tiny_adapter.generate_image(
        [GenerateImageRequest(key="g", prompt='a sign that says "OPEN"', num_images=2, width=40, height=40)]
    )
    assert [i.size for i in generated[0]] == [(40, 40), (40, 40)]
    polygon = ((5.0, 5.0), (30.0, 5.0), (30.0, 15.0), (5.0, 15.0))
    edited = tiny_adapter.edit_image(
        [EditImageRequest(key="e", prompt="", image=Image.new("RGB", (50, 30), "white"), polygons=(polygon,), texts=("HI",))]
    )
    assert edited[0][0].size == (50, 30)


def test_images_do_not_depend_on_batching_through_the_runner(starter_data, tmp_path):
    """Batch sizes 1 and 4 give byte-identical images, with torch using both cores."""
    import torch

    from bench.context import TaskContext
    from bench.runner import RunConfig, run

    torch.set_num_threads(2)
    pixels = []
    for batch_size in (1, 4):
        outcome = run(RunConfig(
            model="textharmony-tiny", tasks=["starter-t2i", "starter-edit"], model_args={"steps": "2"},
            task_args={"starter-t2i": {"num_images": "1"}, "starter-edit": {"num_images": "1"}},
            context=TaskContext(data_root=starter_data), limit=4, batch_size=batch_size,
            run_dir=tmp_path / f"batch{batch_size}", progress=False,
        ))
        from bench.store import RunStore

        stored = RunStore(outcome.run_dir)
        by_sample = {(task, key): [Image.open(outcome.run_dir / p).tobytes() for p in record.images]
                     for task in ("starter-t2i", "starter-edit") for key, record in stored.read_predictions(task).items()}
        assert sum(len(images) for images in by_sample.values()) == 8
        pixels.append(by_sample)
    assert pixels[0] == pixels[1]
