"""Slide-LoRA gate modes: their expert weights, their effect on the model, and an ablation of
``textharmony-tiny`` through ``thbench run`` and ``thbench report --ablation gate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.store import RunStore
from model_adapters.textharmony.config import SlideLoRAConfig
from model_adapters.textharmony.gate_modes import GATE_MODES, gate_policy
from model_adapters.textharmony.prompts import encode_prompts

TEXT_PROMPT = "Based on the image, please answer the question. What is written?"
IMAGE_PROMPT = "Generate an image: a sign that says OPEN"


def weights(mode: str, lora: SlideLoRAConfig, prompt: str) -> list[float]:
    row = gate_policy(mode, lora).expert_weights([prompt], torch.zeros(1, 1, 4), torch.ones(1, 1))
    return [round(float(w), 6) for w in row[0]]


def test_release_experts_under_every_mode():
    lora = SlideLoRAConfig()  # experts: image generation, text, shared
    third = round(1 / 3, 6)
    expected = {
        "routed": ([0.0, 0.5, 0.5], [0.5, 0.0, 0.5]),
        "text": ([0.0, 0.5, 0.5], [0.0, 0.5, 0.5]),
        "image": ([0.5, 0.0, 0.5], [0.5, 0.0, 0.5]),
        "shared": ([0.0, 0.0, 1.0], [0.0, 0.0, 1.0]),
        "uniform": ([third] * 3, [third] * 3),
    }
    assert set(expected) == set(GATE_MODES)
    for mode, (text_row, image_row) in expected.items():
        assert (weights(mode, lora, TEXT_PROMPT), weights(mode, lora, IMAGE_PROMPT)) == (text_row, image_row), mode


def test_groups_of_several_experts_keep_a_total_weight_of_one():
    lora = SlideLoRAConfig(num_experts=6, experts_per_task=2)
    assert weights("image", lora, TEXT_PROMPT) == [0.25, 0.25, 0.0, 0.0, 0.25, 0.25]
    assert weights("shared", lora, TEXT_PROMPT) == [0.0, 0.0, 0.0, 0.0, 0.5, 0.5]
    for mode in GATE_MODES:
        assert sum(weights(mode, lora, IMAGE_PROMPT)) == pytest.approx(1.0, abs=1e-5)


def test_unknown_modes_and_models_without_experts_are_refused():
    with pytest.raises(ValueError, match="unknown Slide-LoRA gate 'text-only'"):
        gate_policy("text-only", SlideLoRAConfig())
    with pytest.raises(ValueError, match="gate=shared needs Slide-LoRA experts"):
        gate_policy("shared", None)
    assert gate_policy("routed", None).expert_weights(["x", "y"], torch.zeros(2, 1, 4), torch.ones(2, 1)).shape == (2, 0)


def test_the_gate_reaches_the_language_model(tiny_model, tiny_pipeline):
    """A text prompt's hidden states: ``text`` equals the release's routing, the other modes not."""
    config = tiny_model.config
    batch = encode_prompts([[TEXT_PROMPT]], tiny_pipeline.tokenizer, config.tokens, config.num_image_tokens)
    embeds = tiny_model.mm_decoder.embed_tokens(batch.input_ids)

    def hidden(mode: str) -> torch.Tensor:
        expert_weights = gate_policy(mode, config.slide_lora).expert_weights(batch.texts, embeds, batch.attention_mask)
        with torch.no_grad():
            return tiny_model.prefill(batch.input_ids, batch.attention_mask, None, [0], expert_weights)[0]

    routed = hidden("routed")
    assert torch.equal(hidden("text"), routed)
    for mode in ("image", "shared", "uniform"):
        assert (hidden(mode) - routed).abs().max() > 1e-6, mode


def _run(results: Path, data: Path, gate: str) -> Path:
    code = main([
        "run", "--model", "textharmony-tiny", "--model-args", f"gate={gate},steps=2", "--limit", "2",
        "--tasks", "starter-textvqa,starter-t2i", "--task-args", "starter-t2i:num_images=1",
        "--data-dir", str(data), "--results-dir", str(results), "--no-progress",
    ])
    assert code == 0
    (run_dir,) = [p for p in results.iterdir() if json.loads((p / "manifest.json").read_text())["adapter"]["options"]["gate"] == gate]
    return run_dir


def _answers(run_dir: Path) -> dict[str, str]:
    return {key: r.raw for key, r in RunStore(run_dir).read_predictions("starter-textvqa").items()}


def _images(run_dir: Path) -> dict[str, bytes]:
    return {key: (run_dir / r.images[0]).read_bytes() for key, r in RunStore(run_dir).read_predictions("starter-t2i").items()}


def test_gate_ablation_through_the_command_line(starter_data, tmp_path, capsys):
    results = tmp_path / "runs"
    runs = {gate: _run(results, starter_data, gate) for gate in ("routed", "text", "image")}
    assert len(set(runs.values())) == 3  # the gate is part of the fingerprint, hence of the folder
    manifest = json.loads((runs["image"] / "manifest.json").read_text())
    assert manifest["adapter"]["runtime"]["slide_lora_gate"] == {"kind": "fixed", "weights": [0.5, 0.0, 0.5]}

    # Answers are text requests: the text gate routes them as the release does.
    assert _answers(runs["text"]) == _answers(runs["routed"])
    # Generation requests: the image gate routes them as the release does, the text gate not.
    assert _images(runs["image"]) == _images(runs["routed"])
    assert all(_images(runs["text"])[k] != v for k, v in _images(runs["routed"]).items())

    capsys.readouterr()
    assert main(["report", "--ablation", "gate", str(results)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ") and "---" not in line}
    assert set(rows) == {"gate", "routed", "text", "image"}
    assert "starter-textvqa Δ vs routed" in rows["gate"] and "starter-t2i Δ vs routed" in rows["gate"]
    assert "baseline" in rows["routed"] and "p=" in rows["text"] and "p=" in rows["image"]
