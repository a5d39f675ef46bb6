"""thbench against outputs of the official TextHarmony code (fixture: ``parity/``, see its README).

The official state dict, saved in the release's key layout, is loaded through thbench's own
checkpoint loader into thbench's model at the same toy configuration; every component then runs
on the fixture's inputs and must reproduce the official outputs.

Tolerance: both sides run in float32 on the CPU, so an exact port differs only by the order of
floating-point operations, a few ulps per op (measured: at most ~1e-6 of a tensor's largest
value, after the whole LLM). Each comparison allows ``rtol=1e-6`` plus an ``atol`` of 5e-6 of
the expected tensor's largest magnitude; a change of 1e-5 relative in a component's output, or
anything that deviates from the official maths (a norm epsilon, a scaling factor), fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model_adapters.textharmony.checkpoint import load_model
from model_adapters.textharmony.config import parity_config
from model_adapters.textharmony.generation import TextGenerationProfile, beam_decode, greedy_decode

FIXTURE = Path(__file__).parent / "parity"
ATOL_OF_SCALE = 5e-6
RTOL = 1e-6


def assert_matches(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    scale = float(expected.abs().max())
    torch.testing.assert_close(
        actual, expected, rtol=RTOL, atol=ATOL_OF_SCALE * scale, msg=lambda m: f"{what}: {m}"
    )


@pytest.fixture(scope="module")
def official() -> dict[str, torch.Tensor]:
    return torch.load(FIXTURE / "outputs.pt", weights_only=True)


@pytest.fixture(scope="module")
def model():
    """The fixture has no image decoder weights yet; the loader zero-fills exactly those."""
    loaded, report = load_model(
        FIXTURE / "pytorch_model.bin", parity_config(), device="cpu", dtype=torch.float32, allow_partial=True
    )
    assert not report.unexpected
    assert report.missing and all(name.startswith("image_decoder.") for name in report.missing)
    return loaded


@pytest.fixture(scope="module")
def images_per_row(official) -> list[int]:
    return official["input.num_image_per_seq"].tolist()


@torch.no_grad()
def test_vit_adapter_features(model, official):
    tokenizer = model.visual_tokenizer
    pixels = (official["input.images"] - tokenizer.clip_mean) / tokenizer.clip_std
    last_hidden, features = tokenizer.encoder(pixels)
    assert_matches(last_hidden, official["vit.last_hidden_state"], "ViT last hidden state")
    assert len(features) == 4
    for level, feature in enumerate(features):
        assert_matches(feature, official[f"vit.adapter_features.{level}"], f"adapter feature map {level}")


@torch.no_grad()
def test_visual_tokenizer(model, official):
    tokens, features = model.encode_images(official["input.images"])
    assert_matches(tokens, official["visual.tokens"], "image tokens (resampler + projection)")
    for level, feature in enumerate(features):
        assert_matches(feature, official[f"visual.features.{level}"], f"feature map {level} with positions")


def _layer_outputs(model, run):
    """Hidden state after each LLM layer, captured on the way."""
    captured: list[torch.Tensor] = []
    hooks = [layer.register_forward_hook(lambda m, i, o: captured.append(o[0])) for layer in model.mm_decoder.layers]
    try:
        result = run()
    finally:
        for hook in hooks:
            hook.remove()
    return result, captured


@torch.no_grad()
def test_llm_hidden_states_and_logits(model, official, images_per_row):
    ids, mask = official["input.text_ids"], official["input.attention_mask"]
    tokens, features = model.encode_images(official["input.images"])
    embeds = model.embed(ids, tokens)
    assert_matches(embeds, official["llm.input_embeds"], "LLM input embeddings")
    vision = model.vision_context(ids, features, images_per_row)
    visible = official["llm.cross_attention_mask"].bool()
    assert torch.equal(vision.image_mask.bool(), visible), "which images each token may see"

    (hidden, _), layers = _layer_outputs(
        model, lambda: model.mm_decoder(embeds, mask, official["input.expert_weights"], vision)
    )
    # The official list: the embeddings, the output of every layer but the last, the final norm.
    for index, layer_out in enumerate(layers[:-1]):
        assert_matches(layer_out, official[f"llm.hidden_states.{index + 1}"], f"LLM layer {index} output")
    assert_matches(hidden, official["llm.last_hidden_state"], "LLM final hidden state")
    assert_matches(model.text_decoder(hidden), official["llm.logits"], "LLM logits")


def _prefill(model, official, rows: slice):
    counts = official["input.num_image_per_seq"].tolist()
    first, last = sum(counts[: rows.start]), sum(counts[: rows.stop])
    hidden, state, _ = model.prefill(
        official["input.text_ids"][rows],
        official["input.attention_mask"][rows],
        official["input.images"][first:last],
        counts[rows],
        official["input.expert_weights"][rows],
    )
    return model.text_decoder(hidden[:, -1]), state


def _until_stop(tokens: list[int], stops: set[int]) -> list[int]:
    for index, token in enumerate(tokens):
        if token in stops:
            return tokens[:index]
    return tokens


@torch.no_grad()
def test_greedy_tokens(model, official):
    stops = [model.config.tokens.eos, model.config.tokens.begin_of_image]
    expected = official["generate.greedy"]
    logits, state = _prefill(model, official, slice(0, expected.shape[0]))
    produced = greedy_decode(model.decode_step, logits, state, expected.shape[1] - 1, stops, model.config.tokens.pad)
    # The official generator starts each row with BOS.
    assert produced == [_until_stop(row[1:], set(stops)) for row in expected.tolist()]


#: The release's text decoding without sampling, at the fixture's length.
BEAM_PROFILE = TextGenerationProfile(
    name="release-deterministic", max_new_tokens=8, num_beams=5, do_sample=False,
    repetition_penalty=1.3, length_penalty=1.0,
)


@pytest.mark.parametrize("row", [0, 1])
@torch.no_grad()
def test_beam_search_tokens(model, official, row):
    """thbench's beam decoder against transformers' ``generate`` as the official code calls it."""
    tokens = model.config.tokens
    stops = [tokens.eos, tokens.begin_of_image]
    expected = official[f"generate.beam.{row}"][0].tolist()
    assert expected[0] == tokens.bos
    logits, state = _prefill(model, official, slice(row, row + 1))
    profile = BEAM_PROFILE.with_max_new_tokens(len(expected) - 1)
    produced = beam_decode(model.decode_step, logits, state, profile, stops, tokens.bos)
    assert produced == [_until_stop(expected[1:], set(stops))]
