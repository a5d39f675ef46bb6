"""Fixtures: a tiny TextHarmony with random weights (built once) and a pipeline around it."""

from __future__ import annotations

import pytest
import torch

from model_adapters.textharmony import ImageSampling, TextHarmonyPipeline, build_model
from model_adapters.textharmony.tokenizer import ByteTokenizer


@pytest.fixture(autouse=True)
def one_thread():
    """Toy-sized ops run fastest single-threaded; a busy machine makes extra threads much slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_model():
    return build_model("tiny", device="cpu", seed=0)


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_model):
    return TextHarmonyPipeline(
        tiny_model, ByteTokenizer(tiny_model.config.tokens), image_settings=ImageSampling(num_inference_steps=3)
    )
