"""Monkey's image views: the image resized to ``image_size`` (896), cut into 448-pixel windows,
plus the whole image at 448 — what ``VisionTransformer.encode`` of the release computes.

Arithmetic as the release's torchvision pipeline: PIL bicubic resize, uint8 to float divided by
255, CLIP mean subtracted and std divided; the global view is ``F.interpolate`` (bicubic,
``align_corners=False``) of the normalised full-size tensor.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
WINDOW = 448


def normalised(image: Image.Image, size: int) -> torch.Tensor:
    """(3, size, size) float32."""
    resized = image.convert("RGB").resize((size, size), Image.BICUBIC)
    pixels = torch.from_numpy(np.array(resized, np.uint8, copy=True)).permute(2, 0, 1).contiguous()
    pixels = pixels.to(torch.float32).div(255)
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(CLIP_STD, dtype=torch.float32)[:, None, None]
    return pixels.sub(mean).div(std)


def full_and_global_views(image: Image.Image, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(3, size, size) and the global view (3, 448, 448)."""
    if size % WINDOW:
        raise ValueError(f"image_size {size} is not a multiple of the {WINDOW}-pixel window")
    full = normalised(image, size)
    return full, F.interpolate(full[None], size=(WINDOW, WINDOW), mode="bicubic", align_corners=False)[0]


def window_views(image: Image.Image, size: int) -> torch.Tensor:
    """(windows + 1, 3, 448, 448): the windows row by row (window ``k`` is read with LoRA
    ``k``), then the global view."""
    full, global_view = full_and_global_views(image, size)
    count = size // WINDOW
    windows = [full[:, r * WINDOW:(r + 1) * WINDOW, c * WINDOW:(c + 1) * WINDOW] for r in range(count) for c in range(count)]
    return torch.stack(windows + [global_view])
