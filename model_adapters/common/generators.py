"""One random generator per output image, seeded from the request.

Image i of a request always starts from ``request.seed + i`` on a CPU generator, so the same
request gives the same images whatever the batch size, the number of images asked for in one
call, or the device (noise drawn on the CPU is moved to the GPU bit for bit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def image_generators(seed: int, count: int) -> list["torch.Generator"]:
    import torch

    return [torch.Generator(device="cpu").manual_seed(seed + index) for index in range(count)]
