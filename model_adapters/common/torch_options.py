"""``device`` and ``dtype`` options, checked when the adapter is built and resolved at load.

``auto`` picks the accelerator when there is one; on a CPU it always means float32, because
half precision there is slow and, for some operators, missing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from bench.options import OptionError

if TYPE_CHECKING:
    import torch

DtypeName = Literal["auto", "float32", "bfloat16", "float16"]
AcceleratorDtype = Literal["bfloat16", "float16"]

_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


def check_device(device: str) -> None:
    """Refuse a malformed device, or a GPU on a machine without one, before any work."""
    if not _DEVICE.match(device):
        raise OptionError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise OptionError(f"device={device} was asked for, but torch sees no CUDA device here; use device=cpu or device=auto")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise OptionError(f"device={device} does not exist: torch sees {torch.cuda.device_count()} CUDA device(s)")


def resolve_device(device: str) -> "torch.device":
    """``auto``: the GPU of this rank (``LOCAL_RANK``, set by torchrun and accelerate) when
    there is one, else the CPU."""
    import os

    import torch

    if device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    return torch.device(device)


def resolve_dtype(dtype: DtypeName, device: "torch.device", accelerator_default: AcceleratorDtype = "bfloat16") -> "torch.dtype":
    """``auto``: float32 on CPU; on a GPU ``accelerator_default``, with float16 standing in for
    bfloat16 on cards that lack it."""
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device.type == "cpu":
        return torch.float32
    if accelerator_default == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return getattr(torch, accelerator_default)
