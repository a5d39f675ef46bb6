"""thbench against outputs of the official TextHarmony code (fixture: ``parity/``, see its README).

The official state dict, saved in the release's key layout, is loaded through thbench's own
checkpoint loader into thbench's model at the same toy configuration; every component then runs
on the fixture's inputs and must reproduce the official outputs.

Tolerance: both sides run in float32 on the CPU, so an exact port differs only by the order of
floating-point operations, a few ulps per op; measured, the largest difference in any component
is 2e-6 of that tensor's largest magnitude (the sampled image, where guidance at 7.5 amplifies
the UNet's differences; 1.2e-6 for the LLM's logits and one UNet step). Each comparison allows
``rtol=1e-6`` plus an ``atol`` of 5e-6 of the expected tensor's largest magnitude: a 1e-5
relative change of the largest values fails, and so does a deviation from the official maths
such as a LayerNorm epsilon (1e-6 for 1e-5 moves the ViT-Adapter's maps
by 2.5e-5 of their scale). Elements near zero are held to the same absolute bound, since
cancellation makes their relative error meaningless.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model_adapters.textharmony.checkpoint import load_model
from model_adapters.textharmony.config import parity_config
from model_adapters.textharmony.generation import TextGenerationProfile, beam_decode, greedy_decode
from model_adapters.textharmony.image_decoder import ControlFeatures
from model_adapters.textharmony.image_sampling import ImageSampler, ImageSampling

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
    """Loaded strictly: the official state dict has exactly thbench's keys and shapes."""
    loaded, report = load_model(FIXTURE / "pytorch_model.bin", parity_config(), device="cpu", dtype=torch.float32)
    assert report.complete
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


@torch.no_grad()
def test_image_decoder_context(model, official, images_per_row):
    """Each <|beginofimage|> conditions the image decoder on the states from its row's start up
    to it; thbench builds that context from a prompt that ends there."""
    ids, mask = official["input.text_ids"], official["input.attention_mask"]
    hidden, _, _ = model.prefill(ids, mask, official["input.images"], images_per_row, official["input.expert_weights"])
    starts = (ids == model.config.tokens.begin_of_image).nonzero().tolist()
    assert len(starts) == official["image.context"].shape[0]
    for index, (row, position) in enumerate(starts):
        prompt = slice(0, position + 1)
        context, context_mask = model.image_condition(hidden[row : row + 1, prompt], mask[row : row + 1, prompt])
        length = position + 1
        assert context_mask[0].tolist() == official["image.context_mask"][index, :length].tolist()
        assert_matches(context[0], official["image.context"][index, :length], f"image decoder context {index}")


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


@pytest.fixture(scope="module")
def control(model, official) -> dict[str, ControlFeatures]:
    """The control features of the edit case (the image before is image 0) and of an image with
    no image before it, as thbench builds them for the image to generate."""
    _, features = model.encode_images(official["input.images"][:1])
    return {
        "edit": model.control_features(features, [1], 1),
        "masked": model.control_features(None, [0], 1),
    }


@torch.no_grad()
def test_control_features(control, official):
    for name, index in (("edit", 1), ("masked", 0)):
        assert torch.equal(control[name].mask, official["control.mask"][index : index + 1]), name
        for level, feature in enumerate(control[name].maps):
            assert_matches(feature, official[f"control.features.{level}"][index : index + 1], f"{name} control {level}")


@torch.no_grad()
def test_image_resampler(model, official):
    condition = model.image_decoder.perceiver_resampler(official["input.sd.context"], official["input.sd.context_mask"])
    assert_matches(condition, official["sd.condition"], "image decoder condition")


@torch.no_grad()
def test_unet_noise_prediction(model, official, control):
    decoder = model.image_decoder.decoder
    latents, timestep, condition = official["input.sd.latents"], official["input.sd.timestep"], official["sd.condition"]
    plain = decoder.unet(latents, timestep, condition).sample
    assert_matches(plain, official["sd.noise.plain"], "UNet without the control branch")
    for name in ("edit", "masked"):
        values = decoder.mmfs_module.project(control[name])
        noise = decoder.denoise(latents, timestep[0], condition, values, control[name])
        assert_matches(noise, official[f"sd.noise.{name}"], f"UNet with the control branch ({name})")


@torch.no_grad()
def test_vae_decode(model, official):
    vae = model.image_decoder.decoder.vae
    decoded = vae.decode(official["input.sd.latents"] / vae.config.scaling_factor).sample
    assert_matches(decoded, official["sd.vae_decode"], "VAE decode")


@torch.no_grad()
def test_sampled_image(model, official, control):
    """Two guided DDPM steps from seed 42, then the VAE, as the official sampler runs them."""
    sampler = ImageSampler(model.image_decoder, ImageSampling(guidance_scale=7.5, num_inference_steps=2, base_seed=42))
    image = sampler(official["input.sd.context"], official["input.sd.context_mask"], control["edit"], seeds=[42])
    assert_matches(image, official["sd.sampled_image"], "sampled image")
