"""``diffusers-t2i`` and ``diffusers-inpaint`` on a 16×16 Stable Diffusion: CLI runs on the
starter writing tasks at two batch sizes, per-image seeds, masks and early refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bench.adapter import ADAPTERS
from bench.options import OptionError
from bench.types import EditImageRequest, GenerateImageRequest
from model_adapters.common.folders import ModelFolderError
from model_adapters.common.geometry import polygon_mask, scale_polygon
from tests.model_adapters.conftest import tiny_models

pytestmark = pytest.mark.usefixtures("single_torch_thread")

FAST = "device=cpu,steps=2,height=16,width=16"


def test_generates_the_starter_prompts_at_any_batch_size(run_cli, sd_folder):
    images = []
    for batch_size in ("1", "4"):
        result = run_cli("diffusers-t2i", f"model={sd_folder},{FAST},scheduler=DPMSolverMultistep", "starter-t2i",
                         "--limit", "4", "--task-args", "starter-t2i:num_images=2", "--batch-size", batch_size,
                         name=f"batch-{batch_size}")
        assert result.code == 0
        records = result.predictions("starter-t2i")
        assert len(records) == 4 and all(record["error"] is None and len(record["images"]) == 2 for record in records)
        images.append(result.image_bytes("starter-t2i"))
    assert images[0] == images[1]
    with Image.open(result.run_dir / records[0]["images"][0]) as image:
        assert image.size == (16, 16)
    runtime = result.manifest()["adapter"]["runtime"]
    assert runtime["pipeline_class"] == "StableDiffusionPipeline"
    assert runtime["scheduler_class"] == "DPMSolverMultistepScheduler"
    assert runtime["settings"]["num_inference_steps"] == 2 and runtime["settings"]["guidance_scale"] == 7.5


def test_image_i_of_a_request_comes_from_seed_plus_i(sd_folder):
    adapter = ADAPTERS.get("diffusers-t2i").from_args({"model": str(sd_folder), "device": "cpu", "steps": "2"})
    adapter.load()
    def ask(seed, count):
        return GenerateImageRequest(key="k", prompt="a red sign", num_images=count, width=16, height=16, seed=seed)

    pair, single, shifted = (output.images for output in adapter.generate_image([ask(5, 2), ask(5, 1), ask(6, 1)]))
    assert pair[0].tobytes() == single[0].tobytes()
    assert pair[1].tobytes() == shifted[0].tobytes() != pair[0].tobytes()


def test_edits_the_starter_signs_at_any_batch_size(run_cli, sd_inpaint_folder):
    images = []
    for batch_size in ("1", "4"):
        result = run_cli("diffusers-inpaint", f"model={sd_inpaint_folder},{FAST}", "starter-edit", "--limit", "4",
                         "--task-args", "starter-edit:num_images=1", "--batch-size", batch_size, name=f"batch-{batch_size}")
        assert result.code == 0
        records = result.predictions("starter-edit")
        assert len(records) == 4 and all(record["error"] is None for record in records)
        images.append(result.image_bytes("starter-edit"))
    assert images[0] == images[1]
    with Image.open(result.run_dir / records[0]["images"][0]) as image:
        assert image.size == (512, 512)  # the source image's size, not the working size
    assert result.manifest()["adapter"]["runtime"]["pipeline_class"] == "StableDiffusionInpaintPipeline"


def test_a_given_mask_is_used_instead_of_the_polygons(sd_inpaint_folder):
    adapter = ADAPTERS.get("diffusers-inpaint").from_args({"model": str(sd_inpaint_folder), "device": "cpu", "steps": "2"})
    adapter.load()
    source = Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 24, 3), dtype=np.uint8))
    square = ((4.0, 4.0), (12.0, 4.0), (12.0, 12.0), (4.0, 12.0))
    def edit(mask):
        return EditImageRequest(key="k", prompt="a sign", image=source, polygons=(square,), texts=("HI",), mask=mask)

    from_polygons, from_same_mask, from_empty_mask = (output.images for output in adapter.edit_image([
        edit(None), edit(polygon_mask(source.size, [square])), edit(Image.new("L", source.size, 0)),
    ]))
    assert from_polygons[0].size == source.size
    assert from_polygons[0].tobytes() == from_same_mask[0].tobytes() != from_empty_mask[0].tobytes()


def test_polygon_masks_and_scaling():
    mask = np.asarray(polygon_mask((6, 4), [((1, 1), (4, 1), (4, 2), (1, 2))]))
    expected = np.zeros((4, 6), dtype=np.uint8)
    expected[1:3, 1:5] = 255
    assert (mask == expected).all()
    assert scale_polygon(((10, 20), (30, 40)), (100, 200), (50, 50)) == ((5.0, 5.0), (15.0, 10.0))


def test_bad_folders_and_options_are_refused_before_any_work(run_cli, sd_folder, tmp_path):
    not_a_pipeline = tmp_path / "weights"
    not_a_pipeline.mkdir()
    with pytest.raises(ModelFolderError, match="has no model_index.json"):
        ADAPTERS.get("diffusers-t2i").from_args({"model": str(not_a_pipeline)})
    with pytest.raises(OptionError, match="unknown diffusers scheduler 'Warp'; known: .*DDIM"):
        ADAPTERS.get("diffusers-t2i").from_args({"model": str(sd_folder), "scheduler": "Warp"})
    with pytest.raises(OptionError, match="'height' must be a positive multiple of 8"):
        ADAPTERS.get("diffusers-inpaint").from_args({"model": str(sd_folder), "height": "20"})
    result = run_cli("diffusers-t2i", f"model={not_a_pipeline}", "starter-t2i")
    assert result.code == 2 and not result.run_dir.exists()


def test_images_a_safety_checker_replaced_are_flagged_refused_and_the_checker_can_be_switched_off(run_cli, tmp_path_factory):
    folder = tiny_models.build_stable_diffusion_with_safety_checker(tmp_path_factory.mktemp("sd-checked"))
    checked = run_cli("diffusers-t2i", f"model={folder},{FAST}", "starter-t2i", "--limit", "2",
                      "--task-args", "starter-t2i:num_images=1", name="checked")
    assert checked.code == 0  # a refusal is scored, not a failure
    records = checked.predictions("starter-t2i")
    assert [record["refused"] for record in records] == ["the pipeline's safety checker replaced image 0 of 1"] * 2
    with Image.open(checked.run_dir / records[0]["images"][0]) as image:
        assert not np.asarray(image).any()  # the checker's black image, stored and scored as it is
    scores = json.loads((checked.run_dir / "scores.json").read_text())
    assert scores["tasks"]["starter-t2i"]["refused"] == 2 and scores["tasks"]["starter-t2i"]["errors"] == 0
    assert checked.manifest()["adapter"]["runtime"]["safety_checker"] == "StableDiffusionSafetyChecker"

    unchecked = run_cli("diffusers-t2i", f"model={folder},{FAST},safety_checker=off", "starter-t2i", "--limit", "2",
                        "--task-args", "starter-t2i:num_images=1", name="unchecked")
    records = unchecked.predictions("starter-t2i")
    assert unchecked.code == 0 and all("refused" not in record for record in records)
    with Image.open(unchecked.run_dir / records[0]["images"][0]) as image:
        assert np.asarray(image).any()
    manifest = unchecked.manifest()["adapter"]
    assert manifest["options"]["safety_checker"] == "off" and manifest["runtime"]["safety_checker"] == "NoneType"
