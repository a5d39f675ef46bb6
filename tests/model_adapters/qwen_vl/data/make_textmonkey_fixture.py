"""Writes the tiny TextMonkey parity fixture with the released TextMonkey code (see README.md here).

Run in the environment of ``make_monkey_fixture.py`` (transformers 4.32, tiktoken, einops, peft,
matplotlib) with ``einops-exts`` added, CPU only:

    python make_textmonkey_fixture.py --release PATH/TO/Monkey --work SCRATCH --out textmonkey_tiny

``--release`` is a checkout of github.com/Yuliang-Liu/Monkey. Its ``monkey_model`` package is
copied to ``--work`` and imported from there, with the only changes listed in ``TOY_CONSTANTS``:
the release writes some sizes of its full-size model as literals (the ViT width 1664 in the
shifted-window layers, the layers that carry them and their widths, the token resampler's
widths), which a toy-size model must shrink. Each change is checked to apply exactly once.
The toy values are also written to ``config.json`` under keys the release ignores (its
``VisionTransformer`` takes ``**kwargs``), so that a reader of the folder knows them; a folder
without these keys has the release's values. Stand-ins as in ``make_monkey_fixture.py``
(flash-attn off, torchvision's three transforms where torchvision cannot load).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from safetensors.torch import save_file
from make_monkey_fixture import (
    LLM,
    RANKS,
    SPECIALS,
    fixture_images,
    install_torchvision_stand_in,
    randomise,
    record_cases,
    write_reference,
)

VISUAL = {"heads": 4, "layers": 3, "mlp_ratio": 2.0, "output_dim": 128, "width": 64}
#: What ``finetune_multitask_dialouge_doc.py`` writes into ``config.visual`` when
#: ``finetune/finetune_textmonkey.sh`` trains TextMonkey (896x896, shifted windows, global
#: view, token resampler keeping 512; ``lora_repeat_num`` stays at its default 0), with the
#: token span it stores as ``n_queries`` (512 kept + 256 global).
TEXTMONKEY_VISUAL = {"image_size": [896, 896], "n_queries": 768, "lora_repeat_num": 0, "add_window": True,
                     "use_global": True, "resampler": True, "r": 512}
#: The toy values of the release's literals, as written to ``config.json`` (ignored by the release).
TOY_KEYS = {"window_pos": [1, 2], "window_dim": [16, 32], "window_head": [2, 4],
            "resampler_in_dim": 32, "resampler_heads": 2, "resampler_dim_head": 16}
#: (file, released text, toy text): the only edits made to the copied release.
TOY_CONSTANTS = [
    ("text_monkey/visual_text.py", "self.window_pos = [2,6,24,46]", "self.window_pos = [1,2]"),
    ("text_monkey/visual_text.py", "self.window_dim = [128,256,512,1024]", "self.window_dim = [16,32]"),
    ("text_monkey/visual_text.py", "self.window_head = [4,8,16,32]", "self.window_head = [2,4]"),
    ("text_monkey/visual_text.py", "CrossWindowAttention(image_size=image_size,dim=1664,",
     "CrossWindowAttention(image_size=image_size,dim=64,"),
    ("text_monkey/window.py", "out_features = 1664,", "out_features = 64,"),
    ("text_monkey/window.py", "self.image_size[0]*self.image_size[1], 1664))", "self.image_size[0]*self.image_size[1], 64))"),
    ("text_monkey/resampler.py", "in_dim=1024, ", "in_dim=32, "),
    ("text_monkey/resampler.py", "out_dim=4096,", "out_dim=128,"),
    ("text_monkey/resampler.py", "dim_head=128,", "dim_head=16,"),
    ("text_monkey/resampler.py", "heads=8,", "heads=2,"),
]


def toy_release(release: Path, work: Path) -> Path:
    """A copy of the release's ``monkey_model`` with ``TOY_CONSTANTS`` applied; returns its parent."""
    target = work / "monkey_model"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(release / "monkey_model", target, ignore=shutil.ignore_patterns("__pycache__"))
    for name, released, toy in TOY_CONSTANTS:
        path = target / name
        text = path.read_text(encoding="utf-8")
        if text.count(released) != 1:
            raise SystemExit(f"{name}: {released!r} occurs {text.count(released)} times, expected once; another release?")
        path.write_text(text.replace(released, toy), encoding="utf-8")
    return work


def tiny_config(release: Path) -> dict:
    config = json.loads((release / "monkey_model" / "config.json").read_text())
    config.update(LLM)
    # Shorter than the ~780-position prompts, so that dynamic NTK and log-n scaling act.
    config["seq_length"] = 512
    config["visual"] = {**config["visual"], **VISUAL, **TEXTMONKEY_VISUAL, **TOY_KEYS, "image_start_id": RANKS + SPECIALS - 3}
    return config


_NEAR_ONE = re.compile(r".*(ln_\w+|norm\w*)\.weight$|.*(lora_)?scale$")


def textmonkey_values(name: str, shape: torch.Size, generator: torch.Generator) -> torch.Tensor | None:
    """Beside Monkey's rules: every norm and scale around 1, the shifted-window position tables
    around 0.5 (so that the layers they feed matter), and a sharper resampler attention (queries
    and keys x3), whose 256 tokens per window then differ enough that the token resampler's
    choice is far from a tie."""
    if _NEAR_ONE.match(name):
        return 1.0 + 0.2 * torch.randn(shape, generator=generator)
    if ".window_attention." in name and name.endswith("position_embedding"):
        return 0.5 * torch.randn(shape, generator=generator)
    if name.endswith("attn_pool.attn.in_proj_weight"):
        value = torch.randn(shape, generator=generator) / math.sqrt(shape[1])
        value[: 2 * shape[1]] *= 3.0
        return value
    return None


def textured_sign(path: Path) -> None:
    """Monkey's sign on a seeded noisy background: flat regions would make many window tokens
    alike, and the token resampler's choice among them a tie."""
    rng = np.random.default_rng(8)
    sign = Image.fromarray((rng.random((96, 160, 3)) * 90 + np.array([180, 170, 140])).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(sign)
    draw.rectangle((20, 30, 120, 70), fill=(200, 30, 40))
    draw.text((30, 40), "OPEN", fill=(255, 255, 255))
    sign.save(path)


def prompts() -> dict[str, tuple[str, list[str]]]:
    """name -> (prompt with {sign}/{noise} marks, images in order): TextMonkey's own prompts
    (eval/evaluate_vqa_doc.py, demo_textmonkey.py)."""
    return {
        "vqa_sign": ("<img>{sign}</img> What is written on the sign? Answer:", ["sign"]),
        "vqa_noise": ("<img>{noise}</img> What colour is it? Answer:", ["noise"]),
        "grounding_sign": ("<img>{sign}</img> <ref>OPEN</ref>", ["sign"]),
        "spotting_sign": ("<img>{sign}</img> OCR with grounding:", ["sign"]),
        "two_images": ("<img>{sign}</img><img>{noise}</img> Which one is brighter? Answer:", ["sign", "noise"]),
    }


def resampler_margin(local: torch.Tensor, keep: int) -> float:
    """How far the token resampler's choice is from a tie: the gap in "highest similarity to a
    later token" between the last token dropped and the first kept (as ``merge.py`` ranks them)."""
    count = local.shape[0]
    unit = local / local.norm(dim=-1, keepdim=True)
    ranked = (unit @ unit.T - 2 * torch.ones(count, count).tril()).max(-1).values.sort(descending=True).values
    return (ranked[count - keep - 1] - ranked[count - keep]).item()


def sampled(grid: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> every fourth row and column, to keep the reference small."""
    return grid[0, :, ::4, ::4].float().contiguous()


def lora_references(main_visual: torch.nn.Module, visual_config: dict, sign: Path, out: Path) -> dict[str, torch.Tensor]:
    """The released vision encoder with per-window LoRA (``lora_repeat_num`` 4), which the
    TextMonkey training script can also make: the folder's encoder plus random adapters (only
    those stored, in ``lora_visual.safetensors`` under the encoder's own names), and the sign's
    features (every fourth token) as ``TextMonkeyModel`` asks for them, with one adapter per
    window (``lora_idx`` 4) and with adapter 0 for every window (``lora_idx`` 1, what
    ``lora_repeat_num`` 1 computes)."""
    from monkey_model.text_monkey.visual_text import VisionTransformer

    visual = VisionTransformer(**{**visual_config, "lora_repeat_num": 4}).eval()
    randomise(visual, seed=16, special=textmonkey_values)
    missing = visual.load_state_dict(main_visual.state_dict(), strict=False).missing_keys
    assert missing and all("_lora." in name for name in missing)
    save_file({name: visual.state_dict()[name].half().contiguous() for name in missing}, out / "lora_visual.safetensors")
    return {f"sign.lora_{count}_features": visual.encode([str(sign)], lora_idx=count)[0, ::4].float().contiguous() for count in (4, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", type=Path, required=True, help="checkout of github.com/Yuliang-Liu/Monkey")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder for the toy copy of the release")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sys.path.insert(0, str(toy_release(args.release, args.work.resolve())))
    import transformers  # noqa: F401  (imported before the stand-in, which it must not take for torchvision)
    install_torchvision_stand_in()
    import monkey_model.modeling_qwen as modeling_qwen
    modeling_qwen.use_flash_attention = False
    from monkey_model.configuration_monkey import MonkeyConfig
    from monkey_model.modeling_textmonkey import TextMonkeyLMHeadModel
    from monkey_model.tokenization_qwen import QWenTokenizer

    out = args.out.resolve()
    model_dir = out / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    lines = (args.release / "monkey_model" / "qwen.tiktoken").read_bytes().splitlines()[:RANKS]
    (model_dir / "qwen.tiktoken").write_bytes(b"\n".join(lines) + b"\n")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(args.release / "monkey_model" / name, model_dir / name)
    config = MonkeyConfig(**tiny_config(args.release))
    model = TextMonkeyLMHeadModel(config).eval()
    randomise(model, seed=15, special=textmonkey_values)
    model.half().save_pretrained(model_dir, safe_serialization=True, max_shard_size="1MB")

    # From here on, everything is read back from the folder as the release's scripts do.
    config = MonkeyConfig.from_pretrained(model_dir)
    model = TextMonkeyLMHeadModel.from_pretrained(model_dir, config=config, torch_dtype=torch.float32).eval()
    tokenizer = QWenTokenizer(str(model_dir / "qwen.tiktoken"))
    tokenizer.padding_side = "left"
    tokenizer.pad_token_id = tokenizer.eod_id
    tokenizer.IMG_TOKEN_SPAN = config.visual["n_queries"]
    images = fixture_images(out)
    textured_sign(images["sign"])
    tensors, cases = record_cases(model, tokenizer, prompts(), images)
    with torch.no_grad():
        visual = model.transformer.visual
        recorded: dict[str, torch.Tensor] = {}
        first = visual.transformer.window_attention[0]
        first.register_forward_hook(lambda module, inputs, output: recorded.update(before=inputs[0], after=output))
        full = visual.image_transform(Image.open(images["sign"]).convert("RGB")).unsqueeze(0)
        tensors["sign.image_features"] = visual.encode([str(images["sign"])])[0].float().contiguous()
        tensors["sign.window_attention_0_input"] = sampled(recorded["before"])
        tensors["sign.window_attention_0_output"] = sampled(recorded["after"])
        tensors["sign.local_features"] = visual(full, None, add_window=True)[0, ::2].float().contiguous()
        global_view = torch.nn.functional.interpolate(full, size=(448, 448), mode="bicubic")
        tensors["sign.global_features"] = visual(global_view, lora_idx=None, add_window=False)[0].float().contiguous()
        tensors["sign.pixels"] = full[0, :, ::32, ::32].float().contiguous()
        margins = {}
        for name, path in images.items():
            pixels = visual.image_transform(Image.open(path).convert("RGB")).unsqueeze(0)
            margins[name] = resampler_margin(visual(pixels, None, add_window=True)[0], config.visual["r"])
        tensors.update(lora_references(visual, config.visual, images["sign"], out))
    write_reference(out, "make_textmonkey_fixture.py with the released TextMonkey code", config, tokenizer, cases, tensors,
                    token_resampler_margin=margins)

if __name__ == "__main__":
    main()
