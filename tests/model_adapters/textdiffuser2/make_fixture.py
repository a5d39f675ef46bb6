"""Build the TextDiffuser-2 parity fixture: tiny random-weight folders in the released layout and
the outputs the released procedure computes from them.

Run in an environment with the release's library versions (``textdiffuser-2/requirements.txt``
of microsoft/unilm: transformers 4.28.1, diffusers 0.24.0, fschat 0.2.26), never in thbench's::

    python make_fixture.py --release /path/to/unilm/textdiffuser-2 --out .

The release's inference lives in scripts whose steps are inline in ``main()`` and in the demo's
``text_to_image`` (CUDA and fp16 hard-coded), so this script performs the same steps with the
same library calls, on the CPU in float32; each step names the lines it follows. The planner
template and the character alphabet are read back from the release files given by
``--release`` and checked equal to the ones used here. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import ast
import json
import string
from pathlib import Path

import torch

ALPHABET = string.digits + string.ascii_lowercase + string.ascii_uppercase + string.punctuation + " "
TEMPLATE = (
    "Given a prompt that will be used to generate an image, plan the layout of visual text for the image. "
    "The size of the image is 128x128. Therefore, all properties of the positions should not exceed 128, "
    "including the coordinates of top, left, right, and bottom. All keywords are included in the caption. "
    "You dont need to specify the details of font styles. At each line, the format should be keyword left, "
    "top, right, bottom. So let us begin. Prompt: {}"
)
#: runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json, which the release reads as a DDPMScheduler.
SD15_SCHEDULER = {
    "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True,
    "steps_offset": 1, "trained_betas": None, "clip_sample": False,
}
SEED = 1234
PLANNER_CAPTION = "a poster of 'Hello World' for a summer sale"
#: (caption, planner output) pairs whose composed prompt ids are recorded.
LAYOUT_CASES = [
    ("a cat holding a sign that says 'OPEN'", "OPEN 30,40,90,60\nL1 Sale! 10,80,120,100\n"),
    ("T1 and r2d2 at the café", "café 0,0,128,128\n### 5,5,6,6\nwww.shop.com 1,2,3,4\n\nr2 d2 64,10,70,20"),
    ("just a caption", ""),
    (" ".join(["a very long caption"] * 30), "TOO LONG 1,1,127,127"),
    ("It's SO cool!!! Ünïcode naïve 中文字 [a] <|endoftext|> T1 t1t2 l1 l12x l5190 b519 a\tb\u200bc", ""),
    ("many lines", "\n".join(f"w{i} {i},{i},{i + 10},{i + 5}" for i in range(12))),
]
PLANNER_GENERATION = {"do_sample": True, "temperature": 0.7, "repetition_penalty": 1.0, "max_new_tokens": 512}
STEPS, GUIDANCE, IMAGES = 2, 7.5, 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--release", type=Path, required=True, help="the textdiffuser-2 folder of microsoft/unilm")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    check_release_constants(args.release)
    out = args.out
    base, td2, planner = out / "sd15", out / "textdiffuser2-full-ft", out / "layout_planner"
    build_tokenizer(base / "tokenizer")
    tokenizer = extended_tokenizer(base / "tokenizer")
    text_encoder, unet, vae = build_diffusion(base, td2, len(tokenizer), tokenizer)
    planner_model, planner_tokenizer = build_planner(planner)

    outputs: dict[str, torch.Tensor] = {}
    strings: dict[str, object] = {"tokenizer_length": len(tokenizer)}
    run_planner(planner, planner_model, planner_tokenizer, outputs, strings)
    for index, (caption, layout) in enumerate(LAYOUT_CASES):
        outputs[f"prompt.{index}"] = torch.tensor(composed_prompt(tokenizer, caption, layout))
    strings["layout_cases"] = LAYOUT_CASES
    run_diffusion(base, tokenizer, text_encoder, unet, vae, outputs)

    torch.save(outputs, out / "outputs.pt")
    strings["shapes"] = {key: list(value.shape) for key, value in outputs.items()}
    (out / "outputs.json").write_text(json.dumps(strings, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def check_release_constants(release: Path) -> None:
    """The alphabet and the planner's template used here are the release's, character for character."""
    source = (release / "inference_textdiffuser2_t2i_full.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    templates = [node for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                 and any(isinstance(v, ast.Constant) and "plan the layout" in str(v.value) for v in node.values)]
    (template,) = templates
    literal = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in template.values)
    assert literal == TEMPLATE, literal
    assert "string.digits + string.ascii_lowercase + string.ascii_uppercase + string.punctuation + ' '" in source


def build_tokenizer(folder: Path) -> None:
    """A CLIP BPE tokenizer in the files and special tokens of SD1.5's, with a toy vocabulary:
    every byte alone and word-final, a few merges (one makes ``l1``, which the coordinate
    tokens then find already in the vocabulary), and the two special tokens last."""
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    merges = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("i", "n"), ("o", "n</w>"), ("e", "r"), ("s", "t"), ("l", "1"),
              ("a", "t</w>"), ("c", "a"), ("o", "p"), ("e", "n</w>")]
    vocab = chars + [c + "</w>" for c in chars] + ["".join(pair) for pair in merges] + ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=1), encoding="utf-8")
    config = {"do_lower_case": True, "errors": "replace", "model_max_length": 77, "tokenizer_class": "CLIPTokenizer", **special}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")


def extended_tokenizer(folder: Path):
    """inference_textdiffuser2_t2i_full.py lines 332-341: SD1.5's tokenizer plus 4 x 520
    coordinate tokens and one token per alphabet character."""
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(folder)
    for i in range(520):
        tokenizer.add_tokens(["l" + str(i)])
        tokenizer.add_tokens(["t" + str(i)])
        tokenizer.add_tokens(["r" + str(i)])
        tokenizer.add_tokens(["b" + str(i)])
    for c in ALPHABET:
        tokenizer.add_tokens([f"[{c}]"])
    return tokenizer


def perturb(module: torch.nn.Module, seed: int) -> None:
    """Every weight non-zero and away from its initial constant (norm weights 1, biases 0), so
    that a parameter loaded into the wrong place cannot go unnoticed; values rounded to fp16."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            noise = torch.randn(parameter.shape, generator=generator) * 0.05
            parameter.add_(noise).copy_(parameter.half().float())
            assert (parameter != 0).all()


def build_diffusion(base: Path, td2: Path, vocab_size: int, tokenizer):
    """SD1.5's VAE and scheduler under ``base``; the fine-tuned UNet and text encoder (saved
    after ``resize_token_embeddings``, as the release's training script saves them) under ``td2``."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=77, projection_dim=16, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4,
    )
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 8),
        latent_channels=4, norm_num_groups=4, layers_per_block=1, sample_size=16,
    )
    for seed, module in enumerate((text_encoder, unet, vae), start=1):
        perturb(module, seed)
    text_encoder.save_pretrained(td2 / "text_encoder")
    unet.save_pretrained(td2 / "unet")
    vae.save_pretrained(base / "vae")
    (base / "scheduler").mkdir(parents=True, exist_ok=True)
    (base / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD15_SCHEDULER, indent=1), encoding="utf-8")
    # Read back the way the demo reads them (demo_textdiffuser2_t2i_full.py lines 54-82).
    text_encoder = CLIPTextModel.from_pretrained(td2, subfolder="text_encoder")
    text_encoder.resize_token_embeddings(vocab_size)
    unet = UNet2DConditionModel.from_pretrained(td2, subfolder="unet")
    vae = AutoencoderKL.from_pretrained(base, subfolder="vae")
    return text_encoder.eval(), unet.eval(), vae.eval()


def build_planner(folder: Path):
    """A two-layer LLaMA with a sentencepiece tokenizer (byte fallback, as Vicuna's) trained on
    the planner's own prompt, saved as the release's planner folder is."""
    import sentencepiece
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    corpus = [*planner_prompt(folder).split("\n"), "OPEN 30,40,90,60", "Hello 12,20,70,40", "World 64,64,120,90"]
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_prefix=str(folder / "sp"), vocab_size=400, model_type="bpe",
        byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=1.0,
        split_digits=True, add_dummy_prefix=True, normalization_rule_name="identity",
    )
    (folder / "sp.model").rename(folder / "tokenizer.model")
    (folder / "sp.vocab").unlink()
    tokenizer = LlamaTokenizer(str(folder / "tokenizer.model"))
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    ))
    perturb(model, 4)
    model.save_pretrained(folder)
    # Read back the way the demo reads them (demo_textdiffuser2_t2i_full.py lines 48-51).
    tokenizer = LlamaTokenizer.from_pretrained(folder, use_fast=False)
    model = LlamaForCausalLM.from_pretrained(folder)
    return model.eval(), tokenizer


def planner_prompt(folder: Path) -> str:
    """inference_textdiffuser2_t2i_full.py: the template in FastChat's conversation template
    for the planner's path (no FastChat adapter matches it: the default one-shot template)."""
    from fastchat.model import get_conversation_template

    conv = get_conversation_template(str(folder))
    conv.append_message(conv.roles[0], TEMPLATE.format(PLANNER_CAPTION))
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


def run_planner(folder: Path, model, tokenizer, outputs: dict, strings: dict) -> None:
    """inference_textdiffuser2_t2i_full.py: the planner call, seeded with SEED just before."""
    prompt = planner_prompt(folder)
    inputs = tokenizer([prompt], return_token_type_ids=False)
    inputs = {k: torch.tensor(v) for k, v in inputs.items()}
    torch.manual_seed(SEED)
    with torch.no_grad():
        output_ids = model.generate(**inputs, **PLANNER_GENERATION)
    output_ids = output_ids[0][len(inputs["input_ids"][0]):]
    outputs["planner.input_ids"] = inputs["input_ids"][0]
    outputs["planner.output_ids"] = output_ids
    strings["planner"] = {
        "caption": PLANNER_CAPTION, "seed": SEED, "prompt": prompt, **PLANNER_GENERATION,
        "output": tokenizer.decode(output_ids, skip_special_tokens=True, spaces_between_special_tokens=False),
    }


def composed_prompt(tokenizer, user_prompt: str, outputs: str, max_length: int = 77) -> list[int]:
    """demo_textdiffuser2_t2i_full.py lines 294-327 and 360-362: the caption's ids, then per
    planned line its four coordinate tokens, its character tokens and an end token, cut and
    padded to 77."""
    ocr_ids = []
    for ocr in outputs.split("\n"):
        ocr = ocr.strip()
        if len(ocr) == 0 or "###" in ocr or ".com" in ocr:
            continue
        items = ocr.split()
        pred = " ".join(items[:-1])
        box = items[-1]
        l, t, r, b = box.split(",")
        l, t, r, b = int(l), int(t), int(r), int(b)
        ocr_ids.extend(["l" + str(l), "t" + str(t), "r" + str(r), "b" + str(b)])
        char_list = [f"[{i}]" for i in list(pred)]
        ocr_ids.extend(char_list)
        ocr_ids.append(tokenizer.eos_token_id)
    caption_ids = tokenizer(user_prompt, truncation=True, return_tensors="pt").input_ids[0].tolist()
    try:
        ocr_ids = tokenizer.encode(ocr_ids)
        prompt = caption_ids + ocr_ids
    except Exception:
        prompt = caption_ids
    prompt = prompt[:max_length]
    while len(prompt) < max_length:
        prompt.append(tokenizer.pad_token_id)
    return prompt


def run_diffusion(base: Path, tokenizer, text_encoder, unet, vae, outputs: dict) -> None:
    """demo_textdiffuser2_t2i_full.py lines 364-405 (fp32 on the CPU), with the seed set just
    before the noise is drawn, as inference_textdiffuser2_t2i_full.py line 546 sets it."""
    from diffusers import DDPMScheduler

    caption, layout = LAYOUT_CASES[0]
    prompt = composed_prompt(tokenizer, caption, layout)
    prompts_cond = torch.tensor([prompt] * IMAGES).long()
    prompts_nocond = torch.tensor([[tokenizer.pad_token_id] * 77] * IMAGES).long()
    with torch.no_grad():
        cond = text_encoder(prompts_cond)[0]
        nocond = text_encoder(prompts_nocond)[0]
        outputs["text_encoder.cond"], outputs["text_encoder.nocond"] = cond, nocond

        latents = torch.randn((IMAGES, 4, 8, 8), generator=torch.Generator().manual_seed(7))
        outputs["unet.latents"] = latents
        for t in (951, 500, 1):
            outputs[f"unet.noise.{t}"] = unet(sample=latents, timestep=t, encoder_hidden_states=cond).sample

        scheduler = DDPMScheduler.from_pretrained(base, subfolder="scheduler")
        scheduler.set_timesteps(STEPS)
        outputs["sample.timesteps"] = scheduler.timesteps.clone()
        torch.manual_seed(SEED)
        noise = torch.randn((IMAGES, 4, 8, 8))
        input = noise
        for t in scheduler.timesteps:
            noise_pred_cond = unet(sample=input, timestep=t, encoder_hidden_states=cond[:IMAGES]).sample
            noise_pred_uncond = unet(sample=input, timestep=t, encoder_hidden_states=nocond[:IMAGES]).sample
            noisy_residual = noise_pred_uncond + GUIDANCE * (noise_pred_cond - noise_pred_uncond)
            input = scheduler.step(noisy_residual, t, input).prev_sample
        outputs["sample.latents"] = input
        input = 1 / vae.config.scaling_factor * input
        images = vae.decode(input, return_dict=False)[0]
        outputs["sample.decoded"] = images
        pixels = [((image / 2 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype("uint8") for image in images]
        outputs["sample.pixels"] = torch.stack([torch.from_numpy(p) for p in pixels])


if __name__ == "__main__":
    main()
