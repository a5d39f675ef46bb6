"""thbench's TextMonkey against what the released TextMonkey code computes (``data/README.md``):
pixels, the first shifted-window layer, the windows' features before and after the token
resampler, the global view, first-step logits, every greedy step through the KV cache and the
greedy tokens, and the encoder with per-window LoRA, at a tolerance that a 1e-5 relative
difference fails."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from model_adapters.qwen_vl.config import QwenVLConfig, QwenVLConfigError, VisualConfig
from model_adapters.qwen_vl.images import full_and_global_views
from model_adapters.qwen_vl.model import MonkeyModel
from model_adapters.qwen_vl.text_visual import TextMonkeyVisionTransformer
from tests.model_adapters.qwen_vl.parity import (
    TOLERANCE,
    assert_greedy_matches,
    assert_ids_match_outside_image_spans,
    fixture_prompt,
    relative_error,
)

FIXTURE = Path(__file__).parent / "data" / "textmonkey_tiny"
CASES = ["vqa_sign", "vqa_noise", "grounding_sign", "spotting_sign", "two_images"]

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def test_the_folder_reads_as_textmonkey_with_its_options():
    config = QwenVLConfig.from_folder(FIXTURE / "model")
    assert config.variant == "textmonkey"
    visual = config.visual
    assert (visual.add_window, visual.use_global, visual.resampler, visual.r, visual.image_size) == (True, True, True, 512, 896)
    assert visual.window_pos == (1, 2) and visual.lora_repeat_num == 0


def test_tokenizer_and_prompt_ids_match_the_release(reference, tokenizer, model):
    for case in reference["tokenizer"]:
        assert tokenizer.encode(case["text"]) == case["ids"]
        assert tokenizer.decode(case["ids"]) == case["decoded"]
    assert tokenizer.ids.image_start == reference["image_start_id"]
    assert model.image_token_span == reference["image_token_span"]
    for case in reference["cases"].values():
        mine = fixture_prompt(case, tokenizer, model.image_token_span, FIXTURE)
        assert_ids_match_outside_image_spans(case, mine, tokenizer, model.image_token_span)


@pytest.fixture(scope="module")
def sign_views() -> tuple[torch.Tensor, torch.Tensor]:
    full, global_view = full_and_global_views(Image.open(FIXTURE / "images" / "sign.png"), 896)
    return full[None], global_view[None]


def test_the_vision_encoder_matches_the_release_part_by_part(tensors, model, sign_views):
    full, global_view = sign_views
    torch.testing.assert_close(full[0, :, ::32, ::32], tensors["sign.pixels"], rtol=0, atol=1e-6)
    visual = model.transformer.visual
    recorded: dict[str, torch.Tensor] = {}
    hook = visual.transformer.window_attention[0].register_forward_hook(
        lambda module, args, output: recorded.update(before=args[0], after=output))
    try:
        with torch.no_grad():
            local = visual.local_features(full)[0]
            global_features = visual(global_view)[0]
    finally:
        hook.remove()
    for name in ("before", "after"):
        grid = recorded[name][0, ::4, ::4].permute(2, 0, 1)  # channels first, as the release keeps it
        key = "input" if name == "before" else "output"
        assert relative_error(grid, tensors[f"sign.window_attention_0_{key}"]) < TOLERANCE
    assert relative_error(local[::2], tensors["sign.local_features"]) < TOLERANCE
    assert relative_error(global_features, tensors["sign.global_features"]) < TOLERANCE


def test_the_token_resamplers_choice_is_far_from_a_tie(reference):
    """So that float32 rounding (another BLAS, another CPU) cannot change which tokens it keeps."""
    assert min(reference["token_resampler_margin"].values()) > 5e-6


def test_image_features_after_token_resampling_match_the_release(tensors, model):
    with torch.no_grad():
        features = model.image_features([Image.open(FIXTURE / "images" / "sign.png")])[0]
    assert features.shape[0] == model.image_token_span == 768
    assert relative_error(features, tensors["sign.image_features"]) < TOLERANCE


@pytest.mark.parametrize("name", CASES)
def test_logits_and_greedy_tokens_match_the_release(name, reference, tensors, tokenizer, model):
    assert_greedy_matches(model, tokenizer, reference, tensors, name, FIXTURE)


def test_the_tolerance_catches_a_relative_error_of_1e_5(tensors):
    features = tensors["sign.image_features"]
    nudged = features.clone()
    nudged[3, 5] += 1e-5 * features.abs().max()
    assert relative_error(nudged, features) > TOLERANCE


def encoder_with_lora(model: MonkeyModel, adapters: int) -> TextMonkeyVisionTransformer:
    """The folder's vision encoder with the fixture's LoRA adapters (the first ``adapters``)."""
    raw = json.loads((FIXTURE / "model" / "config.json").read_text(encoding="utf-8"))["visual"]
    encoder = TextMonkeyVisionTransformer(VisualConfig.from_dict({**raw, "lora_repeat_num": adapters}, "config.json"))
    weights = {name.removeprefix("transformer.visual."): tensor for name, tensor in model.state_dict().items()
               if name.startswith("transformer.visual.")}
    for name, tensor in load_file(FIXTURE / "lora_visual.safetensors").items():
        if int(re.search(r"_lora\.(\d+)\.", name).group(1)) < adapters:
            weights[name] = tensor.float()
    encoder.load_state_dict(weights, strict=True)
    return encoder.eval()


@pytest.mark.parametrize("adapters", [4, 1])
def test_per_window_lora_matches_the_release(adapters, tensors, model):
    """Four adapters: window k reads adapter k; one adapter: every window reads it."""
    with torch.no_grad():
        features = encoder_with_lora(model, adapters).encode([Image.open(FIXTURE / "images" / "sign.png")])[0]
    assert relative_error(features[::4], tensors[f"sign.lora_{adapters}_features"]) < TOLERANCE
    assert relative_error(features[::4], tensors["sign.image_features"][::4]) > 1e-3  # the adapters matter


@pytest.mark.parametrize(("change", "message"), [
    ({"n_queries": 1024}, "n_queries 1024 is not the span its encoder makes \\(768"),
    ({"image_size": [896, 448]}, "not square"),
    ({"lora_repeat_num": 2}, "lora_repeat_num 2 is neither 0, 1 nor one per 448-pixel window"),
    ({"window_dim": [16]}, "differ in length"),
])
def test_inconsistent_visual_options_are_refused_with_the_reason(change, message):
    raw = json.loads((FIXTURE / "model" / "config.json").read_text(encoding="utf-8"))
    raw["visual"].update(change)
    with pytest.raises(QwenVLConfigError, match=message):
        QwenVLConfig.from_dict(raw)
