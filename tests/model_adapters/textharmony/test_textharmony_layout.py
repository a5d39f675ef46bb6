"""The model's state dict has exactly the release's keys and shapes, in the release's order."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from model_adapters.textharmony import build_model

RELEASE_KEYS = Path(__file__).parent / "data" / "release_keys.tsv"


def release_layout() -> list[tuple[str, str]]:
    """Key and shape of every tensor of the official model at release size (meta device)."""
    return [tuple(line.split("\t")) for line in RELEASE_KEYS.read_text().splitlines()]


def pattern(key: str) -> str:
    return re.sub(r"\.\d+\.", ".N.", re.sub(r"\.\d+\.", ".N.", key))


def test_release_build_matches_official_key_list():
    model = build_model("release", device="meta")
    state = model.state_dict()
    ours = [(k, str(list(v.shape))) for k, v in state.items()]
    assert ours == release_layout()
    assert len(state) == 3123
    assert sum(v.numel() for v in state.values()) == 15_079_150_880
    assert all(v.device.type == "meta" for v in state.values())


def test_tiny_build_has_release_naming(tiny_model):
    tiny_patterns = {pattern(k) for k in tiny_model.state_dict()}
    release_patterns = {pattern(k) for k, _ in release_layout()}
    assert tiny_patterns == release_patterns
    size = sum(p.numel() * p.element_size() for p in tiny_model.parameters())
    assert size < 16 * 2**20
    assert all(p.dtype == torch.float32 for p in tiny_model.parameters())


def test_release_experts_are_raw_tensors():
    layer = build_model("release", device="meta").mm_decoder.layers[0].self_attn.q_proj
    assert tuple(layer.lora_moe_A["default"].shape) == (3, 5120, 32)
    assert tuple(layer.lora_moe_B["default"].shape) == (3, 32, 5120)
