"""The native DocOwl 1.5 in float16 (the dtype ``DocOwlInfer`` loads) and bfloat16 stays close
to float32: weights cast at load, crops and their features in the model's dtype, norms and
rotary angles computed in float32 as the release does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from model_adapters.mplug_docowl.generation import IMAGE_INDEX, Prompt, greedy
from model_adapters.mplug_docowl.images import conversation, crop, user_turn
from model_adapters.mplug_docowl.model import DocOwlModel
from model_adapters.mplug_docowl.tokenizer import LlamaTokenizer, encode_prompt

FIXTURE = Path(__file__).parent / "data" / "docowl_tiny"

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def run(dtype: torch.dtype):
    model = DocOwlModel.from_folder(FIXTURE / "model", dtype, torch.device("cpu"))
    tokenizer = LlamaTokenizer.from_folder(FIXTURE / "model")
    crops = crop(Image.open(FIXTURE / "images" / "small.png"), 448)
    text = conversation(user_turn([None, "What is written?"], [crops]))
    prompts = [
        Prompt(tuple(encode_prompt(tokenizer, text, IMAGE_INDEX)), (crops,)),
        Prompt(tuple(encode_prompt(tokenizer, conversation("Hello"), IMAGE_INDEX))),
    ]
    assert next(model.parameters()).dtype == dtype
    return greedy(model, prompts, 3, tokenizer.eos_id, keep_scores=True)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_follows_float32(dtype):
    reference, half = run(torch.float32), run(dtype)
    assert half.tokens == reference.tokens
    for row in range(2):
        exact, rounded = reference.scores[row][0], half.scores[row][0]
        assert (exact - rounded).abs().max() < 0.03 * exact.abs().max()
