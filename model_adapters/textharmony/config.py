"""Architecture hyper-parameters of TextHarmony, at release size and at toy sizes.

Every number that decides a tensor shape lives here, so that the release key layout can be
checked on the meta device and a toy model with the same layout can be built in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class SpecialTokens:
    """Token ids the model reserves; the image tokens sit right after the base vocabulary."""

    bos: int = 1
    eos: int = 2
    pad: int = 31999
    begin_of_image: int = 32000
    image: int = 32001


@dataclass(frozen=True)
class VisionConfig:
    """CLIP ViT with a ViT-Adapter; defaults describe CLIP ViT-L/14 at 896 px."""

    image_size: int = 896
    patch_size: int = 14
    hidden_size: int = 1024
    intermediate_size: int = 4096
    num_layers: int = 24
    num_heads: int = 16
    layer_norm_eps: float = 1e-5
    #: Layer ranges of the CLIP blocks run between two adapter interactions.
    interaction_indexes: tuple[tuple[int, int], ...] = ((0, 5), (6, 11), (12, 17), (18, 23))
    adapter_inplanes: int = 64
    adapter_points: int = 4
    adapter_deform_ratio: float = 0.5
    adapter_cffn_ratio: float = 0.25
    #: Epsilon of the injectors' and extractors' LayerNorms. The release builds them with
    #: ``nn.LayerNorm``'s default (1e-5), not the 1e-6 of the original ViT-Adapter's blocks.
    adapter_norm_eps: float = 1e-5
    #: Grid of the sin-cos table that is interpolated onto every feature map.
    pos_grid_size: int = 16
    #: Resolution the CLIP ViT was pre-trained at (its position table is interpolated from it).
    pretrained_image_size: int = 224
    #: LoRA on the ViT's q/k/v; 0: none, and the ViT is not wrapped the way ``peft`` wraps it.
    lora_rank: int = 32
    lora_alpha: int = 32

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


@dataclass(frozen=True)
class ResamplerConfig:
    """A BLIP-2 Q-Former used as a perceiver: learned queries read an encoder sequence."""

    num_queries: int
    hidden_size: int
    encoder_hidden_size: int
    num_layers: int
    num_heads: int
    cross_attention_frequency: int
    intermediate_size: int = 3072
    qk_normalization: bool = False
    layer_norm_eps: float = 1e-12


@dataclass(frozen=True)
class SlideLoRAConfig:
    """Mixture of LoRA experts on the LLM's q/k/v/o projections."""

    num_experts: int = 3
    rank: int = 32
    #: Kept for the record of the release's settings; it scales nothing (see ``SlideLoRALinear``).
    alpha: int = 32
    #: Experts per task; the last group is shared by every task.
    experts_per_task: int = 1


@dataclass(frozen=True)
class LLMConfig:
    """Vicuna-13B v1.3 (LLaMA) with deformable cross-attention to image features."""

    vocab_size: int = 32002
    base_vocab_size: int = 32000
    hidden_size: int = 5120
    intermediate_size: int = 13824
    num_layers: int = 40
    num_heads: int = 40
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    max_position_embeddings: int = 2048
    #: A cross-attention block sits in every layer whose index is a multiple of this.
    cross_attention_frequency: int = 4
    cross_attention_heads: int = 16
    cross_attention_points: int = 8
    #: Side lengths of the vision feature maps the cross-attention reads.
    feature_levels: tuple[int, ...] = (128, 64, 32)
    #: Feature-map side that the sampling offsets are expressed in.
    offset_base_size: int = 16
    max_images_per_sequence: int = 50

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclass(frozen=True)
class ImageDecoderConfig:
    """Stable Diffusion 2 base, conditioned through a perceiver and a deformable control branch."""

    image_size: int = 512
    context_queries: int = 77
    unet: dict[str, Any] = field(default_factory=lambda: dict(SD2_BASE_UNET))
    vae: dict[str, Any] = field(default_factory=lambda: dict(SD2_BASE_VAE))
    scheduler: dict[str, Any] = field(default_factory=lambda: dict(SD2_BASE_SCHEDULER))
    #: Feature-map sides the control branch's offsets are scaled by (one per vision level); the
    #: UNet resolution group ``g`` (three skip connections each) uses ``control_levels[g]`` as base.
    control_levels: tuple[int, ...] = (64, 32, 16, 8)
    #: The sides the offsets of each resolution group are relative to, when they are not
    #: ``control_levels`` themselves: the release divides them by ``512 // image_size``, which
    #: is 1 at its 512 px and changes the offsets' scale at any other size.
    control_base_levels: tuple[int, ...] | None = None
    control_heads: int = 16
    control_points: int = 8
    control_attn_dim: int = 1024
    control_max_images: int = 10
    #: Side of the sin-cos grid added to UNet features before they query the vision features.
    control_pos_grid: int = 64

    @property
    def cross_attention_dim(self) -> int:
        return int(self.unet["cross_attention_dim"])

    @property
    def control_bases(self) -> tuple[int, ...]:
        return self.control_base_levels if self.control_base_levels is not None else self.control_levels


@dataclass(frozen=True)
class TextHarmonyConfig:
    vision: VisionConfig = field(default_factory=VisionConfig)
    vision_resampler: ResamplerConfig = field(
        default_factory=lambda: ResamplerConfig(
            num_queries=512,
            hidden_size=768,
            encoder_hidden_size=1024,
            num_layers=12,
            num_heads=12,
            cross_attention_frequency=2,
            qk_normalization=True,
        )
    )
    llm: LLMConfig = field(default_factory=LLMConfig)
    #: ``None``: plain q/k/v/o projections (MM-Interleaved, the model TextHarmony fine-tunes).
    slide_lora: SlideLoRAConfig | None = field(default_factory=SlideLoRAConfig)
    image_decoder: ImageDecoderConfig = field(default_factory=ImageDecoderConfig)
    image_resampler: ResamplerConfig = field(
        default_factory=lambda: ResamplerConfig(
            num_queries=77,
            hidden_size=1024,
            encoder_hidden_size=5120,
            num_layers=1,
            num_heads=16,
            cross_attention_frequency=1,
        )
    )
    tokens: SpecialTokens = field(default_factory=SpecialTokens)
    #: Length of the sin-cos table added to the image decoder's context sequence.
    context_max_length: int = 2048
    name: str = "release"

    @property
    def num_image_tokens(self) -> int:
        return self.vision_resampler.num_queries


SD2_BASE_UNET: dict[str, Any] = {
    "act_fn": "silu",
    "attention_head_dim": [5, 10, 20, 20],
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 1024,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-5,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "upcast_attention": False,
    "use_linear_projection": True,
}

SD2_BASE_VAE: dict[str, Any] = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 768,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "scaling_factor": 0.18215,
}

#: The release samples with ``DDPMScheduler`` built from SD2-base's scheduler settings.
SD2_BASE_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "steps_offset": 1,
}


def release_config() -> TextHarmonyConfig:
    return TextHarmonyConfig()


def tiny_config() -> TextHarmonyConfig:
    """Same layout as the release (every module kind, every key pattern), at toy width.

    The image is 56 px (a 4x4 patch grid), the LLM has 5 layers so that two of them (0 and 4)
    carry cross-attention, and the UNet and VAE keep SD2's block structure (including a channel change) at toy width.
    """
    vocab = 300
    return TextHarmonyConfig(
        vision=VisionConfig(
            image_size=56,
            patch_size=14,
            hidden_size=32,
            intermediate_size=64,
            num_layers=4,
            num_heads=2,
            interaction_indexes=((0, 0), (1, 1), (2, 2), (3, 3)),
            adapter_inplanes=8,
            adapter_points=2,
            pos_grid_size=4,
            pretrained_image_size=28,
            lora_rank=4,
            lora_alpha=4,
        ),
        vision_resampler=ResamplerConfig(
            num_queries=8,
            hidden_size=32,
            encoder_hidden_size=32,
            num_layers=2,
            num_heads=2,
            cross_attention_frequency=2,
            intermediate_size=64,
            qk_normalization=True,
        ),
        llm=LLMConfig(
            vocab_size=vocab,
            base_vocab_size=vocab - 2,
            hidden_size=64,
            intermediate_size=128,
            num_layers=5,
            num_heads=4,
            max_position_embeddings=512,
            cross_attention_heads=4,
            cross_attention_points=2,
            feature_levels=(8, 4, 2),
            offset_base_size=4,
        ),
        slide_lora=SlideLoRAConfig(rank=4, alpha=4),
        image_decoder=ImageDecoderConfig(
            image_size=32,
            context_queries=6,
            unet={
                **SD2_BASE_UNET,
                "attention_head_dim": [2, 2, 2, 2],
                "block_out_channels": [16, 32, 32, 32],
                "cross_attention_dim": 32,
                "layers_per_block": 1,
                "norm_num_groups": 8,
                "sample_size": 4,
            },
            vae={
                **SD2_BASE_VAE,
                "block_out_channels": [8, 16, 16, 16],
                "layers_per_block": 1,
                "norm_num_groups": 8,
                "sample_size": 32,
            },
            control_levels=(16, 8, 4, 2),
            control_heads=2,
            control_points=2,
            control_attn_dim=32,
            control_pos_grid=4,
        ),
        image_resampler=ResamplerConfig(
            num_queries=6,
            hidden_size=32,
            encoder_hidden_size=64,
            num_layers=1,
            num_heads=2,
            cross_attention_frequency=1,
            intermediate_size=64,
        ),
        tokens=SpecialTokens(pad=vocab - 3, begin_of_image=vocab - 2, image=vocab - 1),
        context_max_length=512,
        name="tiny",
    )


def mid_config() -> TextHarmonyConfig:
    """A few hundred million parameters: large enough to measure loading and throughput."""
    tiny = tiny_config()
    vocab = 32002
    return replace(
        tiny,
        vision=replace(tiny.vision, image_size=224, hidden_size=256, intermediate_size=1024, num_heads=4,
                       pos_grid_size=16, pretrained_image_size=224, adapter_inplanes=16),
        vision_resampler=replace(tiny.vision_resampler, num_queries=64, hidden_size=256,
                                 encoder_hidden_size=256, num_heads=4, intermediate_size=1024),
        llm=replace(tiny.llm, vocab_size=vocab, base_vocab_size=vocab - 2, hidden_size=1536,
                    intermediate_size=4096, num_layers=12, num_heads=12, max_position_embeddings=2048,
                    cross_attention_heads=8, cross_attention_points=4, feature_levels=(32, 16, 8),
                    offset_base_size=16),
        slide_lora=SlideLoRAConfig(rank=16, alpha=16),
        image_decoder=replace(
            tiny.image_decoder,
            image_size=128,
            context_queries=77,
            unet={**tiny.image_decoder.unet, "block_out_channels": [64, 128, 128, 128],
                  "attention_head_dim": [4, 8, 8, 8], "cross_attention_dim": 256, "sample_size": 16,
                  "norm_num_groups": 32},
            vae={**tiny.image_decoder.vae, "block_out_channels": [32, 32, 64, 64], "norm_num_groups": 16,
                 "sample_size": 128},
            control_levels=(64, 32, 16, 8),
            control_heads=4,
            control_attn_dim=256,
            control_pos_grid=16,
        ),
        image_resampler=replace(tiny.image_resampler, num_queries=77, hidden_size=256,
                                encoder_hidden_size=1536, num_heads=4, intermediate_size=1024),
        tokens=SpecialTokens(),
        context_max_length=2048,
        name="mid",
    )


def without_adapters(config: TextHarmonyConfig, image_size: int, image_tokens: int, name: str) -> TextHarmonyConfig:
    """MM-Interleaved's layout from a TextHarmony one: no LoRA anywhere, and the smaller input
    image and image-token count it was pre-trained with. The LLM reads the same three vision
    levels relative to the patch grid (grid x2, x1, x0.5)."""
    grid = image_size // config.vision.patch_size
    return replace(
        config,
        vision=replace(config.vision, image_size=image_size, lora_rank=0),
        vision_resampler=replace(config.vision_resampler, num_queries=image_tokens),
        llm=replace(config.llm, feature_levels=(2 * grid, grid, grid // 2)),
        slide_lora=None,
        name=name,
    )


def mm_interleaved_config() -> TextHarmonyConfig:
    """The released MM-Interleaved (pre-trained, no SFT): 224 px, 64 image tokens, no LoRA;
    otherwise the same modules and sizes as TextHarmony (SD 2.1-base shares SD2-base's shapes)."""
    return without_adapters(release_config(), image_size=224, image_tokens=64, name="mm-interleaved")


def mm_interleaved_tiny_config() -> TextHarmonyConfig:
    """MM-Interleaved's layout at toy size: the tiny TextHarmony less its LoRA, at half the image
    tokens (a smaller count than TextHarmony's, as at release size)."""
    tiny = tiny_config()
    return without_adapters(tiny, image_size=tiny.vision.image_size, image_tokens=4, name="mm-interleaved-tiny")


NAMED_CONFIGS = {
    "release": release_config,
    "tiny": tiny_config,
    "mid": mid_config,
    "mm-interleaved": mm_interleaved_config,
    "mm-interleaved-tiny": mm_interleaved_tiny_config,
}


def resolve_config(config: "str | TextHarmonyConfig") -> TextHarmonyConfig:
    if isinstance(config, TextHarmonyConfig):
        return config
    try:
        return NAMED_CONFIGS[config]()
    except KeyError:
        raise ValueError(f"unknown TextHarmony config {config!r}; choose one of {sorted(NAMED_CONFIGS)}") from None


def parity_config() -> TextHarmonyConfig:
    """The toy model the official code is run at to build the parity fixture.

    It is ``tiny`` where the official code takes sizes as arguments, and the release's values
    where the official code fixes them in its body (16 heads and 8 points in the LLM's
    cross-attention, offsets expressed on a 16-wide map) or derives them from the image size
    (the control branch's offset scales and position grid). LoRA alpha differs from the rank so
    that the scaling rule of each LoRA kind is exercised.
    """
    tiny = tiny_config()
    return replace(
        tiny,
        vision=replace(tiny.vision, lora_alpha=8),
        llm=replace(tiny.llm, cross_attention_heads=16, cross_attention_points=8, offset_base_size=16),
        slide_lora=replace(tiny.slide_lora, alpha=8),
        # 64 px: the smallest size at which the release's control offsets stay finite.
        image_decoder=replace(
            tiny.image_decoder,
            image_size=64,
            vae={**tiny.image_decoder.vae, "sample_size": 64},
            # Half tiny's channels: the fixture's weights stay small.
            unet={**tiny.image_decoder.unet, "sample_size": 8, "block_out_channels": [8, 8, 16, 16]},
            control_levels=(64, 32, 16, 8),
            control_base_levels=(8, 4, 2, 1),
            control_pos_grid=8,
        ),
        name="parity",
    )


NAMED_CONFIGS["parity"] = parity_config
