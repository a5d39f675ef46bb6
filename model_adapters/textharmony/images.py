"""Image conversion in and out of the model, as the release does it."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def to_model_input(image: Image.Image, size: int) -> torch.Tensor:
    """RGB, bicubic resize to size x size (aspect ratio not kept), [3, size, size] in [0, 1]."""
    resized = image.convert("RGB").resize((size, size), resample=Image.BICUBIC)
    return torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)


def blank_input(size: int) -> torch.Tensor:
    """The all-black reference image the release pairs with text-to-image prompts."""
    return torch.zeros(3, size, size)


def apply_mask(image: Image.Image, mask: Image.Image, fill: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """Paint ``fill`` where ``mask`` is white (the region to re-draw)."""
    rgb = image.convert("RGB")
    region = mask.convert("L").resize(rgb.size, resample=Image.NEAREST).point(lambda v: 255 if v >= 128 else 0)
    painted = rgb.copy()
    painted.paste(Image.new("RGB", rgb.size, fill), mask=region)
    return painted


def to_pil(image: torch.Tensor) -> Image.Image:
    """[3, H, W] in [0, 1] -> 8-bit RGB, rounding as ``torchvision.utils.save_image`` does."""
    array = (image.detach().float().cpu().clamp(0, 1) * 255 + 0.5).clamp(0, 255).to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).numpy())
