"""Writes the tiny Monkey parity fixture with the released Monkey code (see README.md here).

Run in an environment with the versions the release names (transformers 4.32, tiktoken,
einops, peft, torchvision, matplotlib), CPU only:

    python make_monkey_fixture.py --release PATH/TO/Monkey --out monkey_tiny

``--release`` is a checkout of github.com/Yuliang-Liu/Monkey; its ``monkey_model`` package is
imported unmodified. Stand-ins:

* ``modeling_qwen.use_flash_attention`` is set to False before the model is built, because the
  release builds a flash-attn module in every attention layer (an assertion fails without the
  package); that module is used only in training, so inference is computed as released.
* Where torchvision cannot load (its PyPI wheels link the CUDA build of torch), the three
  transforms ``visual.py`` uses are provided (``tests/model_adapters/torchvision_stand_in.py``)
  with torchvision's own arithmetic: PIL ``Image.resize`` with ``BICUBIC`` (what
  ``transforms.Resize`` does to a PIL image), ``ToTensor`` (uint8 HWC to float CHW divided by
  255) and ``Normalize`` (subtract the mean, divide by the std).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import runpy
import shutil
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageDraw
from safetensors.torch import save_file

#: Merge ranks kept from the released ``qwen.tiktoken``: a prefix of a BPE rank file is
#: itself a complete BPE (every merge only uses lower-ranked tokens).
RANKS = 2000
SPECIALS = 3 + 205 + 9  # endoftext, im_start, im_end, 205 extras, 9 image/box tags
MAX_NEW_TOKENS = 12

LLM = {
    "hidden_size": 128,
    "num_attention_heads": 4,
    "kv_channels": 32,
    "num_hidden_layers": 2,
    "intermediate_size": 512,
    "vocab_size": 2304,
    # Short, so that the prompts (1280 image positions each) run past it and exercise the
    # dynamic NTK rotary scaling and the log-n attention scaling of the release.
    "seq_length": 1024,
    "bf16": False,
    "fp16": False,
    "fp32": True,
    "torch_dtype": "float16",
}
VISUAL = {"heads": 4, "layers": 2, "mlp_ratio": 2.0, "output_dim": 128, "width": 64}


#: (name, shape, generator) -> a tensor's random value, or None.
Special = Callable[[str, torch.Size, torch.Generator], "torch.Tensor | None"]


def install_torchvision_stand_in() -> None:
    """torchvision's pieces with its arithmetic where it cannot load, shared with the DocOwl
    fixture script (``tests/model_adapters/torchvision_stand_in.py``, read by its path)."""
    runpy.run_path(str(Path(__file__).resolve().parents[2] / "torchvision_stand_in.py"))["install_torchvision_stand_in"]()


def tiny_tokenizer_files(release: Path, model_dir: Path) -> None:
    lines = (release / "monkey_model" / "qwen.tiktoken").read_bytes().splitlines()[:RANKS]
    (model_dir / "qwen.tiktoken").write_bytes(b"\n".join(lines) + b"\n")
    for name in ("tokenizer_config.json", "special_tokens_map.json", "configuration_qwen.py", "configuration_monkey.py",
                 "modeling_monkey.py", "modeling_qwen.py", "visual.py", "tokenization_qwen.py", "qwen_generation_utils.py"):
        shutil.copy(release / "monkey_model" / name, model_dir / name)


def tiny_config(release: Path) -> dict:
    config = json.loads((release / "monkey_model" / "config.json").read_text())
    config.update(LLM)
    config["visual"] = {**config["visual"], **VISUAL, "image_start_id": RANKS + SPECIALS - 3}
    return config


def randomise(model: torch.nn.Module, seed: int, special: Special | None = None) -> None:
    """Every tensor random and non-zero, scaled by its fan-in, rounded to float16; ``special``
    may draw a tensor otherwise (from the same generator), returning None to leave it to the rules."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            value = special(name, tensor.shape, generator) if special else None
            if value is not None:
                pass
            elif name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight", "ln_pre.weight", "ln_post.weight",
                              "ln_q.weight", "ln_kv.weight", "lora_scale")):
                value = 1.0 + 0.2 * torch.randn(tensor.shape, generator=generator)
            elif tensor.dim() >= 2:
                fan_in = math.prod(tensor.shape[1:]) if "proj" != name.rsplit(".", 1)[-1] else tensor.shape[0]
                value = torch.randn(tensor.shape, generator=generator) / math.sqrt(fan_in)
                if name == "lm_head.weight":
                    # Spread the logits so that greedy choices are far from ties; the rows past
                    # the tokenizer's ids (the vocabulary is padded, as released) stay small.
                    value = value * 8.0
                    value[RANKS + SPECIALS:] *= 0.01
            else:
                value = 0.1 * torch.randn(tensor.shape, generator=generator)
            value = torch.where(value == 0, torch.full_like(value, 1e-3), value)
            tensor.copy_(value.half().float())


def fixture_images(out: Path) -> dict[str, Path]:
    rng = np.random.default_rng(7)
    sign = Image.new("RGB", (160, 96), (235, 225, 200))
    draw = ImageDraw.Draw(sign)
    draw.rectangle((20, 30, 120, 70), fill=(200, 30, 40))
    draw.text((30, 40), "OPEN", fill=(255, 255, 255))
    noise = Image.fromarray((rng.random((203, 97, 3)) * 255).astype(np.uint8))
    paths = {"sign": out / "images" / "sign.png", "noise": out / "images" / "noise.png"}
    paths["sign"].parent.mkdir(parents=True, exist_ok=True)
    sign.save(paths["sign"])
    noise.save(paths["noise"])
    return paths


def prompts(images: dict[str, Path]) -> dict[str, tuple[str, list[str]]]:
    """name -> (prompt with {sign}/{noise} marks, images in order)."""
    return {
        "vqa_sign": ("<img>{sign}</img>What is written on the sign? Answer:", ["sign"]),
        "vqa_noise": ("<img>{noise}</img> What colour is it? Answer:", ["noise"]),
        "grounding_sign": ("<img>{sign}</img><ref>OPEN</ref><box>", ["sign"]),
        "two_images": ("<img>{sign}</img><img>{noise}</img>Which one is brighter? Answer:", ["sign", "noise"]),
        "text_only": ("Hello, world! The answer is", []),
    }


TOKENIZER_TEXTS = [
    "Hello, world!",
    "<ref>OPEN</ref><box>(12,345),(678,999)</box>",
    "  café  数字 1234\n\nend<|endoftext|>",
    "<quad>(1,2),(3,4),(5,6),(7,8)</quad><|extra_3|>",
]


def record_cases(model, tokenizer, cases: dict[str, tuple[str, list[str]]], images: dict[str, Path]) -> tuple[dict[str, torch.Tensor], dict]:
    """Per prompt, as the release's evaluation runs it (greedy, ``min_new_tokens=1``, the
    end-of-document token as end and pad, batch size 1): the first-step logits and every step's
    scores, and the ids, greedy tokens and their decodings."""
    tensors: dict[str, torch.Tensor] = {}
    recorded = {}
    with torch.no_grad():
        for name, (template, used) in cases.items():
            text = template.format(**{key: str(path) for key, path in images.items()})
            ids = tokenizer(text, return_tensors="pt")
            logits = model(input_ids=ids.input_ids, attention_mask=ids.attention_mask).logits[0, -1]
            generated = model.generate(
                input_ids=ids.input_ids, attention_mask=ids.attention_mask, do_sample=False, num_beams=1,
                max_new_tokens=MAX_NEW_TOKENS, min_new_tokens=1, length_penalty=1, num_return_sequences=1,
                use_cache=True, pad_token_id=tokenizer.eod_id, eos_token_id=tokenizer.eod_id,
                output_scores=True, return_dict_in_generate=True,
            )
            new = generated.sequences[0, ids.input_ids.shape[1]:].tolist()
            tensors[f"{name}.first_logits"] = logits.float().contiguous()
            tensors[f"{name}.step_scores"] = torch.stack([s[0] for s in generated.scores]).float().contiguous()
            recorded[name] = {
                "prompt": re.sub(r"<img>\{(\w+)\}</img>", r"<image:\1>", template),
                "images": used,
                "input_ids": ids.input_ids[0].tolist(),
                "greedy_tokens": new,
                "decoded_skip_special": tokenizer.decode(new, skip_special_tokens=True).strip(),
                "decoded_keep_special": tokenizer.decode(new, skip_special_tokens=False),
            }
    return tensors, recorded


def tokenizer_cases(tokenizer) -> list[dict]:
    return [
        {"text": text, "ids": tokenizer(text).input_ids, "decoded": tokenizer.decode(tokenizer(text).input_ids)}
        for text in TOKENIZER_TEXTS
    ]


def write_reference(out: Path, made_by: str, config, tokenizer, cases: dict, tensors: dict[str, torch.Tensor], **extra) -> None:
    save_file(tensors, out / "reference.safetensors")
    reference = {
        "made_by": made_by,
        "image_start_id": config.visual["image_start_id"],
        "image_token_span": tokenizer.IMG_TOKEN_SPAN,
        "max_new_tokens": MAX_NEW_TOKENS,
        **extra,
        "cases": cases,
        "tokenizer": tokenizer_cases(tokenizer),
    }
    (out / "reference.json").write_text(json.dumps(reference, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", type=Path, required=True, help="checkout of github.com/Yuliang-Liu/Monkey")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sys.path.insert(0, str(args.release))
    import transformers  # noqa: F401  (imported before the stand-in, which it must not take for torchvision)
    install_torchvision_stand_in()
    import monkey_model.modeling_qwen as modeling_qwen
    modeling_qwen.use_flash_attention = False
    from monkey_model.configuration_qwen import QWenConfig
    from monkey_model.modeling_monkey import MonkeyLMHeadModel
    from monkey_model.tokenization_qwen import QWenTokenizer

    out = args.out.resolve()
    model_dir = out / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    tiny_tokenizer_files(args.release, model_dir)
    config = QWenConfig(**tiny_config(args.release))
    model = MonkeyLMHeadModel(config).eval()
    randomise(model, seed=14)
    model.half().save_pretrained(model_dir, safe_serialization=True, max_shard_size="1MB")
    for name in ("configuration_qwen.py", "configuration_monkey.py", "modeling_monkey.py", "modeling_qwen.py",
                 "visual.py", "tokenization_qwen.py", "qwen_generation_utils.py"):
        (model_dir / name).unlink()  # the folder keeps the released layout minus the code

    # From here on, everything is read back from the folder as a user of the release would.
    config = QWenConfig.from_pretrained(model_dir)
    model = MonkeyLMHeadModel.from_pretrained(model_dir, config=config, torch_dtype=torch.float32).eval()
    tokenizer = QWenTokenizer(str(model_dir / "qwen.tiktoken"))
    tokenizer.padding_side = "left"
    tokenizer.pad_token_id = tokenizer.eod_id
    images = fixture_images(out)
    tensors, cases = record_cases(model, tokenizer, prompts(images), images)
    with torch.no_grad():
        visual = model.transformer.visual
        windows, global_view = visual.encode([str(images["sign"])])
        tensors["sign.global_features"] = visual(global_view)[0].float().contiguous()
        tensors["sign.window_1_0_features"] = visual(windows[1][0], idx=2)[0].float().contiguous()
        tensors["sign.global_view"] = global_view[0, :, ::32, ::32].float().contiguous()
    write_reference(out, "make_monkey_fixture.py with the released Monkey code", config, tokenizer, cases, tensors)


if __name__ == "__main__":
    main()
