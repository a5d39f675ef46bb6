"""Build the parity fixture by running the official TextHarmony code at toy size on the CPU.

Run outside CI, in an environment with the library versions the official code names
(transformers 4.31, diffusers 0.20, peft 0.3, einops; a CPU torch), given a checkout of the
official repository (the folder that holds its ``TextHarmony`` package):

    python make_fixture.py --official /path/to/TextHarmony-checkout --out .

See README.md beside this file for what is stored and why each stand-in is numerically neutral.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import torch
from torch import nn

SEED = 1234
#: Toy sizes; they match ``parity_config()`` in ``model_adapters/textharmony/config.py``.
VOCAB = 300
TOKENS = dict(bos_token_id=1, eos_token_id=2, pad_token_id=VOCAB - 3, soi_token_id=VOCAB - 2, image_token_id=VOCAB - 1)
IMAGE_SIZE = 56
NUM_IMAGE_TOKENS = 8
LORA_RANK, LORA_ALPHA = 4, 8  # alpha != rank, so that a wrong scaling rule shows
FEATURE_LEVELS = [8, 4, 2]
SD_IMAGE_SIZE = 64
SD_UNET = dict(
    act_fn="silu", attention_head_dim=[2, 2, 2, 2], block_out_channels=[8, 8, 16, 16], center_input_sample=False,
    cross_attention_dim=32, down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], downsample_padding=1,
    flip_sin_to_cos=True, freq_shift=0, in_channels=4, layers_per_block=1, mid_block_scale_factor=1, norm_eps=1e-5,
    norm_num_groups=8, out_channels=4, sample_size=8, up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
    upcast_attention=False, use_linear_projection=True,
)
SD_VAE = dict(
    act_fn="silu", block_out_channels=[8, 16, 16, 16], down_block_types=["DownEncoderBlock2D"] * 4, in_channels=3,
    latent_channels=4, layers_per_block=1, norm_num_groups=8, out_channels=3, sample_size=SD_IMAGE_SIZE,
    up_block_types=["UpDecoderBlock2D"] * 4, scaling_factor=0.18215,
)
SD_SCHEDULER = dict(
    beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
    num_train_timesteps=1000, prediction_type="epsilon", steps_offset=1,
)
CONTEXT_QUERIES = 6
SAMPLE_STEPS = 2
GREEDY_NEW_TOKENS = 6
BEAM_NEW_TOKENS = 12
#: Added to EOS's output bias so that stopping is exercised: with it, greedy decoding stops at once
#: in one row and not in the other, and beam search keeps an ended hypothesis that must lose.
EOS_BIAS = 1.0


class AttrDict(dict):
    """The official constructors read their YAML sections both as mappings and as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# ---------------------------------------------------------------------------------------------
# Stand-ins for CUDA-only imports. Each computes what the CUDA code computes, in plain PyTorch.


class LowerTriangularMask:
    """Marks causal attention, as xformers' class of that name does."""


def _softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_bias: Any = None) -> torch.Tensor:
    """xformers' memory_efficient_attention on [B, L, H, D] inputs, as an explicit softmax."""
    if attn_bias is not None and not isinstance(attn_bias, LowerTriangularMask):
        raise NotImplementedError(f"attention bias {type(attn_bias)}")
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5
    if attn_bias is not None:
        length = scores.shape[-1]
        causal = torch.ones(scores.shape[-2], length, dtype=torch.bool).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2)


def install_stand_ins() -> None:
    import diffusers  # noqa: F401  (both probe for real packages at import: let them see none)
    import transformers  # noqa: F401

    xformers = types.ModuleType("xformers")
    ops = types.ModuleType("xformers.ops")
    ops.memory_efficient_attention = _softmax_attention
    ops.LowerTriangularMask = LowerTriangularMask
    xformers.ops = ops
    sys.modules.update({"xformers": xformers, "xformers.ops": ops})

    def deform_forward(value, shapes, level_start, locations, weights, im2col_step):
        # The official pure-PyTorch reference of the CUDA kernel, from the same checkout.
        from TextHarmony.models.utils.ops.functions.ms_deform_attn_func import ms_deform_attn_core_pytorch

        return ms_deform_attn_core_pytorch(value, shapes, locations, weights)

    msda = types.ModuleType("MultiScaleDeformableAttention")
    msda.ms_deform_attn_forward = deform_forward
    sys.modules["MultiScaleDeformableAttention"] = msda

    # flash-attn is imported only by the training-time LLaMA patch, which inference leaves off.
    def training_only(*args, **kwargs):
        raise RuntimeError("flash attention is used only in training")

    flash = types.ModuleType("flash_attn")
    flash_interface = types.ModuleType("flash_attn.flash_attn_interface")
    flash_interface.flash_attn_func = training_only
    flash.flash_attn_interface = flash_interface
    sys.modules.update({"flash_attn": flash, "flash_attn.flash_attn_interface": flash_interface})

    # timm is imported only for DropPath, which is never built at drop_path=0.
    timm = types.ModuleType("timm")
    timm_models = types.ModuleType("timm.models")
    timm_layers = types.ModuleType("timm.models.layers")
    timm_layers.DropPath = type("DropPath", (nn.Identity,), {})
    timm.models, timm_models.layers = timm_models, timm_layers
    sys.modules.update({"timm": timm, "timm.models": timm_models, "timm.models.layers": timm_layers})


# ---------------------------------------------------------------------------------------------
# Toy "pretrained" folders the official constructors load from.


def save_toy_clip(folder: Path) -> None:
    from TextHarmony.models.encoders.vit_adapter.vit_adapter_hf import CLIPVisionAdapterModel
    from transformers import CLIPVisionConfig

    config = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=24, num_attention_heads=2,
        image_size=28, patch_size=14, layer_norm_eps=1e-5, hidden_act="quick_gelu",
    )
    CLIPVisionAdapterModel(config).save_pretrained(folder, safe_serialization=False)


def save_toy_llama(folder: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=VOCAB - 2, hidden_size=64, intermediate_size=128, num_hidden_layers=5,
        num_attention_heads=4, rms_norm_eps=1e-6, max_position_embeddings=512,
        bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=False)


def save_toy_sd(folder: Path) -> None:
    """UNet, VAE and scheduler in a pipeline folder; the pipeline's text encoder, tokenizer and
    safety checker are absent (the model never uses them once its negative embeddings exist)."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    UNet2DConditionModel(**SD_UNET).save_pretrained(folder / "unet", safe_serialization=False)
    AutoencoderKL(**SD_VAE).save_pretrained(folder / "vae", safe_serialization=False)
    DDPMScheduler(**SD_SCHEDULER).save_pretrained(folder / "scheduler")
    index = {
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.20.0",
        "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
        "scheduler": ["diffusers", "DDPMScheduler"], "text_encoder": [None, None], "tokenizer": [None, None],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
    }
    (folder / "model_index.json").write_text(json.dumps(index))


def configure_official_sizes() -> None:
    """Set the toy sizes where the official code fixes them for the release.

    The ViT-Adapter takes its CNN width and sampling points as constructor defaults and only
    accepts 24 ViT layers; so do the control branch's blocks their width, heads and points; the
    LLM's feature levels follow the image size in a lookup that has no toy entry. Nothing here
    changes how a tensor is computed.
    """
    th_module = importlib.import_module("TextHarmony.models.TextHarmony")
    from TextHarmony.models.encoders.vit_adapter import vit_adapter_hf

    vit_adapter_hf.CLIPVisionTransformerAdapter.__init__.__defaults__ = (8, 2)  # conv_inplane, n_points

    # The control branch's attention width, heads and points are defaults of its blocks.
    from TextHarmony.models.decoders import sd_mmfs

    block_defaults = list(sd_mmfs.MMFSBlock.__init__.__defaults__)
    block_defaults[0], block_defaults[3] = 32, 2  # attn_dim, num_heads
    sd_mmfs.MMFSBlock.__init__.__defaults__ = tuple(block_defaults)
    net_defaults = list(sd_mmfs.MMFSNet.__init__.__defaults__)
    net_defaults[2] = 2  # n_points
    sd_mmfs.MMFSNet.__init__.__defaults__ = tuple(net_defaults)

    llama_cls = th_module.LlamaForCausalLM
    original = llama_cls.from_pretrained.__func__

    def from_pretrained(cls, path, config=None, **kwargs):
        config.spatial_shapes = FEATURE_LEVELS
        return original(cls, path, config=config, **kwargs)

    llama_cls.from_pretrained = classmethod(from_pretrained)


def adapt_image_pipeline() -> None:
    """The image decoder on the CPU and without SD's text components."""
    from TextHarmony.models.decoders import sd as sd_module

    # Without xformers the UNet keeps diffusers' default processor: the same softmax attention.
    sd_module.is_xformers_available = lambda: True
    sd_module.UNet2DConditionModel.enable_xformers_memory_efficient_attention = lambda self: None

    # The sampler reloads the pipeline folder; its unused text components are passed as absent.
    pipeline_cls = sd_module.DiffusionPipeline

    class PipelineWithoutText:
        @staticmethod
        def from_pretrained(path, **kwargs):
            absent = dict(text_encoder=None, tokenizer=None, safety_checker=None, feature_extractor=None)
            return pipeline_cls.from_pretrained(path, **absent, **kwargs)

    sd_module.DiffusionPipeline = PipelineWithoutText


def toy_layout(model: nn.Module) -> None:
    """Keep 4 of the 24 ViT layers, one per adapter interaction, and pick the toy feature levels
    for the LLM (the model keeps its own copy of the size lookup)."""
    model.spatial_shapes = FEATURE_LEVELS
    vit = model.visual_tokenizer.encoder.base_model.model.vision_model
    vit.encoder.layers = vit.encoder.layers[:4]
    vit.interaction_indexes = [[0, 0], [1, 1], [2, 2], [3, 3]]


def build_official(work: Path) -> nn.Module:
    from TextHarmony.models.TextHarmony import TextHarmony

    configure_official_sizes()
    adapt_image_pipeline()
    save_toy_clip(work / "clip")
    save_toy_llama(work / "llama")
    save_toy_sd(work / "sd")
    model = TextHarmony(
        llm_model_path=str(work / "llama"),
        txt_vocab_size=VOCAB,
        special_token_dict=dict(TOKENS),
        visual_tokenizer_config=AttrDict(
            encoder_model_path=str(work / "clip"),
            image_size=IMAGE_SIZE,
            grid_size=4,
            perceiver_config=AttrDict(
                num_queries=NUM_IMAGE_TOKENS, hidden_size=32, encoder_hidden_size=32,
                cross_attention_frequency=2, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, qk_normalization=True,
            ),
        ),
        image_decoder_config=AttrDict(
            pretrained_model_name_or_path=str(work / "sd"),
            sd_base_seed=42,
            # 0 skips building the negative embeddings from SD's text encoder; they are set below.
            uncond_prob=0.0,
            seq_len=CONTEXT_QUERIES,
            embed_dim=32,
            image_size=SD_IMAGE_SIZE,
            perceiver_config=AttrDict(
                num_queries=CONTEXT_QUERIES, hidden_size=32, encoder_hidden_size=64, cross_attention_frequency=1,
                num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            ),
        ),
        use_llama_gradient_checkpointing=False,
        num_img_token=NUM_IMAGE_TOKENS,
        image_embed_dim=32,
        cross_attention_frequency=4,
        moe_config=dict(
            moe_finetuning=True, vit_lora=True, llm_lora=True, lora_r=LORA_RANK, lora_alpha=LORA_ALPHA,
            lora_dropout=0.1, lora_target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
            moe_lora_num_experts=3, moe_gate_mode="top2_gate", task_num=3,
        ),
    )
    toy_layout(model)
    model.image_decoder.neg_prompt_embeds = nn.Parameter(torch.zeros(1, CONTEXT_QUERIES, 32))
    return model.eval()


#: Fixed tables and constants, kept as the official code builds them.
FIXED = ("position_ids", "clip_mean", "clip_std", "visual_tokenizer.pos_embed")


@torch.no_grad()
def randomise(model: nn.Module, generator: torch.Generator) -> None:
    """Every learned tensor non-zero: zero-initialised ones (LoRA B, gates, layer-scale gammas,
    zero projections) get fresh values, the others a perturbation of their initialisation."""
    for name, tensor in model.state_dict(keep_vars=True).items():
        if not tensor.is_floating_point() or any(part in name for part in FIXED):
            continue
        noise = torch.randn(tensor.shape, generator=generator)
        if name.endswith("llama_cross_attn.gate"):
            tensor.copy_(0.5 + 0.1 * noise)
        elif bool((tensor == 0).all()):
            tensor.copy_(0.1 * noise)
        else:
            tensor.add_(0.05 * noise)
        # Values float16 holds exactly: the weights are stored in half the space and load
        # into float32 unchanged.
        tensor.copy_(tensor.half().float())


@torch.no_grad()
def favour_eos(model: nn.Module) -> None:
    model.text_decoder.head.bias[TOKENS["eos_token_id"]] += EOS_BIAS


def sync_pipeline_vae(model: nn.Module, work: Path) -> None:
    """The official sampler decodes with the VAE of the pipeline folder, not the model's own; the
    release never trains its VAE, so the two are the same there, and must be here too."""
    model.image_decoder.decoder.vae.save_pretrained(work / "sd" / "vae", safe_serialization=False)


def make_inputs(generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Two rows: the first with two images, the second with one and a second BOS before it."""
    t = TOKENS
    image = [t["soi_token_id"]] + [t["image_token_id"]] * NUM_IMAGE_TOKENS

    def text(n: int) -> list[int]:
        return torch.randint(3, VOCAB - 3, (n,), generator=generator).tolist()

    row0 = [t["bos_token_id"]] + text(3) + image + text(2) + image + text(3)
    row1 = [t["bos_token_id"]] + text(4) + [t["bos_token_id"]] + text(2) + image + text(2)
    row1 += text(len(row0) - len(row1))
    ids = torch.tensor([row0, row1])
    images = torch.rand(3, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    return {
        "text_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "images": images,
        "num_image_per_seq": torch.tensor([2, 1]),
        # The official gate routes on each row's question text: row 0 asks for text, row 1 for an image.
        "expert_weights": torch.tensor([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]),
    }


META = [(0, "What is written on the sign?", ""), (1, "Generate an image of a sign", "")]


@torch.no_grad()
def run_components(model: nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    tokenizer = model.visual_tokenizer
    pixels = (inputs["images"] - tokenizer.clip_mean) / tokenizer.clip_std
    encoded = tokenizer.encoder(pixels)
    out["vit.last_hidden_state"] = encoded.last_hidden_state
    for i, feature in enumerate(encoded.hidden_states):
        out[f"vit.adapter_features.{i}"] = feature
    visual = tokenizer(inputs["images"])
    out["visual.tokens"] = visual["vis_embed"]
    for i, feature in enumerate(visual["multiscale_features"]):
        out[f"visual.features.{i}"] = feature

    prepared = model._prepare_mm_embeds(
        text_ids=inputs["text_ids"], image_tensors=inputs["images"], num_image_per_seq=inputs["num_image_per_seq"]
    )
    model.moe_set_gate(prepared["mm_embeds"], is_training=False, meta=META)
    gates = {m.moe_gate for m in model.mm_decoder.modules() if getattr(m, "moe_gate", None) is not None}
    assert len(gates) == 1
    assert torch.equal(next(iter(gates)), inputs["expert_weights"]), "the official gate disagrees with the stored one"
    out["llm.input_embeds"] = prepared["mm_embeds"]
    out["llm.cross_attention_mask"] = prepared["cross_attention_mask"]
    llm = model.mm_decoder(
        inputs_embeds=prepared["mm_embeds"],
        attention_mask=inputs["attention_mask"],
        vision_hidden_states=prepared["mmfs_features_mm"],
        cross_attention_mask=prepared["cross_attention_mask"],
        output_hidden_states=True,
        return_dict=True,
    )
    for i, hidden in enumerate(llm.hidden_states):
        out[f"llm.hidden_states.{i}"] = hidden
    out["llm.last_hidden_state"] = llm.last_hidden_state
    # What conditions the image decoder at each <|beginofimage|>: the states up to it, newest first.
    context, context_mask = model._prepare_context_features_for_image_decoder(
        llm.last_hidden_state, text_ids=inputs["text_ids"]
    )
    out["image.context"], out["image.context_mask"] = context, context_mask
    out["llm.logits"] = model.text_decoder(
        inputs_embeds=llm.last_hidden_state, attention_mask=inputs["attention_mask"], return_dict=True
    ).logits
    return out


@torch.no_grad()
def run_image_decoder(
    model: nn.Module, inputs: dict[str, torch.Tensor], generator: torch.Generator
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Control features, the image resampler, one UNet step with and without the control
    branch, a VAE decode and a short guided sampling run."""
    decoder = model.image_decoder
    sd = decoder.decoder
    features = model.visual_tokenizer(inputs["images"])["multiscale_features"]
    # Image i is controlled by the image before it in its row (none for the first).
    control, control_mask = model._prepare_mmfs_features_for_image_decoder(
        features, text_ids=inputs["text_ids"], num_image_per_seq=inputs["num_image_per_seq"]
    )
    out = {f"control.features.{i}": f for i, f in enumerate(control)}
    out["control.mask"] = control_mask

    ins = {
        "sd.latents": torch.randn(1, 4, 8, 8, generator=generator),
        "sd.timestep": torch.tensor([500]),
        "sd.context": torch.randn(1, 5, 64, generator=generator),
        "sd.context_mask": torch.tensor([[1, 1, 1, 1, 0]]),
    }
    cond = decoder.perceiver_resampler(
        encoder_hidden_states=ins["sd.context"], encoder_attention_mask=ins["sd.context_mask"], return_dict=False
    )[0]
    out["sd.condition"] = cond
    latents, timestep = ins["sd.latents"], ins["sd.timestep"]
    out["sd.noise.plain"] = sd.unet(latents, timestep, cond).sample
    for name, index in (("edit", 1), ("masked", 0)):  # image 1 sees image 0; image 0 sees none
        out[f"sd.noise.{name}"] = sd.unet(
            latents, timestep, cond, mmfs_features=[f[index : index + 1] for f in control],
            mmfs_mask=control_mask[index : index + 1], mmfs_module=sd.mmfs_module,
        ).sample
    out["sd.vae_decode"] = sd.vae.decode(latents / sd.vae.config.scaling_factor).sample

    # The official guided sampler (seed 42, classifier-free guidance 7.5) on the edit case.
    out["sd.sampled_image"] = decoder.generate_images(
        context_features=ins["sd.context"], context_attention_mask=ins["sd.context_mask"],
        mmfs_features=[f[1:2] for f in control], mmfs_mask=control_mask[1:2],
        num_inference_steps=SAMPLE_STEPS, guidance_scale=7.5,
    )["image"]
    return ins, out


def row_inputs(inputs: dict[str, torch.Tensor], row: int) -> dict[str, Any]:
    counts = inputs["num_image_per_seq"].tolist()
    first = sum(counts[:row])
    return dict(
        text_ids=inputs["text_ids"][row : row + 1],
        image_tensors=inputs["images"][first : first + counts[row]],
        num_image_per_seq=inputs["num_image_per_seq"][row : row + 1],
        attention_mask=inputs["attention_mask"][row : row + 1],
        meta=META[row : row + 1],
        use_nucleus_sampling=False,
    )


@torch.no_grad()
def run_generation(model: nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Greedy decoding over the batch; beam search one row at a time, since the official gate
    has one row per sample and beams multiply the rows."""
    common = dict(
        text_ids=inputs["text_ids"], image_tensors=inputs["images"], num_image_per_seq=inputs["num_image_per_seq"],
        attention_mask=inputs["attention_mask"], meta=META, use_nucleus_sampling=False,
    )
    out = {"generate.greedy": model.generate(
        mode="generate_texts", num_beams=1, max_length=GREEDY_NEW_TOKENS, **common
    )["text_ids"]}
    for row in range(inputs["text_ids"].shape[0]):
        beam = model.generate(
            mode="generate_texts", num_beams=5, max_length=BEAM_NEW_TOKENS, repetition_penalty=1.3,
            length_penalty=1.0, **row_inputs(inputs, row),
        )
        out[f"generate.beam.{row}"] = beam["text_ids"]
    return out


def state_dict_for_release(model: nn.Module) -> dict[str, torch.Tensor]:
    """Tensors whose values float16 holds exactly (the randomised ones, unless changed after)
    in float16, the others as built."""
    def stored(name: str, tensor: torch.Tensor) -> torch.Tensor:
        exact = tensor.is_floating_point() and torch.equal(tensor.half().to(tensor.dtype), tensor)
        return (tensor.half() if exact else tensor).detach().clone().contiguous()

    return {name: stored(name, tensor) for name, tensor in model.state_dict().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, type=Path, help="checkout holding the TextHarmony package")
    parser.add_argument("--out", default=Path(__file__).parent, type=Path)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(args.official.resolve()))
    install_stand_ins()
    from TextHarmony.models.utils import monkey_patch

    # The release's inference entry point installs these before building the model.
    monkey_patch.replace_beam_search()
    monkey_patch.replace_blip2_attn_with_qknorm_attn()
    monkey_patch.replace_stable_diffusion_unet_forward()
    monkey_patch.replace_stable_diffusion_pipeline_call()

    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    with tempfile.TemporaryDirectory() as work:  # the image pipeline reloads its folder
        model = build_official(Path(work))
        randomise(model, generator)
        favour_eos(model)
        sync_pipeline_vae(model, Path(work))
        inputs = make_inputs(generator)
        outputs = run_components(model, inputs)
        outputs.update(run_generation(model, inputs))
        image_inputs, image_outputs = run_image_decoder(model, inputs, generator)
    inputs.update(image_inputs)
    outputs.update(image_outputs)

    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict_for_release(model), args.out / "pytorch_model.bin")
    torch.save({**{f"input.{k}": v for k, v in inputs.items()}, **outputs}, args.out / "outputs.pt")
    summary = {name: list(t.shape) for name, t in outputs.items()}
    (args.out / "outputs.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
