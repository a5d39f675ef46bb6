"""Vicuna-style tokenizer set-up, on a toy sentencepiece model with LLaMA's settings."""

from __future__ import annotations

import json

import pytest

from model_adapters.textharmony import tiny_config
from model_adapters.textharmony.prompts import encode_prompts, vqa_prompt
from model_adapters.textharmony.tokenizer import VicunaTokenizer

spm = pytest.importorskip("sentencepiece")


@pytest.fixture(scope="module")
def llama_like_folder(tmp_path_factory):
    """A 298-piece BPE model (byte fallback, "▁" prefix, unk/bos/eos = 0/1/2) saved the way
    LLaMA checkpoints ship their tokenizer."""
    folder = tmp_path_factory.mktemp("vicuna")
    corpus = folder / "corpus.txt"
    words = "the answer is based on image please question what colour sign written shop open".split()
    corpus.write_text("\n".join(" ".join(words[(i * 7 + j) % len(words)] for j in range(9)) for i in range(300)))
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "tokenizer"), vocab_size=298, model_type="bpe",
        byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, add_dummy_prefix=True,
        character_coverage=1.0, minloglevel=2,
    )
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "LlamaTokenizer"}))
    return folder


def test_text_pieces_are_encoded_as_sentencepiece_does(llama_like_folder):
    tokens = tiny_config().tokens
    tokenizer = VicunaTokenizer(llama_like_folder, tokens)
    reference = spm.SentencePieceProcessor(model_file=str(llama_like_folder / "tokenizer.model"))
    for text in ("Based on the image, please answer the question.", "what colour? The answer is:"):
        assert tokenizer.encode(text) == reference.encode(text)
    assert tokenizer.decode(tokenizer.encode("open shop") + [tokens.image]) == "open shop"


def test_prompt_ids_follow_the_release_layout(llama_like_folder):
    import torch

    config = tiny_config()
    tokenizer = VicunaTokenizer(llama_like_folder, config.tokens)
    image = torch.zeros(3, 56, 56)
    batch = encode_prompts([vqa_prompt("what?", image)], tokenizer, config.tokens, config.num_image_tokens)
    ids = batch.input_ids[0].tolist()
    prefix = tokenizer.encode("Based on the image, please answer the question.")
    assert ids[: 1 + len(prefix)] == [config.tokens.bos, *prefix]
    start = 1 + len(prefix)
    assert ids[start : start + 1 + config.num_image_tokens] == [config.tokens.begin_of_image] + [config.tokens.image] * 8
    assert ids[start + 1 + config.num_image_tokens :] == tokenizer.encode("what? The answer is:")


def test_a_folder_without_tokenizer_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.model"):
        VicunaTokenizer(tmp_path, tiny_config().tokens)
