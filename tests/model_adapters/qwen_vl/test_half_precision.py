"""The native Monkey and TextMonkey in bfloat16 and float16 (the release's GPU dtypes) stays close to float32:
weights cast at load, image features in the model's dtype, rotary and norms computed in
float32 as the release does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from model_adapters.qwen_vl.generation import Prompt, greedy
from model_adapters.qwen_vl.images import full_and_global_views
from model_adapters.qwen_vl.model import MonkeyModel
from model_adapters.qwen_vl.tokenizer import QwenTokenizer, encode_with_images

FIXTURES = Path(__file__).parent / "data"

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def run(fixture: Path, dtype: torch.dtype):
    model = MonkeyModel.from_folder(fixture / "model", dtype, torch.device("cpu"))
    tokenizer = QwenTokenizer.from_folder(fixture / "model")
    sign = Image.open(fixture / "images" / "sign.png")
    prompts = [
        Prompt(tuple(encode_with_images(tokenizer, [None, "What is written? Answer:"], model.image_token_span)), (sign,)),
        Prompt(tuple(tokenizer.encode("Hello"))),
    ]
    assert next(model.parameters()).dtype == dtype
    return greedy(model, prompts, 4, tokenizer.ids.end_of_text, tokenizer.ids.image_start, keep_scores=True)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_follows_float32(dtype):
    reference, half = run(FIXTURES / "monkey_tiny", torch.float32), run(FIXTURES / "monkey_tiny", dtype)
    assert half.tokens == reference.tokens
    for row in range(2):
        exact, rounded = reference.scores[row][0], half.scores[row][0]
        assert (exact - rounded).abs().max() < 0.03 * exact.abs().max()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_textmonkey_in_half_precision_follows_float32_up_to_the_token_resampler(dtype):
    """The token resampler keeps the tokens least similar to the others, a choice rounding may
    change (the release's bfloat16 run chooses as its own rounding makes it): the windows'
    features before it, and the global view, stay close; the whole model decodes with finite
    scores."""
    fixture = FIXTURES / "textmonkey_tiny"
    sign = Image.open(fixture / "images" / "sign.png")
    full, global_view = full_and_global_views(sign, 896)
    parts = {}
    for kind in (torch.float32, dtype):
        visual = MonkeyModel.from_folder(fixture / "model", kind, torch.device("cpu")).transformer.visual
        with torch.no_grad():
            parts[kind] = [visual.local_features(full[None]).float(), visual(global_view[None]).float()]
    for exact, rounded in zip(parts[torch.float32], parts[dtype]):
        assert (exact - rounded).abs().max() < 0.03 * exact.abs().max()
    half = run(fixture, dtype)
    assert all(len(tokens) > 0 for tokens in half.tokens)
    assert all(torch.isfinite(step).all() for row in half.scores for step in row)
