"""What the Qwen-VL parity tests share: the error measure and the fixtures' prompts."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from PIL import Image

from model_adapters.qwen_vl.generation import Prompt, greedy
from model_adapters.qwen_vl.model import MonkeyModel
from model_adapters.qwen_vl.tokenizer import QwenTokenizer, encode_with_images

#: Largest difference allowed, relative to the largest magnitude of the reference.
TOLERANCE = 5e-6


def relative_error(mine: torch.Tensor, reference: torch.Tensor) -> float:
    finite = torch.isfinite(reference)
    assert torch.equal(finite, torch.isfinite(mine))
    return ((mine - reference).abs()[finite].max() / reference[finite].abs().max()).item()


def fixture_prompt(case: dict, tokenizer: QwenTokenizer, span: int, fixture: Path) -> Prompt:
    """A reference case's prompt (``<image:name>`` marks) with the fixture's images."""
    parts = [part for part in re.split(r"(<image:\w+>)", case["prompt"]) if part]
    texts = [None if part.startswith("<image:") else part for part in parts]
    images = tuple(Image.open(fixture / "images" / f"{name}.png") for name in case["images"])
    return Prompt(tuple(encode_with_images(tokenizer, texts, span)), images)


def assert_ids_match_outside_image_spans(case: dict, mine: Prompt, tokenizer: QwenTokenizer, span: int) -> None:
    """Inside a span the release writes the image's file path; the features replace those
    positions, so only the span's extent must agree."""
    released = case["input_ids"]
    assert len(mine.ids) == len(released)
    starts = [i for i, token in enumerate(released) if token == tokenizer.ids.image_start]
    inside = {i for start in starts for i in range(start + 1, start + 1 + span)}
    assert all(released[start + span + 1] == tokenizer.ids.image_end for start in starts)
    assert [t for i, t in enumerate(mine.ids) if i not in inside] == [t for i, t in enumerate(released) if i not in inside]


def assert_greedy_matches(model: MonkeyModel, tokenizer: QwenTokenizer, reference: dict, tensors: dict[str, torch.Tensor],
                          name: str, fixture: Path) -> None:
    """The greedy tokens, their text, the first-step logits and every step's scores (through the
    KV cache) of one reference case."""
    case = reference["cases"][name]
    ids = tokenizer.ids
    out = greedy(model, [fixture_prompt(case, tokenizer, model.image_token_span, fixture)], reference["max_new_tokens"],
                 end_id=ids.end_of_text, image_start=ids.image_start, keep_scores=True)
    assert out.tokens[0] == case["greedy_tokens"]
    assert tokenizer.decode(out.tokens[0], keep_special=frozenset()).strip() == case["decoded_skip_special"]
    assert tokenizer.decode(out.tokens[0]) == case["decoded_keep_special"]
    assert relative_error(out.scores[0][0], tensors[f"{name}.first_logits"]) < TOLERANCE
    steps = torch.stack(out.scores[0])
    steps[0, ids.end_of_text] = float("-inf")  # the release's scores come after min_new_tokens' ban
    assert relative_error(steps, tensors[f"{name}.step_scores"]) < TOLERANCE
