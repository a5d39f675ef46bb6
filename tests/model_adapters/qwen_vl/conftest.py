"""The parity fixture of the test module asking (its ``FIXTURE`` folder), loaded once per module."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from model_adapters.qwen_vl.model import MonkeyModel
from model_adapters.qwen_vl.tokenizer import QwenTokenizer


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> dict:
    return json.loads((request.module.FIXTURE / "reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tensors(request: pytest.FixtureRequest) -> dict[str, torch.Tensor]:
    return load_file(request.module.FIXTURE / "reference.safetensors")


@pytest.fixture(scope="module")
def model(request: pytest.FixtureRequest) -> MonkeyModel:
    return MonkeyModel.from_folder(request.module.FIXTURE / "model", torch.float32, torch.device("cpu"))


@pytest.fixture(scope="module")
def tokenizer(request: pytest.FixtureRequest) -> QwenTokenizer:
    return QwenTokenizer.from_folder(request.module.FIXTURE / "model")
