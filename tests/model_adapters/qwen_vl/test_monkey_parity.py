"""thbench's Monkey against what the released Monkey code computes (``data/README.md``):
tokenizer, image features, first-step logits, every greedy step through the KV cache, and
the greedy tokens, at a tolerance that a 1e-5 relative difference fails."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from model_adapters.qwen_vl.generation import Prompt
from model_adapters.qwen_vl.images import window_views
from model_adapters.qwen_vl.model import MonkeyModel
from model_adapters.qwen_vl.tokenizer import QwenTokenizer
from tests.model_adapters.qwen_vl.parity import (
    TOLERANCE,
    assert_greedy_matches,
    assert_ids_match_outside_image_spans,
    relative_error,
)
from tests.model_adapters.qwen_vl.parity import fixture_prompt as parity_prompt
from tests.model_adapters.release_checkpoints import assert_bin_weights_load_the_same, assert_foreign_and_missing_tensors_are_refused

FIXTURE = Path(__file__).parent / "data" / "monkey_tiny"

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def fixture_prompt(case: dict, tokenizer: QwenTokenizer, span: int) -> Prompt:
    return parity_prompt(case, tokenizer, span, FIXTURE)


def test_the_tokenizer_encodes_and_decodes_as_released(reference, tokenizer):
    for case in reference["tokenizer"]:
        assert tokenizer.encode(case["text"]) == case["ids"]
        assert tokenizer.decode(case["ids"]) == case["decoded"]
    assert tokenizer.ids.image_start == reference["image_start_id"]


def test_prompt_ids_match_the_release_outside_the_image_spans(reference, tokenizer, model):
    assert model.image_token_span == reference["image_token_span"]
    for case in reference["cases"].values():
        mine = fixture_prompt(case, tokenizer, model.image_token_span)
        assert_ids_match_outside_image_spans(case, mine, tokenizer, model.image_token_span)


def test_image_features_match_the_release(tensors, model):
    views = window_views(Image.open(FIXTURE / "images" / "sign.png"), model.config.visual.image_size)
    torch.testing.assert_close(views[4][:, ::32, ::32], tensors["sign.global_view"], rtol=0, atol=1e-6)
    with torch.no_grad():
        global_features = model.transformer.visual(views[None, 4])[0]
        window_features = model.transformer.visual(views[None, 2], window=2)[0]
    assert relative_error(global_features, tensors["sign.global_features"]) < TOLERANCE
    assert relative_error(window_features, tensors["sign.window_1_0_features"]) < TOLERANCE


@pytest.mark.parametrize("name", ["vqa_sign", "vqa_noise", "grounding_sign", "two_images", "text_only"])
def test_logits_and_greedy_tokens_match_the_release(name, reference, tensors, tokenizer, model):
    assert_greedy_matches(model, tokenizer, reference, tensors, name, FIXTURE)


def test_the_tolerance_catches_a_relative_error_of_1e_5(tensors):
    logits = tensors["vqa_sign.first_logits"]
    nudged = logits.clone()
    nudged[7] += 1e-5 * logits.abs().max()
    assert relative_error(nudged, logits) > TOLERANCE


def load(folder: Path) -> MonkeyModel:
    return MonkeyModel.from_folder(folder, torch.float32, torch.device("cpu"))


def test_pytorch_bin_weights_load_to_the_same_model(tmp_path, model):
    assert_bin_weights_load_the_same(FIXTURE / "model", model, load, tmp_path)


def test_a_checkpoint_with_a_foreign_tensor_or_a_missing_one_is_refused(tmp_path):
    assert_foreign_and_missing_tensors_are_refused(FIXTURE / "model", load, tmp_path, "transformer.extra.weight", "lm_head.weight")
