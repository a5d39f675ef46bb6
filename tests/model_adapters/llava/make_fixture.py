"""Build the tiny LLaVA-format checkpoints in this folder and record what the released code answers.

Run in an environment with the library versions the LLaVA repository pins (transformers 4.37.2,
tokenizers 0.15.1, sentencepiece) and a checkout of github:haotian-liu/LLaVA::

    python make_fixture.py --llava-repo /path/to/LLaVA --out tests/model_adapters/llava

For each case it writes ``<case>/checkpoint`` (config.json, pytorch_model.bin in float16,
tokenizer.model and its configs, as the repository's trainer saves them), ``<case>/clip`` (the
vision tower folder) and ``<case>/reference.json`` (input ids, first-step logits, greedy tokens),
plus one shared ``image.png``. The reference run is the released code path on CPU in float32:
``LlavaLlamaForCausalLM.from_pretrained``, the tower's ``load_model``, ``process_images``,
``tokenizer_image_token`` and ``generate`` (which calls ``prepare_inputs_labels_for_multimodal``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

CORPUS = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions. "
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions. "
    "USER: What is written on the sign? Answer the question using a single word or phrase. ASSISTANT: stop\n"
    "Support your reasoning with the coordinates [xmin, ymin, xmax, ymax] 0123456789 , . ? !\n"
)
QUESTION = "What is written on the sign?"

CASES = {
    # LLaVA-1.5: two-layer GELU projector, pad to square, llava_v1 conversation, VQA suffix.
    "llava15": {
        "projector": "mlp2x_gelu", "image_aspect_ratio": "pad", "im_start_end": False, "legacy": False,
        "system": "A chat between a curious human and an artificial intelligence assistant. "
                  "The assistant gives helpful, detailed, and polite answers to the human's questions.",
        "question": QUESTION + "\nAnswer the question using a single word or phrase.", "squash": False,
        "carries_tower": False, "config": {},
    },
    # TGDoc: linear projector, <img>…</img> around the image, vicuna_v1 system, the question with
    # its grounding suffix, and the image resized to the crop size with LANCZOS before the CLIP
    # processor (TGDoc.py's generate).
    "tgdoc": {
        "projector": "linear", "image_aspect_ratio": None, "im_start_end": True, "legacy": None,
        "system": "A chat between a curious user and an artificial intelligence assistant. "
                  "The assistant gives helpful, detailed, and polite answers to the user's questions.",
        "question": QUESTION + " Support your reasoning with the coordinates [xmin, ymin, xmax, ymax]", "squash": True,
        # TGDoc's fine-tuning trains every parameter, the tower included, and saves them all;
        # its loader puts them over the CLIP folder's (load_state_dict after from_pretrained).
        "carries_tower": True, "config": {"model_type": "tgdoc", "architectures": ["TGDocLlamaForCausalLM"],
                                          "tune_mm_mlp_adapter": False},
    },
}


def fp16_random(shape: tuple[int, ...], generator: torch.Generator, centre: float = 0.0) -> torch.Tensor:
    """Random values exact in float16 and never zero, so that every weight is checked."""
    values = centre + 0.08 * torch.randn(shape, generator=generator)
    values = torch.where(values.abs() < 1e-3, torch.full_like(values, 0.01), values)
    return values.half().float()


def randomise(module: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            is_norm = "norm" in name and name.endswith("weight")
            parameter.copy_(fp16_random(tuple(parameter.shape), generator, centre=1.0 if is_norm else 0.0))


def train_tokenizer(folder: Path) -> Path:
    import sentencepiece as spm

    corpus = folder / "corpus.txt"
    corpus.write_text(CORPUS * 20, encoding="utf-8")
    spm.SentencePieceTrainer.train(minloglevel=2,
        input=str(corpus), model_prefix=str(folder / "tokenizer"), vocab_size=360, model_type="bpe",
        byte_fallback=True, add_dummy_prefix=True, remove_extra_whitespaces=False, normalization_rule_name="identity",
        split_digits=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=1.0,
    )
    return folder / "tokenizer.model"


def clip_tower(seed: int) -> torch.nn.Module:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    config = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=24, intermediate_size=48, num_hidden_layers=3,
                              num_attention_heads=2, projection_dim=24)
    model = CLIPVisionModel(config)
    randomise(model, seed=seed)
    return model.half()


def build_clip(folder: Path) -> None:
    from transformers import CLIPImageProcessor

    clip_tower(seed=1).save_pretrained(folder, safe_serialization=False)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)


def add_trained_tower(folder: Path) -> None:
    """The tower's own (fine-tuned) weights in the checkpoint, different from the CLIP folder's."""
    weights = torch.load(folder / "pytorch_model.bin", weights_only=True)
    for name, tensor in clip_tower(seed=3).state_dict().items():
        weights[f"model.vision_tower.vision_tower.{name}"] = tensor
    torch.save(weights, folder / "pytorch_model.bin")


def build_checkpoint(folder: Path, clip: Path, tokenizer_model: Path, case: dict) -> None:
    from llava.model import LlavaLlamaForCausalLM
    from llava.model.language_model.llava_llama import LlavaConfig
    from transformers import LlamaTokenizer

    tokenizer_options = {} if case["legacy"] is None else {"legacy": case["legacy"]}
    tokenizer = LlamaTokenizer(str(tokenizer_model), pad_token="<unk>", **tokenizer_options)
    if case["im_start_end"]:
        tokenizer.add_tokens(["<img>", "</img>"], special_tokens=True)
    config = LlavaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=512, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        tie_word_embeddings=False,
    )
    config.mm_vision_tower = str(clip)
    config.mm_hidden_size = 24
    config.mm_projector_type = case["projector"]
    config.mm_vision_select_layer = -2
    config.mm_vision_select_feature = "patch"
    config.mm_use_im_start_end = case["im_start_end"]
    config.mm_use_im_patch_token = False
    config.mm_patch_merge_type = "flat"
    config.image_aspect_ratio = case["image_aspect_ratio"]
    config.use_mm_proj = True
    model = LlavaLlamaForCausalLM(config)
    randomise(model, seed=2)
    model.half().save_pretrained(folder, safe_serialization=False)
    tokenizer.save_pretrained(folder)


def reference(folder: Path, clip: Path, image: Image.Image, case: dict) -> dict:
    from llava.constants import IMAGE_TOKEN_INDEX
    from llava.mm_utils import process_images, tokenizer_image_token
    from llava.model import LlavaLlamaForCausalLM
    from transformers import AutoTokenizer

    model = LlavaLlamaForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).eval()
    tower = model.get_model().get_vision_tower()
    tower.load_model()
    if case["carries_tower"]:  # what TGDoc.py's load_state_dict(weights, strict=False) does
        weights = torch.load(folder / "pytorch_model.bin", weights_only=True)
        prefix = "model.vision_tower.vision_tower."
        tower.vision_tower.load_state_dict({k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)})
    tower.to(dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, use_fast=False)
    image_text = "<img><image></img>" if case["im_start_end"] else "<image>"
    prompt = f"{case['system']} USER: {image_text}\n{case['question']} ASSISTANT:"
    input_ids = tokenizer_image_token(prompt, tokenizer, IMAGE_TOKEN_INDEX, return_tensors="pt").unsqueeze(0)
    if case["squash"]:
        side = tower.image_processor.crop_size["height"]
        pixels = tower.image_processor.preprocess(image.resize((side, side), Image.LANCZOS), return_tensors="pt")["pixel_values"]
    else:
        pixels = process_images([image], tower.image_processor, model.config)
    with torch.inference_mode():
        logits = model(input_ids=input_ids, images=pixels).logits[0, -1]
        generated = model.generate(input_ids, images=pixels, do_sample=False, num_beams=1, max_new_tokens=8, use_cache=True)
    return {
        "prompt": prompt, "input_ids": input_ids[0].tolist(),
        "pixel_values": pixels[0].tolist(), "first_step_logits": logits.tolist(),
        # generate() from embeddings starts its output with the BOS it was seeded with.
        "greedy_tokens": generated[0, 1:].tolist(),
        "greedy_text": tokenizer.decode(generated[0, 1:], skip_special_tokens=True).strip(),
    }


def make_image(path: Path) -> Image.Image:
    """A non-square picture, so that padding, squashing and cropping each change the pixels."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(30, 46, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return Image.open(path).convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llava-repo", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(args.llava_repo))
    torch.manual_seed(0)
    args.out.mkdir(parents=True, exist_ok=True)
    image = make_image(args.out / "image.png")
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer_model = train_tokenizer(Path(scratch))
        for name, case in CASES.items():
            root = args.out / name
            shutil.rmtree(root, ignore_errors=True)
            build_clip(root / "clip")
            build_checkpoint(root / "checkpoint", root / "clip", tokenizer_model, case)
            if case["carries_tower"]:
                add_trained_tower(root / "checkpoint")
            record = reference(root / "checkpoint", root / "clip", image, case)
            config_path = root / "checkpoint" / "config.json"
            config = json.loads(config_path.read_text())
            # The released configs name the tower by hub id; the converter takes it from --vision-tower.
            config.update(case["config"], mm_vision_tower="openai/clip-vit-tiny-test")
            config_path.write_text(json.dumps(config, indent=2))
            (root / "reference.json").write_text(json.dumps(record, indent=1))
            print(name, record["greedy_text"], record["greedy_tokens"])


if __name__ == "__main__":
    main()
