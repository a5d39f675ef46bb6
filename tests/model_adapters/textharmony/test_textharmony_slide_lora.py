"""Slide-LoRA: the mixture arithmetic and the gate policies."""

from __future__ import annotations

import pytest
import torch

from model_adapters.textharmony import FixedGate, LearnedGate, PromptRoutedGate
from model_adapters.textharmony.slide_lora import SlideLoRALinear


def test_release_gate_routes_on_the_prompt():
    gate = PromptRoutedGate()
    embeds, mask = torch.zeros(3, 2, 4), torch.ones(3, 2)
    weights = gate.expert_weights(
        ["Generate an image according to the caption. A cake", 'FILL THE MASKED part with "A".', "What is written?"],
        embeds,
        mask,
    )
    assert weights.tolist() == [[0.5, 0.0, 0.5], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]]
    assert gate.describe()["weights"] == {"image_generation": [0.5, 0.0, 0.5], "text": [0.0, 0.5, 0.5]}


def test_unrouted_prompt_is_an_error():
    gate = PromptRoutedGate(routes=(("generation", ("Generate an image",)),))
    with pytest.raises(ValueError, match="no Slide-LoRA route"):
        gate.task_index("hello")


def test_mixture_is_the_gate_weighted_sum_of_unscaled_experts():
    torch.manual_seed(0)
    layer = SlideLoRALinear(6, 5, num_experts=3, rank=2)
    with torch.no_grad():
        layer.lora_moe_A["default"].normal_()
        layer.lora_moe_B["default"].normal_()
    x = torch.randn(2, 4, 6)
    gate = torch.tensor([[0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
    expected = x @ layer.weight.T
    for e in range(3):
        expert = x @ layer.lora_moe_A["default"][e] @ layer.lora_moe_B["default"][e]
        expected = expected + gate[:, e, None, None] * expert
    torch.testing.assert_close(layer(x, gate), expected)
    torch.testing.assert_close(layer(x, torch.zeros(2, 3)), x @ layer.weight.T)


def test_gate_changes_the_answer(tiny_model):
    """Different gates give different hidden states: the experts are live in the tiny model."""
    config = tiny_model.config
    ids = torch.tensor([[config.tokens.bos, 10, 11, 12]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        a, _, _ = tiny_model.prefill(ids, mask, None, [0], torch.tensor([[0.5, 0.0, 0.5]]))
        b, _, _ = tiny_model.prefill(ids, mask, None, [0], torch.tensor([[0.0, 0.5, 0.5]]))
    assert not torch.allclose(a, b)


def test_other_policies():
    embeds = torch.randn(2, 3, 4)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    fixed = FixedGate((1.0, 0.0, 0.0))
    assert fixed.expert_weights(["a", "b"], embeds, mask).tolist() == [[1.0, 0.0, 0.0]] * 2
    learned = LearnedGate(4, 3)
    with torch.no_grad():
        learned.w_gating.normal_()
    weights = learned.expert_weights(["a", "b"], embeds, mask)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    assert learned.describe() == {"kind": "learned", "experts": 3}
