"""Text generation on the tiny model: batch-size independence, stop tokens, profiles."""

from __future__ import annotations

import dataclasses

import torch
from PIL import Image

from model_adapters.textharmony import RELEASE, build_model
from model_adapters.textharmony.generation import greedy_decode
from model_adapters.textharmony.prompts import encode_prompts, vqa_prompt
from model_adapters.textharmony.tokenizer import ByteTokenizer


def prompts(pipeline):
    colours = [(200, 10, 10), (10, 200, 10), (10, 10, 200), (120, 120, 0)]
    questions = ["what?", "what colour is this?", "a much longer question about the picture?", "?"]
    return [vqa_prompt(q, pipeline.image_input(Image.new("RGB", (40, 30), c))) for q, c in zip(questions, colours)]


def test_greedy_is_the_same_for_batch_sizes_one_and_four(tiny_pipeline):
    batch = prompts(tiny_pipeline)
    together = tiny_pipeline.answer(batch, max_new_tokens=6)
    alone = [tiny_pipeline.answer([p], max_new_tokens=6)[0] for p in batch]
    assert together == alone
    assert len(set(together)) > 1


def test_release_profile_is_deterministic_and_batch_independent(tiny_pipeline):
    pipeline = dataclasses.replace(tiny_pipeline, text_profile=RELEASE)
    batch = prompts(pipeline)[:3]
    first = pipeline.answer(batch, max_new_tokens=5)
    assert first == pipeline.answer(batch, max_new_tokens=5)
    assert first == [pipeline.answer([p], max_new_tokens=5)[0] for p in batch]


def test_generation_stops_at_eos_and_at_begin_of_image():
    model = build_model("tiny", device="cpu", seed=1)
    tokens = model.config.tokens
    batch = encode_prompts([["hi"], ["hello there"]], ByteTokenizer(tokens), tokens, model.config.num_image_tokens)
    weights = torch.tensor([[0.0, 0.5, 0.5]] * 2)
    for stop in (tokens.eos, tokens.begin_of_image):
        with torch.no_grad():
            model.text_decoder.head.bias.zero_()
            model.text_decoder.head_new.bias.zero_()
            model.text_decoder.head.bias[stop] = 1e4
            hidden, state, _ = model.prefill(batch.input_ids, batch.attention_mask, None, [0, 0], weights)
            out = greedy_decode(model.decode_step, model.text_decoder(hidden[:, -1]), state, 5,
                                [tokens.eos, tokens.begin_of_image], tokens.pad)
        assert out == [[], []]


def test_profiles_describe_themselves():
    assert RELEASE.describe() == {
        "name": "release", "max_new_tokens": 30, "num_beams": 5, "do_sample": True, "top_k": 50, "top_p": 0.9,
        "repetition_penalty": 1.3, "length_penalty": 1.0, "seed": 32,
    }


def test_one_beam_without_sampling_is_greedy(tiny_pipeline):
    batch = prompts(tiny_pipeline)[:2]
    greedy = tiny_pipeline.answer(batch, max_new_tokens=5)
    one_beam = dataclasses.replace(
        tiny_pipeline, text_profile=dataclasses.replace(RELEASE, num_beams=1, do_sample=False, repetition_penalty=1.0)
    )
    assert one_beam.answer(batch, max_new_tokens=5) == greedy


def test_sampling_filters_keep_top_k_then_the_nucleus():
    from model_adapters.textharmony.generation import _top_k, _top_p

    scores = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(_top_k(scores, 2, 1)).tolist() == [[False, False, True, True]]
    assert torch.isinf(_top_p(scores, 0.7, 1)).tolist() == [[False, False, True, True]]
    assert torch.isinf(_top_p(scores, 0.4, 2)).tolist() == [[False, False, True, True]]
    assert torch.isinf(_top_p(scores, 0.9, 1)).tolist() == [[False, False, False, True]]


def test_beam_rows_share_their_sample_vision_context(tiny_pipeline):
    """Expanding a prompt's state to beams (no copy of the image features) gives each beam the
    logits that the prompt alone would give."""
    from model_adapters.textharmony.prompts import encode_prompts

    model = tiny_pipeline.model
    config = model.config
    batch = encode_prompts(prompts(tiny_pipeline)[:2], tiny_pipeline.tokenizer, config.tokens, config.num_image_tokens)
    weights = torch.tensor([[0.0, 0.5, 0.5]] * 2)
    tokens = torch.tensor([40, 41, 42, 50, 51, 52])
    with torch.no_grad():
        _, state, _ = model.prefill(batch.input_ids, batch.attention_mask, batch.images, batch.images_per_row, weights)
        beams = state.select(torch.arange(2).repeat_interleave(3))
        assert beams.vision.rows_per_sample == 3 and beams.vision.features.shape[0] == 2
        together, _ = model.decode_step(tokens, beams)
        for row in range(6):
            alone, _ = model.decode_step(tokens[row : row + 1], state.select(torch.tensor([row // 3])))
            torch.testing.assert_close(together[row : row + 1], alone, rtol=1e-4, atol=1e-5)
