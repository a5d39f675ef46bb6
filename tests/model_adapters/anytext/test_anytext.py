"""``anytext`` against the released code (the fixture in ``release/``, made by ``make_fixture.py``
with the release's library versions), and ``thbench run`` on its checkpoint."""

from __future__ import annotations

import json
import lzma
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from parity import assert_relatively_close
from PIL import Image

from bench.adapter import ADAPTERS
from bench.options import OptionError
from bench.types import EditImageRequest, GenerateImageRequest
from model_adapters.anytext.checkpoint import ReleaseFiles, part, read_config, read_state
from model_adapters.anytext.glyphs import FontError, draw_glyph_canvas, draw_glyph_line, draw_position, load_font
from model_adapters.anytext.model import AnyTextModel, Sampling
from model_adapters.anytext.ocr import normalize_line
from model_adapters.anytext.requests import TextLines, edit_canvas, placeholder_prompt
from model_adapters.anytext.sampler import Schedule
from model_adapters.anytext.text import split_chunks
from model_adapters.common.geometry import pixel_points

pytestmark = pytest.mark.usefixtures("single_torch_thread")

RELEASE = Path(__file__).parent / "release"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
#: Largest difference allowed, relative to the reference's largest magnitude: a 1e-5 relative
#: error fails; float32 on other library versions stays below it.
RELATIVE = 3e-6
#: The same for sampled latents, where guidance 9 magnifies each step's float32 noise.
RELATIVE_SAMPLED = 6e-6
needs_font = pytest.mark.skipif(not FONT.is_file(), reason=f"{FONT} missing: apt-get install fonts-dejavu-core")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture laid out as the ModelScope folder: the checkpoint (stored xz-compressed),
    ``models_yaml/`` and ``clip-vit-large-patch14/`` beside it."""
    root = tmp_path_factory.mktemp("anytext-release")
    (root / "anytext_v1.1.ckpt").write_bytes(lzma.decompress((RELEASE / "anytext_v1.1.ckpt.xz").read_bytes()))
    for name in ("models_yaml", "clip-vit-large-patch14"):
        shutil.copytree(RELEASE / name, root / name)
    return root


@pytest.fixture(scope="module")
def model(folder) -> AnyTextModel:
    files = ReleaseFiles.locate(folder / "anytext_v1.1.ckpt", None, None)
    return AnyTextModel.load(files, torch.device("cpu"), torch.float32)


@pytest.fixture(scope="module")
def stored_lines(reference, recorded) -> TextLines:
    """The release's own rendering of the fixture's texts, so that the model's numbers are
    compared on identical inputs (rendering is compared on its own below)."""
    count = len(recorded["texts"])
    arrays = [[reference[f"{name}.{index}"].numpy()[..., None].astype(np.float64) for index in range(count)]
              for name in ("glyph.line", "glyph.canvas", "position")]
    return TextLines(*arrays)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, relative: float = RELATIVE) -> None:
    assert_relatively_close(actual, expected, relative)


def test_checkpoint_is_the_releases_layout(folder):
    state = read_state(folder / "anytext_v1.1.ckpt")
    assert {key.split(".")[0] for key in state} >= {"model", "control_model", "first_stage_model", "cond_stage_model",
                                                     "embedding_manager", "text_predictor", "alphas_cumprod"}
    assert all(tensor.abs().gt(0).any() for key, tensor in state.items() if tensor.is_floating_point() and "." in key)
    assert "glyph_block.16.weight" in part(state, "control_model.")


def test_schedule_without_its_buffers_is_the_configs_linear_one(folder):
    state = read_state(folder / "anytext_v1.1.ckpt")
    params = read_config(folder / "models_yaml" / "anytext_sd15.yaml")["model"]["params"]
    stored = Schedule.from_checkpoint(state, params)
    computed = Schedule.from_checkpoint({}, params)
    assert torch.equal(stored.alphas_cumprod, computed.alphas_cumprod)
    assert stored.ddim_timesteps(20)[:3] == [1, 51, 101] and stored.ddim_timesteps(2) == [1, 501]


def test_recogniser_features_equal_the_release(model, reference, stored_lines):
    lines = [torch.from_numpy(line[..., 0]) for line in stored_lines.lines]
    normalized = torch.stack([normalize_line(line.float()[None].repeat(3, 1, 1) * 255) for line in lines])
    assert_close(normalized, reference["ocr.input"])
    features = model.text.line_features(lines)
    assert_close(features, reference["ocr.neck"])
    assert_close(model.text.recognizer.logits(features), reference["ocr.ctc"])
    assert_close(model.text.line_embeddings(lines), reference["embedding.lines"])


def test_prompt_states_equal_the_release(model, reference, recorded, stored_lines):
    lines = model.text.line_embeddings([torch.from_numpy(line[..., 0]) for line in stored_lines.lines])
    prompt = recorded["prompt"] + ", " + recorded["a_prompt"]
    assert model.text.token_ids([prompt]).tolist() == reference["text.ids.prompt"].tolist()
    assert model.text.token_ids([recorded["long_prompt"]]).tolist() == reference["text.ids.long"].tolist()
    assert_close(model.text.encode([prompt], lines), reference["text.prompt"])
    assert_close(model.text.encode([recorded["n_prompt"]], lines), reference["text.negative"])
    assert_close(model.text.encode([recorded["long_prompt"]], lines), reference["text.long"])
    assert_close(model.text.encode([""], lines), reference["text.empty"])
    assert reference["text.long"].shape[1] == 77 * math.ceil((reference["text.ids.long"].shape[1] - 2) / 75) > 77


def test_chunks_frame_each_75_tokens_and_pad_with_end_tokens():
    ids = torch.tensor([[1] + list(range(10, 90)) + [2]])
    first, second = split_chunks(ids)
    assert first.tolist() == [[1] + list(range(10, 85)) + [2]]
    assert second.tolist() == [[1] + list(range(85, 90)) + [2] * 71]
    (empty,) = split_chunks(torch.tensor([[1, 2]]))
    assert empty.tolist() == [[1] + [2] * 76]


def test_control_residuals_and_noise_prediction_equal_the_release(model, reference, stored_lines):
    latents, masked, timesteps = reference["unet.latents"], reference["unet.masked_x"], reference["unet.timesteps"]
    context = torch.cat([reference["text.prompt"], reference["text.negative"][:, :77]], dim=0)
    conditions = model.conditions(stored_lines, "", "", masked[:1], 2)
    glyphs, positions = conditions.glyphs, conditions.positions
    down, middle = model.networks.control.residuals(latents, timesteps, context, glyphs, positions, masked)
    controls = [reference[f"control.{index}"] for index in range(len(down) + 1)]
    for actual, expected in zip([*down, middle], controls):
        assert_close(actual, expected)
    assert f"control.{len(down) + 1}" not in reference
    assert_close(model.networks.noise(latents, timesteps, context, glyphs, positions, masked), reference["unet.eps"])


def test_vae_equals_the_release(model, reference):
    source = reference["edit.source"].permute(2, 0, 1)[None].float() / 127.5 - 1
    posterior = model.networks.encode(source)
    assert_close(posterior.mean, reference["vae.mean"])
    assert_close(posterior.std, reference["vae.std"])
    assert_close(model.networks.decode(reference["unet.latents"]), reference["vae.decoded"])


@pytest.mark.parametrize("mode", ["generate", "edit"])
def test_two_sampled_steps_equal_the_release(model, reference, recorded, stored_lines, mode):
    prompt = recorded["prompt"] + ", " + recorded["a_prompt"]
    source = reference["edit.source"].numpy() if mode == "edit" else None
    seed = recorded["seeds"][mode]
    generator = torch.Generator().manual_seed(seed)
    assert_close(model.masked_latents(stored_lines, source, generator), reference[f"{mode}.masked_x"])
    settings = Sampling(steps=recorded["steps"], guidance_scale=recorded["guidance_scale"])
    latents, pixels = model.sample(stored_lines, prompt, recorded["n_prompt"], source, seed, recorded["samples"], settings)
    assert_close(latents, reference[f"{mode}.latents"], RELATIVE_SAMPLED)
    expected = reference[f"{mode}.images"].numpy().astype(int)
    assert np.abs(pixels.astype(int) - expected).max() <= 1  # truncation to uint8 may flip at a boundary
    assert (pixels == expected).mean() > 0.99


@needs_font
def test_glyphs_and_positions_are_drawn_as_the_release_draws_them(reference, recorded):
    font = load_font(FONT)
    size = recorded["size"]
    for index, (text, polygon) in enumerate(zip(recorded["texts"], recorded["polygons"])):
        points = pixel_points(polygon)
        assert np.array_equal(draw_position(points, size, size)[..., 0], reference[f"position.{index}"].numpy())
        line = draw_glyph_line(font, text)[..., 0]
        canvas = draw_glyph_canvas(font, text, points, size, size)[..., 0]
        for drawn, name in ((line, "glyph.line"), (canvas, "glyph.canvas")):
            expected = reference[f"{name}.{index}"].numpy()
            assert drawn.shape == expected.shape and expected.any()
            assert (drawn == expected).mean() > 0.995, f"{name}.{index}: {(drawn != expected).sum()} pixels differ"


def test_prompts_get_one_placeholder_per_line():
    assert placeholder_prompt('a sign that says "OPEN" and "24h"', ["24h", "OPEN"]) == "a sign that says  *  and  * "
    assert placeholder_prompt("a shop sign", ["OPEN"]) == "a shop sign, with  *  written on it"
    assert placeholder_prompt("a shop sign, * , * .", ["A", "B"]) == "a shop sign, * , * ."
    assert placeholder_prompt("a * star", ["A", "B"]) == "a   star, with  *   *  written on it"


def test_edit_canvas_is_the_pipelines_resize():
    assert edit_canvas(np.zeros((500, 1000, 3), np.uint8)).shape == (384, 768, 3)
    assert edit_canvas(np.zeros((130, 100, 3), np.uint8)).shape == (128, 64, 3)
    with pytest.raises(ValueError, match="at least 64 px"):
        edit_canvas(np.zeros((63, 100, 3), np.uint8))


@needs_font
def test_requests_without_positions_and_odd_sized_sources(folder):
    adapter = ADAPTERS.get("anytext").from_args(
        {"checkpoint": str(folder / "anytext_v1.1.ckpt"), "font_path": str(FONT), "device": "cpu", "size": "64", "steps": "1"}
    )
    adapter.load()
    unplaced = GenerateImageRequest(key="g", prompt='a sign saying "HI"', texts=("HI", "there"), num_images=1, width=96, height=80)
    (image,) = adapter.generate_image([unplaced])[0]
    assert image.size == (96, 80)
    box = ((10.0, 10.0), (90.0, 10.0), (90.0, 40.0), (10.0, 40.0))
    source = Image.fromarray(np.full((70, 100, 3), 90, np.uint8))
    edit = EditImageRequest(key="e", prompt="a wall", image=source, polygons=(box,), texts=("NEW",), num_images=2)
    edited = adapter.edit_image([edit])[0]
    assert [image.size for image in edited] == [(100, 70)] * 2 and edited[0].tobytes() != edited[1].tobytes()


def test_missing_files_are_named_before_loading(folder, tmp_path):
    with pytest.raises(OptionError, match="checkpoint=PATH"):
        ADAPTERS.get("anytext").from_args({})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ADAPTERS.get("anytext").from_args({"checkpoint": str(tmp_path / "missing.ckpt")})
    with pytest.raises(FontError, match="font_path=FILE.ttf"):
        ADAPTERS.get("anytext").from_args({"checkpoint": str(folder / "anytext_v1.1.ckpt")})
    with pytest.raises(FileNotFoundError, match="clip=FOLDER"):
        ADAPTERS.get("anytext").from_args({"checkpoint": str(folder / "anytext_v1.1.ckpt"), "clip": str(tmp_path)})


def _write_benchmark(root: Path) -> Path:
    """Two AnyText-benchmark items in the released layout, with 128-px source images."""
    folder = root / "AnyText-benchmark" / "laion_word"
    (folder / "imgs").mkdir(parents=True)
    items = []
    for index, words in enumerate([["OPEN"], ["Cafe", "24h"]]):
        name = f"{index}.jpg"
        Image.fromarray(np.full((128, 128, 3), 40 + 80 * index, np.uint8)).save(folder / "imgs" / name)
        lines = [{"polygon": [[8, 8 + 56 * i], [120, 8 + 56 * i], [120, 52 + 56 * i], [8, 52 + 56 * i]], "text": word,
                  "pos": 0, "language": "Latin", "valid": True} for i, word in enumerate(words)]
        items.append({"img_name": name, "caption": f"a shop sign {index}", "annotations": lines})
    (folder / "test1k.json").write_text(json.dumps({"data_root": "imgs", "data_list": items}))
    return root / "AnyText-benchmark"


@needs_font
@pytest.mark.slow
def test_runs_generation_and_editing_from_the_checkpoint_at_any_batch_size(run_cli, folder, tmp_path):
    data = _write_benchmark(tmp_path)
    args = f"checkpoint={folder / 'anytext_v1.1.ckpt'},font_path={FONT},device=cpu,size=64,steps=2"
    tasks = "anytext-generate,anytext-edit"
    common = f"num_images=2,data_dir={data},subset=laion_word"
    task_args = ["--task-args", f"anytext-generate:{common}", "--task-args", f"anytext-edit:{common}"]
    images = []
    for batch_size in ("1", "2"):
        result = run_cli("anytext", args, tasks, "--limit", "2", "--batch-size", batch_size, *task_args, name=f"batch-{batch_size}")
        assert result.code == 0
        for task in tasks.split(","):
            records = result.predictions(task)
            assert len(records) == 2 and all(record["error"] is None for record in records)
        # AnyText's own prompt convention on AnyText-benchmark, without being asked for it.
        assert all("these texts are written on it: *" in record["prompt"] for record in result.predictions("anytext-generate"))
        images.append({task: result.image_bytes(task) for task in tasks.split(",")})
    assert images[0] == images[1]
    first = next(iter(images[0]["anytext-generate"].values()))
    assert len(first) == 2 and first[0] != first[1]
    assert result.manifest()["adapter"]["runtime"]["sampler"] == "DDIM (eta 0)"
