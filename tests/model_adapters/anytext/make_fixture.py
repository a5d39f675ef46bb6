"""Builds the AnyText parity fixture with the released code (not collected by pytest).

Run in an environment with the release's libraries (README.md says which) and its checkout:

    python make_fixture.py --release /path/to/AnyText --font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf --out release

It writes, under ``--out``: ``anytext_v1.1.ckpt.xz`` (the release's checkpoint layout,
``torch.save(model.state_dict())`` as ``tool_add_anytext.py`` saves it, xz-compressed),
``models_yaml/anytext_sd15.yaml`` (the release's config at toy size),
``clip-vit-large-patch14/`` (tokenizer files and text-model config, as the ModelScope folder
holds them), ``outputs.pt`` and ``outputs.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import math
import os
import sys
import tempfile
import types
from pathlib import Path

#: Toy sizes. GroupNorm has 32 groups everywhere in the release, so channels are multiples of 32;
#: four VAE levels keep the latent at 1/8 of the image, which the glyph and position encoders need.
CONTEXT = 32
#: The UNet's and the control network's shared parameters in the yaml.
NETWORK = {"image_size": 32, "in_channels": 4, "model_channels": 32, "attention_resolutions": [1], "num_res_blocks": 1,
           "channel_mult": [1, 2], "num_heads": 2, "use_spatial_transformer": True, "transformer_depth": 1,
           "context_dim": CONTEXT, "use_checkpoint": False, "legacy": False}
CONFIG = {"model": {"target": "cldm.cldm.ControlLDM", "params": {
    "linear_start": 0.00085, "linear_end": 0.0120, "num_timesteps_cond": 1, "log_every_t": 200, "timesteps": 1000,
    "first_stage_key": "img", "cond_stage_key": "caption", "control_key": "hint", "glyph_key": "glyphs",
    "position_key": "positions", "image_size": 64, "channels": 4, "cond_stage_trainable": True,
    "conditioning_key": "crossattn", "monitor": "val/loss_simple_ema", "scale_factor": 0.18215, "use_ema": False,
    "only_mid_control": False, "loss_alpha": 0, "loss_beta": 0, "latin_weight": 1.0, "with_step_weight": True,
    "use_vae_upsample": True,
    "embedding_manager_config": {"target": "cldm.embedding_manager.EmbeddingManager", "params": {
        "valid": True, "emb_type": "ocr", "glyph_channels": 1, "position_channels": 1, "add_pos": False, "placeholder_string": "*"}},
    "control_stage_config": {"target": "cldm.cldm.ControlNet", "params": {**NETWORK, "glyph_channels": 1, "position_channels": 1}},
    "unet_config": {"target": "cldm.cldm.ControlledUnetModel", "params": {**NETWORK, "out_channels": 4}},
    "first_stage_config": {"target": "ldm.models.autoencoder.AutoencoderKL", "params": {
        "embed_dim": 4, "monitor": "val/rec_loss",
        "ddconfig": {"double_z": True, "z_channels": 4, "resolution": 64, "in_channels": 3, "out_ch": 3, "ch": 32,
                     "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0},
        "lossconfig": {"target": "torch.nn.Identity"}}},
    "cond_stage_config": {"target": "ldm.modules.encoders.modules.FrozenCLIPEmbedderT3", "params": {"use_vision": False}},
}}}
#: The recogniser at toy size: the release builds PP-OCRv3's (MobileNetV1Enhance at scale 0.5,
#: SVTR neck of 120 hidden dims, 6625 classes) in ``create_predictor``; the neck's 64 output dims
#: and its 40 columns (a 320-px wide input) stay, since the text-embedding projection reads 40 × 64.
OCR_SCALE, OCR_HIDDEN, OCR_CLASSES = 0.125, 32, 97
BOS, EOS = 49406, 49407
MERGES = ["t h", "th e</w>", "a n", "an d</w>", "i n", "o n", "e r", "r e", "x t</w>", "w r"]
A_PROMPT = "best quality, extremely detailed"
N_PROMPT = ("longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer digits, cropped, "
            "worst quality, low quality, watermark")
SIZE, SAMPLES, STEPS, SCALE = 64, 2, 2, 9.0
#: An upright rectangle, a rotated one, and a tall one (drawn character under character).
TEXTS = ["AnyText", "42 x", "OK"]
POLYGONS = [[[6, 8], [58, 8], [58, 24], [6, 24]], [[10, 36], [50, 30], [52, 44], [12, 50]], [[54, 28], [62, 28], [62, 62], [54, 62]]]
PROMPT = "photo of a sign with  *   *   *  written on it"
LONG_PROMPT = "a " + " ".join(f"word{i}" for i in range(40)) + " with  *  and  *  on it"


def stub_unused_modules() -> None:
    """``torchvision`` (image grids for training logs) and ``open_clip`` (other text encoders)
    are imported at module level by files the inference path loads, and never called by it."""
    torchvision = types.ModuleType("torchvision")
    utils = types.ModuleType("torchvision.utils")
    utils.make_grid = None
    torchvision.utils = utils
    sys.modules.update({"torchvision": torchvision, "torchvision.utils": utils, "open_clip": types.ModuleType("open_clip")})


def bytes_to_unicode() -> list[str]:
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = printable[:], 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def write_clip_folder(folder: Path) -> None:
    """CLIP's tokenizer files with a toy vocabulary (the 256 byte symbols with and without
    ``</w>``, a few merges) at the ids SD1.5's has for its special tokens, and a text config."""
    folder.mkdir(parents=True, exist_ok=True)
    symbols = bytes_to_unicode()
    vocab = {symbol: index for index, symbol in enumerate(symbols)}
    vocab.update({symbol + "</w>": 256 + index for index, symbol in enumerate(symbols)})
    for index, merge in enumerate(MERGES):
        vocab["".join(merge.split())] = 512 + index
    vocab.update({"<|startoftext|>": BOS, "<|endoftext|>": EOS})
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(MERGES) + "\n", encoding="utf-8")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")
    config = {**special, "model_max_length": 77, "do_lower_case": True, "errors": "replace", "tokenizer_class": "CLIPTokenizer"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    text_config = {
        "architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "vocab_size": EOS + 1, "hidden_size": CONTEXT,
        "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 77,
        "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "projection_dim": CONTEXT, "bos_token_id": 0, "eos_token_id": 2,
        "pad_token_id": 1,
    }
    (folder / "config.json").write_text(json.dumps(text_config, indent=2), encoding="utf-8")


def random_value(name: str, tensor, generator):
    """Each weight as small multiples of a power of two (fp16-exact, and few distinct values,
    so that the xz-compressed checkpoint stays small); never zero."""
    import torch

    if not tensor.is_floating_point() or "." not in name:
        return tensor  # integer buffers and the DDPM schedule (betas, alphas_cumprod, ..., logvar)
    steps = torch.randint(1, 13, tensor.shape, generator=generator).float()
    signs = torch.randint(0, 2, tensor.shape, generator=generator).float() * 2 - 1
    if name.endswith("running_var"):
        return 0.5 + steps / 16
    if tensor.ndim == 1 and name.endswith("weight"):
        return 1 + signs * steps / 64
    if tensor.ndim == 1:
        return signs * steps / 64
    if name.endswith("token_embedding.weight"):
        values = signs * steps / 32
        used = torch.zeros(tensor.shape[0], dtype=torch.bool)
        used[: 512 + len(MERGES)] = True
        used[BOS:] = True
        values[~used] = values[~used][:1]  # rows no token reaches: one repeated row
        return values
    fan_in = tensor[0].numel()
    scale = 2.0 ** round(math.log2(1 / math.sqrt(fan_in)))
    return signs * steps / 8 * scale


def build_model(release: Path, clip: Path, yaml_path: Path):
    import cldm.cldm as cldm_module
    import torch.nn as nn
    from cldm.ddim_hacked import DDIMSampler
    from cldm.model import create_model
    from easydict import EasyDict as edict
    from ldm.modules.diffusionmodules.util import linear, zero_module
    from ocr_recog.RecModel import RecModel

    def toy_predictor(model_dir=None, model_lang="ch", is_onnx=False):
        config = edict(
            in_channels=3,
            backbone=edict(type="MobileNetV1Enhance", scale=OCR_SCALE, last_conv_stride=[1, 2], last_pool_type="avg"),
            neck=edict(type="SequenceEncoder", encoder_type="svtr", dims=64, depth=2, hidden_dims=OCR_HIDDEN, use_guide=True),
            head=edict(type="CTCHead", fc_decay=0.00001, out_channels=OCR_CLASSES, return_feats=True),
        )
        return RecModel(config).eval()

    def register_buffer(self, name, attr):  # the release moves every buffer to CUDA
        setattr(self, name, attr)

    cldm_module.create_predictor = toy_predictor
    DDIMSampler.register_buffer = register_buffer
    model = create_model(str(yaml_path), cond_stage_path=str(clip))
    model.cond_stage_model.device = "cpu"
    # The release sizes this projection for CLIP ViT-L/14's 768-wide tokens.
    model.embedding_manager.proj = nn.Sequential(zero_module(linear(40 * 64, CONTEXT)), nn.LayerNorm(CONTEXT))
    return model.eval()


def arr2tensor(array, count):
    import numpy as np
    import torch

    tensor = torch.from_numpy(np.transpose(array, (2, 0, 1)).copy()).float()
    return torch.stack([tensor for _ in range(count)], dim=0)


def draw_position(polygon, size):
    """The benchmark script's ``draw_pos`` at the canvas size."""
    import cv2
    import numpy as np

    image = np.zeros((size, size, 1))
    cv2.fillPoly(image, [np.array(polygon).reshape((-1, 1, 2))], color=255)
    return image / 255.0


def text_inputs(font, texts, polygons, size):
    """Glyph lines, glyph canvases and positions as the benchmark script's ``get_item`` draws
    them (``draw_glyph2`` at twice the canvas, spaces added), for a ``size`` canvas."""
    import numpy as np
    from t3_dataset import draw_glyph, draw_glyph2

    lines = [draw_glyph(font, text) for text in texts]
    glyphs = [draw_glyph2(font, text, np.array(polygon), scale=2, width=size, height=size) for text, polygon in zip(texts, polygons)]
    positions = [draw_position(polygon, size) for polygon in polygons]
    return lines, glyphs, positions


def release_process(model, sampler, inputs, prompt, seed, source=None):
    """``process`` of ``eval/anytext_singleGPU.py`` at the fixture's size, on the CPU; with a
    ``source`` image the masked image is built from it as the ModelScope pipeline's
    ``text-editing`` mode builds it (``ori_image.clip(1, 255)``)."""
    import einops
    import numpy as np
    import torch
    from pytorch_lightning import seed_everything

    lines, glyphs, positions = inputs
    hint = np.sum(positions, axis=0).clip(0, 1)
    seed_everything(seed)
    info = {"glyphs": [arr2tensor(g, SAMPLES) for g in glyphs], "gly_line": [arr2tensor(g, SAMPLES) for g in lines],
            "positions": [arr2tensor(p, SAMPLES) for p in positions], "n_lines": [len(lines)] * SAMPLES}
    ref_img = np.ones((SIZE, SIZE, 3)) * 127.5 if source is None else source.clip(1, 255)
    masked_img = ((ref_img.astype(np.float32) / 127.5) - 1.0) * (1 - hint)
    masked_img = torch.from_numpy(np.transpose(masked_img, (2, 0, 1)).copy()).float()
    masked_x = model.get_first_stage_encoding(model.encode_first_stage(masked_img[None, ...])).detach()
    info["masked_x"] = torch.cat([masked_x for _ in range(SAMPLES)], dim=0)
    hint_tensor = arr2tensor(hint, SAMPLES)
    cond = model.get_learned_conditioning(dict(c_concat=[hint_tensor], c_crossattn=[[prompt + ", " + A_PROMPT] * SAMPLES], text_info=info))
    un_cond = model.get_learned_conditioning(dict(c_concat=[hint_tensor], c_crossattn=[[N_PROMPT] * SAMPLES], text_info=info))
    model.control_scales = [1.0] * 13
    samples, _ = sampler.sample(STEPS, SAMPLES, (4, SIZE // 8, SIZE // 8), cond, verbose=False, eta=0.0,
                                unconditional_guidance_scale=SCALE, unconditional_conditioning=un_cond)
    decoded = model.decode_first_stage(samples)
    images = (einops.rearrange(decoded, "b c h w -> b h w c") * 127.5 + 127.5).cpu().numpy().clip(0, 255).astype(np.uint8)
    return {"masked_x": masked_x, "cond": cond["c_crossattn"][0], "uncond": un_cond["c_crossattn"][0],
            "latents": samples, "decoded": decoded, "images": torch.from_numpy(images)}


def source_image():
    """A fixed 64 × 64 RGB picture with values 0..255 (0 included, which the edit mode clips)."""
    import numpy as np

    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    image = np.stack([xs * 4, ys * 4, (xs * ys) % 256], axis=-1)
    return image.clip(0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", type=Path, required=True, help="a checkout of github.com/tyxsspa/AnyText")
    parser.add_argument("--font", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    out = args.out.resolve()
    font_path = args.font.resolve()
    release = args.release.resolve()
    sys.path.insert(0, str(release))
    os.chdir(release)  # the recogniser reads ./ocr_recog/ppocr_keys_v1.txt

    import numpy as np
    import pytorch_lightning  # noqa: F401
    import torch
    import yaml
    from PIL import ImageFont
    from transformers import CLIPTextConfig, CLIPTextModel

    stub_unused_modules()  # after transformers and Lightning, which look for torchvision when imported

    torch.set_num_threads(1)
    (out / "models_yaml").mkdir(parents=True, exist_ok=True)
    yaml_path = out / "models_yaml" / "anytext_sd15.yaml"
    yaml_path.write_text(yaml.safe_dump(CONFIG, sort_keys=False), encoding="utf-8")
    clip = out / "clip-vit-large-patch14"
    write_clip_folder(clip)
    with tempfile.TemporaryDirectory() as scratch:
        # FrozenCLIPEmbedderT3 loads weights from the folder; the checkpoint overrides them.
        loadable = Path(scratch) / "clip"
        write_clip_folder(loadable)
        torch.manual_seed(0)
        CLIPTextModel(CLIPTextConfig.from_pretrained(loadable)).save_pretrained(loadable)
        model = build_model(release, loadable, yaml_path)

    generator = torch.Generator().manual_seed(20240101)
    state = {name: random_value(name, tensor, generator).to(tensor.dtype) for name, tensor in model.state_dict().items()}
    saved = {name: (t.half() if t.is_floating_point() and "." in name else t) for name, t in state.items()}
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    (out / "anytext_v1.1.ckpt.xz").write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = Path(scratch) / "anytext_v1.1.ckpt"
        checkpoint.write_bytes(buffer.getvalue())
        from cldm.model import load_state_dict

        model.load_state_dict(load_state_dict(str(checkpoint), location="cpu"), strict=True)
    zero = [name for name, tensor in model.state_dict().items()
            if tensor.is_floating_point() and "." in name and not tensor.abs().gt(0).any()]
    assert not zero, f"all-zero tensors: {zero}"

    from cldm.ddim_hacked import DDIMSampler

    font = ImageFont.truetype(str(font_path), size=60)
    outputs: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        lines, glyphs, positions = text_inputs(font, TEXTS, POLYGONS, SIZE)
        for index in range(len(TEXTS)):
            outputs[f"glyph.line.{index}"] = torch.from_numpy(lines[index][..., 0].astype(np.uint8))
            outputs[f"glyph.canvas.{index}"] = torch.from_numpy(glyphs[index][..., 0].astype(np.uint8))
            outputs[f"position.{index}"] = torch.from_numpy(positions[index][..., 0].astype(np.uint8))

        recognizer = model.cn_recognizer
        crops = [(arr2tensor(line, 1).repeat(1, 3, 1, 1) * 255)[0] for line in lines]
        outputs["ocr.input"] = torch.stack([recognizer.resize_norm_img(crop.clone(), 320 / 48) for crop in crops])
        ctc, neck = recognizer.pred_imglist([crop.clone() for crop in crops])
        outputs["ocr.ctc"], outputs["ocr.neck"] = ctc, neck

        info = {"glyphs": [arr2tensor(g, SAMPLES) for g in glyphs], "gly_line": [arr2tensor(g, SAMPLES) for g in lines],
                "positions": [arr2tensor(p, SAMPLES) for p in positions], "n_lines": [len(TEXTS)] * SAMPLES}
        model.embedding_manager.encode_text(info)
        outputs["embedding.lines"] = torch.cat(model.embedding_manager.text_embs_all[0], dim=0)
        encoder = model.cond_stage_model
        outputs["text.prompt"] = encoder.encode([PROMPT + ", " + A_PROMPT], embedding_manager=model.embedding_manager)
        outputs["text.negative"] = encoder.encode([N_PROMPT], embedding_manager=model.embedding_manager)
        outputs["text.long"] = encoder.encode([LONG_PROMPT], embedding_manager=model.embedding_manager)
        outputs["text.empty"] = encoder.encode([""], embedding_manager=model.embedding_manager)
        outputs["text.ids.prompt"] = encoder.tokenizer([PROMPT + ", " + A_PROMPT], return_tensors="pt")["input_ids"]
        outputs["text.ids.long"] = encoder.tokenizer([LONG_PROMPT], return_tensors="pt")["input_ids"]

        noise = torch.Generator().manual_seed(7)
        latents = torch.randn((SAMPLES, 4, SIZE // 8, SIZE // 8), generator=noise)
        masked_x = torch.randn((SAMPLES, 4, SIZE // 8, SIZE // 8), generator=noise)
        info["masked_x"] = masked_x
        timesteps = torch.tensor([501, 951])
        context = torch.cat([outputs["text.prompt"], outputs["text.negative"][:, :77]], dim=0)
        controls = model.control_model(x=latents, timesteps=timesteps, context=context, hint=None, text_info=info)
        eps = model.apply_model(latents, timesteps, {"c_crossattn": [context], "c_concat": [torch.zeros(SAMPLES, 1, SIZE, SIZE)], "text_info": info})
        outputs["unet.latents"], outputs["unet.masked_x"], outputs["unet.timesteps"] = latents, masked_x, timesteps
        for index, control in enumerate(controls):
            outputs[f"control.{index}"] = control
        outputs["unet.eps"] = eps
        posterior = model.encode_first_stage(torch.from_numpy(source_image()).permute(2, 0, 1)[None].float() / 127.5 - 1)
        outputs["vae.mean"], outputs["vae.std"] = posterior.mean, posterior.std
        outputs["vae.decoded"] = model.decode_first_stage(latents)

        sampler = DDIMSampler(model)
        inputs = (lines, glyphs, positions)
        for mode, seed, source in (("generate", 1234, None), ("edit", 4321, source_image())):
            for key, value in release_process(model, sampler, inputs, PROMPT, seed, source).items():
                outputs[f"{mode}.{key}"] = value
        outputs["edit.source"] = torch.from_numpy(source_image())

    torch.save({key: value.contiguous() for key, value in outputs.items()}, out / "outputs.pt")
    import PIL
    import transformers

    recorded = {
        "texts": TEXTS, "polygons": POLYGONS, "prompt": PROMPT, "long_prompt": LONG_PROMPT, "a_prompt": A_PROMPT,
        "n_prompt": N_PROMPT, "size": SIZE, "samples": SAMPLES, "steps": STEPS, "guidance_scale": SCALE,
        "seeds": {"generate": 1234, "edit": 4321}, "font": font_path.name,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "pillow": PIL.__version__,
                     "numpy": np.__version__},
        "shapes": {key: list(value.shape) for key, value in outputs.items()},
    }
    (out / "outputs.json").write_text(json.dumps(recorded, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
