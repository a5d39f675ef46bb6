"""CLIPScore on a tiny random CLIP built offline, checked against torchmetrics' own clip_score."""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchmetrics.functional.multimodal import clip_score
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

from bench.metrics.clipscore import (
    CLIP_WEIGHT_MARIO,
    CLIP_WEIGHT_PAPER,
    ClipModelMissing,
    ClipScoreAccumulator,
    clip_scores,
    load_clip,
)

CONTEXT = 16
CAPTIONS = ["a red cat", "the blue sky", "green grass", "the sign says open"]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CLIP folder as the hub lays it out: config, safetensors, tokenizer and preprocessor files.

    The vocabulary has the two special tokens, every lowercase letter alone and word-final, and
    one merge chain for "the"; captions in tests use lowercase letters and spaces only.
    """
    root = tmp_path_factory.mktemp("clip")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in string.ascii_lowercase:
        vocab[letter] = len(vocab)
    for letter in string.ascii_lowercase:
        vocab[f"{letter}</w>"] = len(vocab)
    vocab["th"] = len(vocab)
    vocab["the</w>"] = len(vocab)
    source = root / "tokenizer-source"
    source.mkdir()
    (source / "vocab.json").write_text(json.dumps(vocab))
    (source / "merges.txt").write_text("#version: 0.2\nt h\nth e</w>\n")

    folder = root / "tiny-clip"
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": CONTEXT,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
        projection_dim=16,
    )
    torch.manual_seed(1)  # this draw gives the test pairs cosines of both signs
    CLIPModel(config).save_pretrained(folder)
    CLIPTokenizer.from_pretrained(source).save_pretrained(folder)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (len(CAPTIONS), 3, 40, 48), dtype=torch.uint8, generator=generator)


class _TensorFeatures(torch.nn.Module):
    """Lets torchmetrics 1.9 use a transformers 5 CLIP, whose feature getters return output objects."""

    def __init__(self, model: CLIPModel) -> None:
        super().__init__()
        self.model = model
        self.config = model.config

    def get_image_features(self, *args, **kwargs) -> torch.Tensor:
        return self.model.get_image_features(*args, **kwargs).pooler_output

    def get_text_features(self, *args, **kwargs) -> torch.Tensor:
        return self.model.get_text_features(*args, **kwargs).pooler_output


def test_per_pair_scores_equal_torchmetrics(clip_dir: Path, images: torch.Tensor) -> None:
    model, processor = load_clip(clip_dir)
    ours = clip_scores(model, processor, images, CAPTIONS)
    reference = [
        float(clip_score(image, caption, model_name_or_path=lambda: (_TensorFeatures(model), processor)))
        for image, caption in zip(images, CAPTIONS, strict=True)
    ]
    assert ours.shape == (len(CAPTIONS),)
    assert ours.tolist() == pytest.approx(reference, abs=1e-4)


def test_set_score_clamps_each_pair_not_the_mean(clip_dir: Path, images: torch.Tensor) -> None:
    model, processor = load_clip(clip_dir)
    ours = clip_scores(model, processor, images, CAPTIONS)
    assert (ours == 0).any() and (ours > 1).any()
    meter = ClipScoreAccumulator(clip_dir)
    meter.update(images, CAPTIONS)
    reference = lambda: (_TensorFeatures(model), processor)  # noqa: E731
    torchmetrics_mean = float(clip_score(images, CAPTIONS, model_name_or_path=reference))
    assert float(meter.compute()) == pytest.approx(float(ours.double().mean()), rel=1e-6)
    assert float(meter.compute()) > torchmetrics_mean + 1e-3


def test_accumulator_averages_clamped_pairs_with_its_weight(clip_dir: Path, images: torch.Tensor) -> None:
    model, processor = load_clip(clip_dir)
    per_pair = clip_scores(model, processor, images, CAPTIONS, weight=CLIP_WEIGHT_PAPER)
    assert (per_pair >= 0).all() and (per_pair <= CLIP_WEIGHT_PAPER).all()
    meter = ClipScoreAccumulator(clip_dir, weight=CLIP_WEIGHT_PAPER)
    meter.update(images[:3], CAPTIONS[:3])
    meter.update(list(images[3:]), CAPTIONS[3:])
    assert float(meter.compute()) == pytest.approx(float(per_pair.double().mean()), rel=1e-6)
    assert meter.describe()["weight"] == CLIP_WEIGHT_PAPER
    assert meter.describe()["model"] == "tiny-clip"


def test_weight_only_scales(clip_dir: Path, images: torch.Tensor) -> None:
    model, processor = load_clip(clip_dir)
    hundred = clip_scores(model, processor, images, CAPTIONS)
    one = clip_scores(model, processor, images, CAPTIONS, weight=CLIP_WEIGHT_MARIO)
    assert (one * 100).tolist() == pytest.approx(hundred.tolist(), abs=1e-4)


def test_pil_images_score_like_uint8_tensors(clip_dir: Path, images: torch.Tensor) -> None:
    model, processor = load_clip(clip_dir)
    pil = [Image.fromarray(image.permute(1, 2, 0).numpy()) for image in images]
    assert clip_scores(model, processor, pil, CAPTIONS).tolist() == pytest.approx(
        clip_scores(model, processor, images, CAPTIONS).tolist(), abs=1e-5
    )


def test_long_captions_are_cut_to_the_context(clip_dir: Path, images: torch.Tensor) -> None:
    model, processor = load_clip(clip_dir)
    long = "the quick brown fox jumps over"  # more tokens than the 16-token context
    first = clip_scores(model, processor, images[:1], [long])
    assert clip_scores(model, processor, images[:1], [long + " the lazy dog"]).tolist() == pytest.approx(first.tolist())


def test_bad_inputs_are_rejected(clip_dir: Path, images: torch.Tensor) -> None:
    model, processor = load_clip(clip_dir)
    with pytest.raises(ValueError, match="2 images but 1 texts"):
        clip_scores(model, processor, images[:2], ["a cat"])
    with pytest.raises(ValueError, match="uint8"):
        clip_scores(model, processor, images[:1].float() / 255, ["a cat"])
    meter = ClipScoreAccumulator(clip_dir)
    with pytest.raises(RuntimeError, match="at least one"), pytest.warns(UserWarning, match="before the ``update``"):
        meter.compute()


def test_missing_folder_names_folder_and_expected_files(tmp_path: Path) -> None:
    with pytest.raises(ClipModelMissing, match=r"preprocessor_config\.json") as missing:
        ClipScoreAccumulator(tmp_path / "no-clip")
    assert str(tmp_path / "no-clip") in str(missing.value)
    assert "config.json" in str(missing.value) and "tokenizer" in str(missing.value)


def test_incomplete_folder_names_what_it_lacks(clip_dir: Path, tmp_path: Path) -> None:
    partial = shutil.copytree(clip_dir, tmp_path / "partial")
    (partial / "preprocessor_config.json").unlink()
    (partial / "model.safetensors").unlink()
    with pytest.raises(ClipModelMissing) as missing:
        load_clip(partial)
    assert missing.value.missing[0].startswith("model weights")
    assert missing.value.missing[1] == "preprocessor_config.json"
