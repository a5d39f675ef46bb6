"""torchvision's few image pieces the released Monkey, TextMonkey and DocOwl code imports, with
torchvision's own arithmetic on PIL images, for the fixture scripts' scratch environments where
torchvision cannot load (its PyPI wheels link the CUDA build of torch).

``resize`` is PIL's ``Image.resize`` with the named filter (what ``transforms.Resize`` does to
a PIL image), ``ToTensor`` turns uint8 HWC pixels into float CHW divided by 255, ``Normalize``
subtracts the mean and divides by the std, ``box_area`` is width times height.

The fixture scripts load this file by its path, so that it needs neither
this repository on ``sys.path`` nor anything but numpy, torch and PIL.
"""

from __future__ import annotations

import enum
import sys
import types

import numpy as np
import torch
from PIL import Image


def install_torchvision_stand_in() -> None:
    """Puts the stand-in in ``sys.modules`` unless the real torchvision loads."""
    try:
        import torchvision.ops.boxes  # noqa: F401
        import torchvision.transforms  # noqa: F401
        return
    except (ImportError, RuntimeError):
        for name in [name for name in sys.modules if name.startswith("torchvision")]:
            del sys.modules[name]

    class InterpolationMode(enum.Enum):
        NEAREST = "nearest"
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"

    filters = {InterpolationMode.NEAREST: Image.NEAREST, InterpolationMode.BILINEAR: Image.BILINEAR,
               InterpolationMode.BICUBIC: Image.BICUBIC}

    def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=None):
        if isinstance(size, int) or len(size) == 1:
            raise NotImplementedError("only (h, w) sizes are used by the releases")
        height, width = size
        return img.resize((int(width), int(height)), filters[interpolation])

    class Resize:
        def __init__(self, size, interpolation=InterpolationMode.BILINEAR):
            self.size, self.interpolation = size, interpolation

        def __call__(self, img):
            return resize(img, self.size, self.interpolation)

    class ToTensor:
        def __call__(self, img):
            array = torch.from_numpy(np.array(img, np.uint8, copy=True))
            return array.view(img.size[1], img.size[0], len(img.getbands())).permute(2, 0, 1).contiguous().float().div(255)

    class Normalize:
        def __init__(self, mean, std):
            self.mean, self.std = mean, std

        def __call__(self, tensor):
            mean = torch.as_tensor(self.mean, dtype=tensor.dtype)[:, None, None]
            std = torch.as_tensor(self.std, dtype=tensor.dtype)[:, None, None]
            return tensor.sub(mean).div(std)

    class Compose:
        def __init__(self, steps):
            self.steps = steps

        def __call__(self, value):
            for step in self.steps:
                value = step(value)
            return value

    def box_area(boxes):
        return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])

    package = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    inner = types.ModuleType("torchvision.transforms.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    ops = types.ModuleType("torchvision.ops")
    boxes = types.ModuleType("torchvision.ops.boxes")
    transforms.Resize, transforms.ToTensor, transforms.Normalize, transforms.Compose = Resize, ToTensor, Normalize, Compose
    transforms.InterpolationMode = inner.InterpolationMode = InterpolationMode
    transforms.functional, transforms.transforms = functional, inner
    functional.resize = resize
    boxes.box_area = box_area
    ops.boxes = boxes
    package.transforms, package.ops = transforms, ops
    sys.modules.update({"torchvision": package, "torchvision.transforms": transforms, "torchvision.transforms.transforms": inner,
                        "torchvision.transforms.functional": functional, "torchvision.ops": ops, "torchvision.ops.boxes": boxes})
