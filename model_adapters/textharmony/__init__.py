"""TextHarmony (NeurIPS 2024): a unified visual-text model that reads and writes text in images.

Modeling, checkpoint loading and conversion for thbench; ``adapter`` wires them to the
harness's request kinds. One file per component:

* ``config``: architecture dataclasses (release, tiny, mid; MM-Interleaved at release and toy size)
* ``vision``, ``resampler``: CLIP ViT-L/14 + ViT-Adapter, perceiver to 512 image tokens
* ``plain_vit``: the same vision side without the ViT's LoRA (MM-Interleaved)
* ``llm``, ``slide_lora``, ``lora``: Vicuna-13B with deformable cross-attention, Slide-LoRA
* ``gate_modes``: the Slide-LoRA routings an ablation can choose
* ``deformable_attention``: multi-scale deformable attention in plain PyTorch
* ``image_decoder``: SD2-base UNet/VAE with a perceiver and a deformable control branch
* ``image_sampling``: the DDPM loop and scheduler that sample images from it
* ``model``, ``build``: the assembled model, built on meta or with random weights
* ``checkpoint``, ``checkpoint_io``, ``split_file``, ``base_components``, ``convert``: weights
* ``tokenizer``, ``images``, ``prompts``, ``generation``, ``pipeline``: inference
* ``adapter``: the harness adapters

The public names below are imported on first use: listing the harness's plugins imports this
package, and that must not pull in torch, transformers or diffusers.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import adapter  # noqa: F401  (registers textharmony, mm-interleaved and their tiny versions)

_EXPORTS = {
    "build_model": "build",
    "load_model": "checkpoint",
    "CheckpointSource": "checkpoint",
    "LoadReport": "checkpoint",
    "BaseComponents": "base_components",
    "convert_checkpoint": "convert",
    "TextHarmonyConfig": "config",
    "release_config": "config",
    "tiny_config": "config",
    "mid_config": "config",
    "mm_interleaved_config": "config",
    "gate_policy": "gate_modes",
    "TextHarmonyPipeline": "pipeline",
    "TextGenerationProfile": "generation",
    "GREEDY": "generation",
    "RELEASE": "generation",
    "ImageSampling": "image_sampling",
    "ImageSampler": "image_sampling",
    "PromptRoutedGate": "slide_lora",
    "FixedGate": "slide_lora",
    "LearnedGate": "slide_lora",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
