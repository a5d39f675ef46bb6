"""``anytext-diffusers`` on a tiny pipeline written in the folder with AnyText's call contract: the
opt-in, CLI runs for generation and editing at any batch size, where the positions land, and
the prompt and ordering rules the contract states."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bench.adapter import ADAPTERS
from bench.types import EditImageRequest, GenerateImageRequest
from model_adapters.anytext.port import quoted_prompt, reading_order_key, stacked_rows
from model_adapters.common.folders import ModelFolderError, RemoteCodeNotTrusted

pytestmark = pytest.mark.usefixtures("single_torch_thread")

WRITING_TASKS = "starter-t2i,starter-edit"


def test_refuses_to_run_the_pipeline_code_without_the_opt_in(run_cli, anytext_folder):
    with pytest.raises(RemoteCodeNotTrusted, match=r"tiny_anytext\.py.*trust_remote_code=true"):
        ADAPTERS.get("anytext-diffusers").from_args({"model": str(anytext_folder)})
    result = run_cli("anytext-diffusers", f"model={anytext_folder}", WRITING_TASKS)
    assert result.code == 2 and not result.run_dir.exists()


def test_writes_the_starter_tasks_at_any_batch_size(run_cli, anytext_folder):
    args = f"model={anytext_folder},trust_remote_code=true,device=cpu,size=16,steps=2"
    images = []
    for batch_size in ("1", "4"):
        result = run_cli("anytext-diffusers", args, WRITING_TASKS, "--limit", "4", "--batch-size", batch_size,
                         "--task-args", "starter-t2i:num_images=1,size=32", "--task-args", "starter-edit:num_images=1",
                         name=f"batch-{batch_size}")
        assert result.code == 0
        for task in WRITING_TASKS.split(","):
            assert all(record["error"] is None for record in result.predictions(task))
        images.append({task: result.image_bytes(task) for task in WRITING_TASKS.split(",")})
    assert images[0] == images[1]
    assert [len(images[0][task]) for task in WRITING_TASKS.split(",")] == [4, 4]
    record = result.predictions("starter-edit")[0]
    with Image.open(result.run_dir / record["images"][0]) as image:
        assert image.size == (512, 512)  # back to the source size
    assert result.manifest()["adapter"]["runtime"]["pipeline_class"] == "TinyAnyTextPipeline"


def test_an_edit_keeps_the_source_outside_the_text_positions(anytext_folder):
    adapter = ADAPTERS.get("anytext-diffusers").from_args(
        {"model": str(anytext_folder), "trust_remote_code": "true", "device": "cpu", "size": "16", "steps": "2"}
    )
    adapter.load()
    source = Image.fromarray(np.random.default_rng(1).integers(0, 255, (16, 16, 3), dtype=np.uint8))
    box = ((2.0, 9.0), (14.0, 9.0), (14.0, 14.0), (2.0, 14.0))
    request = EditImageRequest(key="k", prompt='a sign that reads "OLD"', image=source, polygons=(box,), texts=("NEW",), num_images=2)
    edited = [np.asarray(image) for image in adapter.edit_image([request])[0]]
    inside = np.zeros((16, 16), dtype=bool)
    inside[9:15, 2:15] = True  # the filled polygon, edges included
    for image in edited:
        assert (image[~inside] == np.asarray(source)[~inside]).all()
    assert not (edited[0][inside] == np.asarray(source)[inside]).all()
    assert not (edited[0] == edited[1]).all()  # image 1 has its own seed


def test_generation_without_positions_gets_a_row_per_text(anytext_folder):
    adapter = ADAPTERS.get("anytext-diffusers").from_args(
        {"model": str(anytext_folder), "trust_remote_code": "true", "device": "cpu", "size": "16", "steps": "2"}
    )
    adapter.load()
    request = GenerateImageRequest(key="k", prompt="a poster with 'SALE' and 'NOW'", texts=("SALE", "NOW"), width=32, height=24)
    (image,) = adapter.generate_image([request])[0]
    assert image.size == (32, 24)


def test_quoted_prompts_hold_exactly_the_texts_in_reading_order():
    assert quoted_prompt('a sign that reads "Bakery" and "Coffee"', ["Coffee", "Bakery"]) == 'a sign that reads "Coffee" and "Bakery"'
    assert quoted_prompt("A book cover titled 'Books'", ["Books"]) == 'A book cover titled "Books"'
    assert quoted_prompt("a cafe", ["OPEN", "24h"]) == 'a cafe, with "OPEN" "24h" written on it'
    assert quoted_prompt('a "fancy" cafe.', ["OPEN"]) == 'a fancy cafe, with "OPEN" written on it'
    assert quoted_prompt('a sign "A', ['say "hi"']) == "a sign A, with \"say 'hi'\" written on it"


def test_positions_are_ordered_by_row_band_then_column_band_then_raster_order():
    def box(x, y):
        return ((x, y), (x + 40, y), (x + 40, y + 20), (x, y + 20))

    # (row band, column band) of the centroid with 102 px bands, then the first pixel (y, x)
    assert reading_order_key(box(300, 10), 512) == (0, 3, 10, 300)
    assert reading_order_key(box(10, 90), 512) == (0, 0, 90, 10)  # centroid y = 100: still the first band
    assert reading_order_key(box(10, 200), 512) == (2, 0, 200, 10)
    assert reading_order_key(box(50, 30), 512) < reading_order_key(box(20, 50), 512)  # same cell: raster order
    rows = stacked_rows(3, 300)
    assert rows[0] == ((30.0, 20.0), (270.0, 20.0), (270.0, 80.0), (30.0, 80.0))
    assert [reading_order_key(row, 300)[:2] for row in rows] == [(0, 1), (1, 1), (2, 1)]
    with pytest.raises(ValueError, match="covers no pixel"):
        reading_order_key(box(600, 600), 512)


def test_a_folder_without_pipeline_code_is_refused(sd_folder, anytext_folder):
    with pytest.raises(ModelFolderError, match="holds no AnyText pipeline code.*custom_pipeline=FILE.py"):
        ADAPTERS.get("anytext-diffusers").from_args({"model": str(sd_folder), "trust_remote_code": "true"})
    with pytest.raises(ModelFolderError, match="missing.py does not exist"):
        ADAPTERS.get("anytext-diffusers").from_args({"model": str(anytext_folder), "custom_pipeline": "missing.py"})
    index = json.loads((anytext_folder / "model_index.json").read_text())
    assert index["_class_name"] == ["tiny_anytext", "TinyAnyTextPipeline"]
