"""Image generation and editing on the tiny model, and the control-branch UNet forward."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from model_adapters.textharmony import build_model
from model_adapters.textharmony.image_decoder import ControlBlock, ControlFeatures


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_images_are_deterministic_per_seed_and_independent_of_batch(tiny_pipeline):
    seeds = tiny_pipeline.release_seeds(2)
    assert seeds == [42, 43]
    first = tiny_pipeline.generate_images(["a cake of 'GOOD'", "a sign"], [[42], seeds])
    again = tiny_pipeline.generate_images(["a sign"], [seeds])
    assert [len(r) for r in first] == [1, 2]
    assert first[0][0].size == (32, 32)
    np.testing.assert_array_equal(pixels(first[1][0]), pixels(again[0][0]))
    np.testing.assert_array_equal(pixels(first[1][1]), pixels(again[0][1]))
    assert np.abs(pixels(first[1][0]) - pixels(first[1][1])).max() > 0
    shifted = tiny_pipeline.generate_images(["a sign"], [[43]])
    np.testing.assert_array_equal(pixels(shifted[0][0]), pixels(first[1][1]))


def test_editing_uses_the_masked_image(tiny_pipeline):
    image = Image.new("RGB", (48, 40), (230, 230, 230))
    mask = Image.new("L", (48, 40), 0)
    mask.paste(255, (10, 10, 30, 25))
    edited = tiny_pipeline.edit_images([image, image], [mask, Image.new("L", (48, 40), 0)], ["HI", "HI"], [[42], [42]])
    assert edited[0][0].size == (32, 32)
    assert np.abs(pixels(edited[0][0]) - pixels(edited[1][0])).max() > 0


def test_denoise_without_control_equals_the_plain_unet():
    decoder = build_model("tiny", device="cpu", seed=3).image_decoder.decoder
    torch.manual_seed(0)
    latents = torch.randn(2, 4, 4, 4)
    context = torch.randn(2, 6, 32)
    t = torch.tensor(500)
    control = ControlFeatures([torch.randn(2, 1, 32, s, s) for s in (16, 8, 4, 2)], torch.ones(2, 1))
    with torch.no_grad():
        values = decoder.mmfs_module.project(control)
        controlled = decoder.denoise(latents, t, context, values, control)
        for block in decoder.mmfs_module.modules():
            if isinstance(block, ControlBlock):
                block.conv.weight.zero_()
                block.conv.bias.zero_()
        ours = decoder.denoise(latents, t, context, values, control)
        plain = decoder.unet(latents, t, encoder_hidden_states=context).sample
    torch.testing.assert_close(ours, plain)
    assert not torch.allclose(controlled, plain)
