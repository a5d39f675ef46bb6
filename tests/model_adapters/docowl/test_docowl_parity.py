"""thbench's DocOwl 1.5 against what the released DocOwl code computes (``data/README.md``):
tokenizer, shape-adaptive crops, crop features, prompt ids, first-step logits, every greedy
step through the KV cache, the greedy tokens and the answer text, at a tolerance that a 1e-5
relative difference fails."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from model_adapters.mplug_docowl.generation import IMAGE_INDEX, Prompt, greedy
from model_adapters.mplug_docowl.images import GRID_9, conversation, crop, select_grid, user_turn
from model_adapters.mplug_docowl.model import DocOwlModel
from model_adapters.mplug_docowl.tokenizer import LlamaTokenizer, encode_prompt
from tests.model_adapters.release_checkpoints import assert_bin_weights_load_the_same, assert_foreign_and_missing_tensors_are_refused

FIXTURE = Path(__file__).parent / "data" / "docowl_tiny"
#: Largest difference allowed, relative to the largest magnitude of the reference.
TOLERANCE = 5e-6

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def relative_error(mine: torch.Tensor, reference: torch.Tensor) -> float:
    assert mine.shape == reference.shape
    return ((mine - reference).abs().max() / reference.abs().max()).item()


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((FIXTURE / "reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tensors() -> dict[str, torch.Tensor]:
    return load_file(FIXTURE / "reference.safetensors")


def load(folder: Path) -> DocOwlModel:
    return DocOwlModel.from_folder(folder, torch.float32, torch.device("cpu"))


@pytest.fixture(scope="module")
def model() -> DocOwlModel:
    return load(FIXTURE / "model")


@pytest.fixture(scope="module")
def tokenizer() -> LlamaTokenizer:
    return LlamaTokenizer.from_folder(FIXTURE / "model")


def image(name: str) -> Image.Image:
    return Image.open(FIXTURE / "images" / f"{name}.png")


def case_prompt(case: dict, tokenizer: LlamaTokenizer) -> tuple[str, Prompt]:
    crops = crop(image(case["image"]), 448, case["global_view"])
    text = conversation(user_turn([None, case["query"]], [crops]))
    return text, Prompt(tuple(encode_prompt(tokenizer, text, IMAGE_INDEX)), (crops,))


def test_the_tokenizer_encodes_and_decodes_as_released(reference, tokenizer):
    for case in reference["tokenizer"]:
        assert tokenizer.encode(case["text"]) == case["ids"], case["text"]
        assert tokenizer.decode(case["ids"]) == case["decoded"], case["text"]


def test_a_tokenizer_config_without_legacy_reads_as_transformers_4_31_did(reference, tmp_path):
    """Then the piece after a special token keeps its dummy-prefix space (legacy=True)."""
    shutil.copy(FIXTURE / "model" / "tokenizer.model", tmp_path)
    settings = json.loads((FIXTURE / "model" / "tokenizer_config.json").read_text(encoding="utf-8"))
    del settings["legacy"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    legacy = LlamaTokenizer.from_folder(tmp_path)
    cases = reference["tokenizer_legacy"]
    assert [case["ids"] for case in cases] != [case["ids"] for case in reference["tokenizer"]]
    for case in cases:
        assert legacy.encode(case["text"]) == case["ids"], case["text"]
        assert legacy.decode(case["ids"]) == case["decoded"], case["text"]


@pytest.mark.parametrize("name", ["doc", "small"])
def test_the_crops_match_the_release(name, reference, tensors):
    released = reference["images"][name]
    crops = crop(image(name), 448)
    assert list(crops.grid) == released["anchor"]
    # the global view's position is (9, 9), the largest grid side; the crops follow row by row
    assert released["patch_positions"] == [[9, 9]] + [list(p) for p in crops.positions]
    torch.testing.assert_close(crops.pixels[:, :, ::16, ::16], tensors[f"{name}.pixels_subsample"], rtol=0, atol=1e-6)
    torch.testing.assert_close(crops.pixels.double().sum(dim=(1, 2, 3)), tensors[f"{name}.pixels_sum"], rtol=1e-9, atol=1e-3)


def test_grid_choice_prefers_the_aspect_then_the_resolution():
    """Hand-worked cases of the release's rule: a 2.8:1 page gets one row of three crops, a
    square image smaller than one crop gets one crop, a larger square one 2x2, a very tall
    strip one column of nine."""
    assert GRID_9[select_grid(1400, 500, 448)] == (1, 3)
    assert GRID_9[select_grid(300, 300, 448)] == (1, 1)
    assert GRID_9[select_grid(900, 900, 448)] == (2, 2)
    assert GRID_9[select_grid(100, 4000, 448)] == (9, 1)


@pytest.mark.parametrize("name", ["doc", "small"])
def test_crop_features_match_the_release(name, tensors, model):
    with torch.no_grad():
        features = model.crop_features(crop(image(name), 448).pixels)
    assert features.shape[1] == model.config.image_tokens
    assert relative_error(features[0], tensors[f"{name}.features_global"]) < TOLERANCE
    assert relative_error(features[-1], tensors[f"{name}.features_last_crop"]) < TOLERANCE


@pytest.mark.parametrize("name", ["doc_what", "doc_total", "small_read", "doc_local"])
def test_prompt_logits_and_greedy_tokens_match_the_release(name, reference, tensors, tokenizer, model):
    case = reference["cases"][name]
    text, prompt = case_prompt(case, tokenizer)
    assert text == case["prompt"]
    assert list(prompt.ids) == case["input_ids"]
    out = greedy(model, [prompt], reference["max_new_tokens"], end_id=tokenizer.eos_id, keep_scores=True)
    assert out.tokens[0] == case["greedy_tokens"]
    assert tokenizer.decode(out.tokens[0]).strip().replace("</s>", "") == case["answer"]
    assert relative_error(out.scores[0][0], tensors[f"{name}.first_logits"]) < TOLERANCE
    assert relative_error(torch.stack(out.scores[0]), tensors[f"{name}.step_scores"]) < TOLERANCE


def test_the_tolerance_catches_a_relative_error_of_1e_5(tensors):
    logits = tensors["doc_what.first_logits"]
    nudged = logits.clone()
    nudged[7] += 1e-5 * logits.abs().max()
    assert relative_error(nudged, logits) > TOLERANCE


def test_pytorch_bin_weights_load_to_the_same_model(tmp_path, model):
    assert_bin_weights_load_the_same(FIXTURE / "model", model, load, tmp_path)


def test_a_checkpoint_with_a_foreign_tensor_or_a_missing_one_is_refused(tmp_path):
    assert_foreign_and_missing_tensors_are_refused(FIXTURE / "model", load, tmp_path, "model.extra.weight",
                                                   "model.layers.1.self_attn.k_proj.multiway.1.weight")
