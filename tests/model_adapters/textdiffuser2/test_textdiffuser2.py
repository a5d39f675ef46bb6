"""``textdiffuser2`` against the released procedure (the fixture in ``release/``, made by
``make_fixture.py`` with the release's library versions), and ``thbench run`` on its folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from parity import assert_relatively_close
from PIL import Image

from bench.adapter import ADAPTERS
from bench.options import OptionError
from bench.types import GenerateImageRequest
from model_adapters.textdiffuser2.layout import LayoutLine, layout_from_polygons, parse_layout, planner_prompt
from model_adapters.textdiffuser2.planner import LayoutPlanner, PlannerSettings
from model_adapters.textdiffuser2.sampler import ImageModel, SamplingSettings, to_pil
from model_adapters.textdiffuser2.tokens import PromptTokenizer, basic_words

pytestmark = pytest.mark.usefixtures("single_torch_thread")

RELEASE = Path(__file__).parent / "release"
MODEL, BASE, PLANNER = RELEASE / "textdiffuser2-full-ft", RELEASE / "sd15", RELEASE / "layout_planner"
#: Largest difference allowed, relative to the reference's largest magnitude: a 1e-5 relative
#: error fails; float32 on other library versions stays below it.
RELATIVE = 3e-6


@pytest.fixture(scope="module")
def tokenizer() -> PromptTokenizer:
    return PromptTokenizer.from_folder(BASE / "tokenizer")


@pytest.fixture(scope="module")
def image_model() -> ImageModel:
    return ImageModel.load(MODEL, BASE, torch.device("cpu"), torch.float32)


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert_relatively_close(actual, expected, RELATIVE)


def test_planner_prompt_and_sampled_layout_tokens_equal_the_release(reference, recorded):
    planner = recorded["planner"]
    assert planner_prompt(planner["caption"]) == planner["prompt"]
    loaded = LayoutPlanner.load(PLANNER, torch.device("cpu"), torch.float32, PlannerSettings())
    assert loaded.prompt_ids(planner["caption"]) == reference["planner.input_ids"].tolist()
    before = torch.get_rng_state()
    ids, text = loaded.plan(planner["caption"], seed=planner["seed"])
    assert ids == reference["planner.output_ids"].tolist()
    assert text == planner["output"]
    assert torch.equal(torch.get_rng_state(), before)  # the seed was set in a forked state
    assert loaded.plan(planner["caption"], seed=planner["seed"] + 1)[0] != ids


def test_prompt_ids_equal_the_release(reference, recorded, tokenizer):
    assert tokenizer.length == recorded["tokenizer_length"]
    for index, (caption, layout) in enumerate(recorded["layout_cases"]):
        assert tokenizer.prompt_ids(caption, parse_layout(layout)) == reference[f"prompt.{index}"].tolist(), caption


def test_text_encoder_and_unet_equal_the_release(reference, recorded, tokenizer, image_model):
    caption, layout = recorded["layout_cases"][0]
    prompt = tokenizer.prompt_ids(caption, parse_layout(layout))
    assert_close(image_model.encode([prompt] * 2), reference["text_encoder.cond"])
    assert_close(image_model.encode([tokenizer.unconditional_ids()] * 2), reference["text_encoder.nocond"])
    for timestep in (951, 500, 1):
        noise = image_model.predict_noise(reference["unet.latents"], timestep, reference["text_encoder.cond"])
        assert_close(noise, reference[f"unet.noise.{timestep}"])


def test_two_step_sample_equals_the_release(reference, recorded, tokenizer, image_model):
    settings = SamplingSettings(steps=2, guidance_scale=7.5, size=64)
    seed = recorded["planner"]["seed"]
    from_states = image_model.denoise(reference["text_encoder.cond"], reference["text_encoder.nocond"], seed, settings)
    assert_close(from_states, reference["sample.latents"])
    caption, layout = recorded["layout_cases"][0]
    prompt = tokenizer.prompt_ids(caption, parse_layout(layout))
    latents = image_model.sample_latents(prompt, tokenizer.unconditional_ids(), 2, seed, settings)
    assert_close(latents, reference["sample.latents"])
    decoded = image_model.decode(latents)
    assert_close(decoded, reference["sample.decoded"])
    pixels = np.stack([np.asarray(image) for image in to_pil(decoded)]).astype(int)
    assert np.abs(pixels - reference["sample.pixels"].numpy().astype(int)).max() <= 1


def test_caption_cleaning_is_the_slow_tokenizers():
    assert basic_words("It's Ünïcode!!! 中文\u200b") == ["it", "'", "s", "unicode", "!", "!", "!", "中", "文"]


def test_layout_lines_from_planner_text_and_from_polygons():
    text = "Hello World 10,20,60,40\nbad line\nodd 1,2,x,4\n### 1,1,2,2\nshop.com 1,1,2,2\n\n 5 0,0,128,128 "
    assert parse_layout(text) == [LayoutLine("Hello World", (10, 20, 60, 40)), LayoutLine("5", (0, 0, 128, 128))]
    square = ((100.0, 50.0), (300.0, 50.0), (300.0, 150.0), (100.0, 150.0))
    outside = ((-10.0, 0.0), (600.0, 0.0), (600.0, 20.0), (-10.0, 20.0))
    assert layout_from_polygons(["A", "B"], [square, outside], (512, 256)) == [
        LayoutLine("A", (25, 25, 75, 75)), LayoutLine("B", (0, 0, 128, 10))
    ]


def test_a_missing_planner_is_refused_before_loading():
    with pytest.raises(OptionError, match="planner=/path"):
        ADAPTERS.get("textdiffuser2").from_args({"model": str(MODEL), "base": str(BASE)})
    ADAPTERS.get("textdiffuser2").from_args({"model": str(MODEL), "base": str(BASE), "layout": "given"})


def test_given_positions_replace_the_planner(tokenizer):
    adapter = ADAPTERS.get("textdiffuser2").from_args(
        {"model": str(MODEL), "base": str(BASE), "planner": str(PLANNER), "device": "cpu", "size": "16", "steps": "2",
         "planner_max_new_tokens": "8"}
    )
    adapter.load()
    box = ((32.0, 64.0), (96.0, 64.0), (96.0, 96.0), (32.0, 96.0))
    placed = GenerateImageRequest(key="k", prompt="a sign", texts=("OK",), positions=(box,), width=128, height=128)
    assert adapter.layout(placed) == [LayoutLine("OK", (32, 64, 96, 96))]
    (image,) = adapter.generate_image([placed])[0]
    assert image.size == (128, 128)


def _write_mario(root: Path) -> Path:
    folder = root / "MARIOEval" / "LAIONEval4000"
    folder.mkdir(parents=True)
    (folder / "LAIONEval4000.txt").write_text("A sign that says 'Open Late'\na mug with 'Cafe' printed\n'Jazz' night poster\n")
    return root / "MARIOEval"


def _write_anytext(root: Path) -> Path:
    """Three AnyText-benchmark items (one without a line to write) in the released layout."""
    folder = root / "AnyText-benchmark" / "laion_word"
    (folder / "imgs").mkdir(parents=True)
    items = []
    for index, words in enumerate([["OPEN"], ["Cafe", "24h"], []]):
        name = f"{index}.jpg"
        Image.new("RGB", (256, 256), "white").save(folder / "imgs" / name)
        lines = [{"polygon": [[10, 10 + 60 * i], [200, 10 + 60 * i], [200, 60 + 60 * i], [10, 60 + 60 * i]], "text": word,
                  "pos": 0, "language": "Latin", "valid": True} for i, word in enumerate(words)]
        items.append({"img_name": name, "caption": f"a shop sign {index}", "annotations": lines})
    (folder / "test1k.json").write_text(json.dumps({"data_root": "imgs", "data_list": items}))
    return root / "AnyText-benchmark"


@pytest.mark.slow
def test_runs_mario_eval_and_anytext_generate_at_any_batch_size(run_cli, tmp_path):
    mario, anytext = _write_mario(tmp_path), _write_anytext(tmp_path)
    args = f"model={MODEL},base={BASE},planner={PLANNER},device=cpu,size=16,steps=2,planner_max_new_tokens=16"
    tasks = "mario-eval,anytext-generate"
    task_args = ["--task-args", f"mario-eval:data_dir={mario},subsets=LAIONEval4000,num_images=2,size=32",
                 "--task-args", f"anytext-generate:num_images=2,data_dir={anytext},subset=laion_word"]
    images = []
    for batch_size in ("1", "3"):
        result = run_cli("textdiffuser2", args, tasks, "--limit", "3", "--batch-size", batch_size, *task_args,
                         name=f"batch-{batch_size}")
        assert result.code == 0
        for task in tasks.split(","):
            records = result.predictions(task)
            assert len(records) == 3 and all(record["error"] is None for record in records)
        images.append({task: result.image_bytes(task) for task in tasks.split(",")})
    assert images[0] == images[1]
    first = next(iter(images[0]["mario-eval"].values()))
    assert len(first) == 2 and first[0] != first[1]
    assert result.manifest()["adapter"]["runtime"]["scheduler_class"] == "DDPMScheduler"
