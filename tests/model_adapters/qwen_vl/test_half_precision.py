"""The native Monkey in bfloat16 and float16 (the release's GPU dtypes) stays close to float32:
weights cast at load, image features in the model's dtype, rotary and norms computed in
float32 as the release does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from model_adapters.qwen_vl.generation import Prompt, greedy
from model_adapters.qwen_vl.model import MonkeyModel
from model_adapters.qwen_vl.tokenizer import QwenTokenizer, encode_with_images

FIXTURE = Path(__file__).parent / "data" / "monkey_tiny"

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def run(dtype: torch.dtype):
    model = MonkeyModel.from_folder(FIXTURE / "model", dtype, torch.device("cpu"))
    tokenizer = QwenTokenizer.from_folder(FIXTURE / "model")
    sign = Image.open(FIXTURE / "images" / "sign.png")
    prompts = [
        Prompt(tuple(encode_with_images(tokenizer, [None, "What is written? Answer:"], model.image_token_span)), (sign,)),
        Prompt(tuple(tokenizer.encode("Hello"))),
    ]
    assert next(model.parameters()).dtype == dtype
    return greedy(model, prompts, 4, tokenizer.ids.end_of_text, tokenizer.ids.image_start, keep_scores=True)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_follows_float32(dtype):
    reference, half = run(torch.float32), run(dtype)
    assert half.tokens == reference.tokens
    for row in range(2):
        exact, rounded = reference.scores[row][0], half.scores[row][0]
        assert (exact - rounded).abs().max() < 0.03 * exact.abs().max()
