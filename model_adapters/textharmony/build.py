"""Building the model: on the meta device (shapes only), or materialised with random weights."""

from __future__ import annotations

import torch
from torch import nn

from .config import TextHarmonyConfig, resolve_config
from .keys import VAE_PREFIX
from .model import TextHarmonyModel

#: Parameters that the architecture initialises to zero (which would hide whole code paths in a
#: randomly initialised model) and get small random values instead.
_ZERO_INITIALISED = ("lora_moe_A", "lora_moe_B", "soi_token", "neg_prompt_embeds", "queries", "gamma",
                     "adapter_level_embed", "class_embedding")


def default_dtype(device: torch.device | str) -> torch.dtype:
    """bfloat16 on accelerators, float32 on the CPU (and for shape-only meta models)."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32


def keeps_float32(name: str) -> bool:
    """The VAE decodes in float32 in the release, whatever the rest of the model runs in."""
    return name.startswith(VAE_PREFIX)


def cast_model(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    for name, param in model.named_parameters():
        if param.is_floating_point():
            param.data = param.data.to(torch.float32 if keeps_float32(name) else dtype)
    for name, buffer in model.named_buffers():
        if buffer.is_floating_point() and not keeps_float32(name):
            buffer.data = buffer.data.to(dtype)
    return model


def build_model(
    config: "str | TextHarmonyConfig" = "release",
    device: "torch.device | str" = "meta",
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> TextHarmonyModel:
    """``config``: "release", "tiny", "mid" or a ``TextHarmonyConfig``.

    On ``meta`` the model has the release layout and no storage (for checking shapes and for
    loading checkpoints without a second copy). Elsewhere it gets seeded random weights.
    """
    cfg = resolve_config(config)
    device = torch.device(device)
    if device.type == "meta":
        with torch.device("meta"):
            model = TextHarmonyModel(cfg)
        return model.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.device(device):
            model = TextHarmonyModel(cfg)
        _fill_zero_initialised(model)
    return cast_model(model, dtype or default_dtype(device)).eval()


@torch.no_grad()
def _fill_zero_initialised(model: nn.Module) -> None:
    for name, param in model.named_parameters():
        leaf = name.rsplit(".", 2)
        if any(part in _ZERO_INITIALISED for part in leaf):
            param.normal_(0.0, 0.02)
        elif name.endswith("llama_cross_attn.gate"):
            param.fill_(0.5)
