"""Writes the tiny mPLUG-DocOwl 1.5 parity fixture with the released DocOwl code (README.md here).

Run in an environment with the versions the release names (transformers 4.31.0, sentencepiece,
einops, icecream), CPU only:

    python make_docowl_fixture.py --release PATH/TO/mPLUG-DocOwl/DocOwl1.5 --out docowl_tiny

``--release`` is the ``DocOwl1.5`` folder of github.com/X-PLUG/mPLUG-DocOwl; its
``mplug_docowl`` package is imported unmodified, and each prompt goes through the steps of
``docowl_infer.py``'s ``DocOwlInfer.inference`` (``DocProcessor`` with ``grid_9`` anchors, the
global image and the textual crop indicators; the ``mplug_owl2`` conversation;
``tokenizer_image_token``; greedy ``generate`` with the ``</s>`` stopping criterion; the
decoded new tokens stripped and ``</s>`` removed), in float32 on the CPU instead of float16 on
CUDA and with ``MAX_NEW_TOKENS`` instead of 512. Stand-in, without effect on the numbers: where
torchvision cannot load (its PyPI wheels link the CUDA build of torch), the few pieces
``processor.py`` imports are given (``tests/model_adapters/torchvision_stand_in.py``) with
torchvision's arithmetic on PIL images (``resize`` is PIL's ``Image.resize`` with the named
filter, ``ToTensor`` divides the uint8 pixels by 255, ``Normalize`` subtracts the mean and
divides by the std, ``box_area`` is width times height).

The LLaMA tokenizer of the release (32000 pieces) is not in the release repository; a small
sentencepiece BPE model is trained here with LLaMA's settings (byte fallback, split digits,
dummy prefix, identity normalisation, ``<unk>``/``<s>``/``</s>`` as ids 0/1/2) and saved by
``LlamaTokenizer.save_pretrained`` in the release's layout.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from safetensors.torch import save_file

MAX_NEW_TOKENS = 12
SEED = 20240314
VOCAB = 1000
#: The end token's LM-head row is this piece's, scaled by 1.1: with these seeded weights the
#: document cases then reach ``</s>`` at their second step (the stop and its decoding are
#: covered) while the small image's case runs to ``MAX_NEW_TOKENS``.
END_LIKE_PIECE = 983

LLM = {
    "hidden_size": 64,
    "intermediate_size": 160,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "vocab_size": VOCAB,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
    "tie_word_embeddings": False,
    "architectures": ["MPLUGDocOwlLlamaForCausalLM"],
    "torch_dtype": "float16",
}
VISUAL = {
    "visual_model": {"hidden_size": 32, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "image_size": 448, "patch_size": 14, "layer_norm_eps": 1e-6, "hidden_act": "quick_gelu"},
    "visual_hreducer": {"hidden_size": 32, "conv_shape": "1x4", "layer_norm_eps": 1e-6},
}
#: name -> (image, query, add_global_img); the document image selects a 2x3 grid, the small
#: one a single crop; the last case is processed as the release's text localization evaluation
#: does it (docowl_doclocal4k_evaluate.py: no global view).
CASES = {
    "doc_what": ("doc", "What is the title of this document?", True),
    "doc_total": ("doc", "What is the total amount?", True),
    "small_read": ("small", "Recognize the text in the image.", True),
    "doc_local": ("doc", "Identify the text within the bounding box <bbox>100,50,950,150</bbox>", False),
}
TOKENIZER_TEXTS = [
    "USER: <global_img>",
    "<crop_img_row1_col2>",
    "What is the total? ASSISTANT:",
    "Numbers 1234.5 and  two  spaces\nnew line",
    "ünïcödé – “quotes” 日本",
    "before</s>after <s> x",
]


def install_torchvision_stand_in() -> None:
    """torchvision's pieces with its arithmetic where it cannot load, shared with the Monkey
    fixture script (``tests/model_adapters/torchvision_stand_in.py``, read by its path)."""
    runpy.run_path(str(Path(__file__).resolve().parents[2] / "torchvision_stand_in.py"))["install_torchvision_stand_in"]()


def train_tokenizer(release: Path, folder: Path) -> Path:
    """A small BPE with LLaMA's sentencepiece settings, trained on the release's README."""
    import sentencepiece as spm

    corpus = folder / "corpus.txt"
    lines = (release / "README.md").read_text(encoding="utf-8").splitlines()
    lines += [text for _, text, _ in CASES.values()] + TOKENIZER_TEXTS
    lines += [f"<crop_img_row{r}_col{c}>" for r in range(9) for c in range(9)] + ["<global_img> USER: ASSISTANT:"]
    corpus.write_text("\n".join(line for line in lines if line.strip()), encoding="utf-8")
    prefix = folder / "sp"
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), model_type="bpe", vocab_size=VOCAB, byte_fallback=True,
        split_digits=True, add_dummy_prefix=True, remove_extra_whitespaces=False, normalization_rule_name="identity",
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=0.9995, allow_whitespace_only_pieces=True,
        num_threads=1, minloglevel=2,
    )
    corpus.unlink()
    (folder / "sp.vocab").unlink()
    return folder / "sp.model"


def draw_images(folder: Path) -> dict[str, Image.Image]:
    rng = np.random.default_rng(SEED)
    doc = Image.new("RGB", (1300, 900), (250, 248, 240))
    draw = ImageDraw.Draw(doc)
    draw.rectangle((60, 40, 1240, 140), fill=(30, 60, 150))
    for line in range(14):
        y = 190 + 48 * line
        draw.rectangle((80, y, 80 + int(rng.integers(300, 1100)), y + 22), fill=(20, 20, 20))
    draw.text((90, 70), "QUARTERLY REPORT", fill=(255, 255, 255))
    small = Image.fromarray(rng.integers(0, 256, (300, 280, 3), dtype=np.uint8))
    images = {"doc": doc, "small": small}
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
        image.save(folder / "images" / f"{name}.png")
    return {name: Image.open(folder / "images" / f"{name}.png").convert("RGB") for name in images}


def randomize(model: torch.nn.Module) -> None:
    """Every tensor random and non-zero, float16-representable; norms near 1."""
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("inv_freq"):
                continue
            shape = tensor.shape
            noise = torch.randn(shape, generator=generator)
            if "norm" in name or name.endswith("ln_q.weight"):
                value = 1.0 + 0.2 * noise if name.endswith("weight") else 0.1 * noise
            elif tensor.dim() >= 2:
                fan_in = int(np.prod(shape[1:])) if tensor.dim() > 2 else shape[-1]
                value = noise / fan_in ** 0.5
            else:
                value = 0.1 * noise
            if "embed_tokens" in name or "position_embedding" in name or "cls_token" in name or "vit_eos" in name:
                value = noise * 0.5
            value = torch.where(value == 0, torch.full_like(value, 1e-3), value)
            tensor.copy_(value.half().float())
        head = model.lm_head.weight
        head[2] = (1.1 * head[END_LIKE_PIECE]).half().float()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--release", type=Path, required=True, help="the DocOwl1.5 folder of the release")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)

    from transformers import AutoTokenizer, LlamaTokenizer

    install_torchvision_stand_in()  # after transformers, which probes for torchvision's spec
    sys.path.insert(0, str(args.release))
    from mplug_docowl.constants import IMAGE_TOKEN_INDEX
    from mplug_docowl.conversation import conv_templates
    from mplug_docowl.mm_utils import KeywordsStoppingCriteria, tokenizer_image_token
    from mplug_docowl.model import MPLUGDocOwlConfig, MPLUGDocOwlLlamaForCausalLM
    from mplug_docowl.processor import DocProcessor

    out: Path = args.out
    folder = out / "model"
    folder.mkdir(parents=True, exist_ok=True)
    scratch = out / "tokenizer-training"
    scratch.mkdir(exist_ok=True)
    sp_model = train_tokenizer(args.release, scratch)
    LlamaTokenizer(vocab_file=str(sp_model), legacy=False).save_pretrained(folder)
    for path in scratch.iterdir():
        path.unlink()
    scratch.rmdir()

    config = MPLUGDocOwlConfig(visual_config=VISUAL, **LLM)
    model = MPLUGDocOwlLlamaForCausalLM(config)
    randomize(model)
    model.half().save_pretrained(folder, safe_serialization=True, max_shard_size="400KB")
    del model

    tokenizer = AutoTokenizer.from_pretrained(folder, use_fast=False)
    model = MPLUGDocOwlLlamaForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).eval()
    processors = {flag: DocProcessor(image_size=448, anchors="grid_9", add_global_img=flag, add_textual_crop_indicator=True)
                  for flag in (True, False)}
    processor = processors[True]
    images = draw_images(out)

    reference: dict = {"max_new_tokens": MAX_NEW_TOKENS, "tokenizer": [], "tokenizer_legacy": [], "images": {}, "cases": {}}
    tensors: dict[str, torch.Tensor] = {}
    # the folder's tokenizer (legacy=False), and the same folder loaded with a
    # tokenizer_config.json that does not name legacy (transformers 4.31 then uses legacy=True)
    legacy_folder = out / "tokenizer-legacy"
    LlamaTokenizer(vocab_file=str(folder / "tokenizer.model")).save_pretrained(legacy_folder)
    settings = json.loads((legacy_folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    settings.pop("legacy")
    (legacy_folder / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    legacy = AutoTokenizer.from_pretrained(legacy_folder, use_fast=False)
    for path in legacy_folder.iterdir():
        path.unlink()
    legacy_folder.rmdir()
    for key, variant in (("tokenizer", tokenizer), ("tokenizer_legacy", legacy)):
        for text in TOKENIZER_TEXTS:
            ids = variant(text).input_ids
            reference[key].append({"text": text, "ids": ids, "decoded": variant.decode(ids)})
    for name, image in images.items():
        anchor_index = processor.resizer(image, skip_resize=True)
        pixels, positions, _ = processor(images=image, query="<|image|>x")
        reference["images"][name] = {"anchor": list(processor.anchors[int(anchor_index)]), "patch_positions": positions.tolist()}
        tensors[f"{name}.pixels_subsample"] = pixels[:, :, ::16, ::16].contiguous()
        tensors[f"{name}.pixels_sum"] = pixels.double().sum(dim=(1, 2, 3))
        with torch.no_grad():
            features = model.encode_images(pixels, positions)
        tensors[f"{name}.features_global"] = features[0].contiguous()
        tensors[f"{name}.features_last_crop"] = features[-1].contiguous()

    for name, (image_name, query, global_view) in CASES.items():
        pixels, positions, text = processors[global_view](images=images[image_name], query="<|image|>" + query)
        conv = conv_templates["mplug_owl2"].copy()
        conv.append_message(conv.roles[0], text)
        conv.append_message(conv.roles[1], None)
        prompt = conv.get_prompt()
        input_ids = tokenizer_image_token(prompt, tokenizer, IMAGE_TOKEN_INDEX, return_tensors="pt").unsqueeze(0)
        stopping = KeywordsStoppingCriteria([conv.sep2], tokenizer, input_ids)
        with torch.inference_mode():
            output = model.generate(input_ids, images=pixels, patch_positions=positions, do_sample=False, temperature=1.0,
                                    max_new_tokens=MAX_NEW_TOKENS, use_cache=True, stopping_criteria=[stopping],
                                    output_scores=True, return_dict_in_generate=True)
        new_tokens = output.sequences[0, input_ids.shape[1]:]
        answer = tokenizer.decode(new_tokens).strip().replace("</s>", "")
        reference["cases"][name] = {
            "image": image_name, "query": query, "global_view": global_view, "prompt": prompt, "input_ids": input_ids[0].tolist(),
            "greedy_tokens": new_tokens.tolist(), "answer": answer,
        }
        tensors[f"{name}.first_logits"] = output.scores[0][0].contiguous()
        tensors[f"{name}.step_scores"] = torch.stack([score[0] for score in output.scores]).contiguous()

    (out / "reference.json").write_text(json.dumps(reference, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    save_file(tensors, out / "reference.safetensors")


if __name__ == "__main__":
    main()
