"""Filling a model built on the meta device from a release's tensors, with errors that name
the folder and the tensor, shared by the native implementations."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import torch
from torch import nn


class CheckpointError(ValueError):
    pass


def assign_tensors(model: nn.Module, tensors: Iterable[tuple[str, torch.Tensor]], folder: Path, what: str,
                   dtype: torch.dtype, device: torch.device, computed: re.Pattern[str] | None = None) -> set[str]:
    """Puts each named tensor in its place in ``model`` (cast to ``dtype`` on ``device``) and
    returns the names of the model's tensors that none filled. A name without a place (unless
    ``computed`` matches it: a buffer older checkpoints store) or a shape that differs from
    the config's is refused; ``what`` names the model in the message."""
    expected = model.state_dict()
    found = set()
    for name, tensor in tensors:
        if name not in expected:
            if computed is not None and computed.match(name):
                continue
            raise CheckpointError(f"{folder}: tensor {name!r} has no place in a {what} model; is this the right folder?")
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(f"{folder}: {name} has shape {tuple(tensor.shape)}, config.json implies {tuple(expected[name].shape)}")
        owner_name, _, attribute = name.rpartition(".")
        owner = model.get_submodule(owner_name)
        value = tensor.to(device=device, dtype=dtype)
        setattr(owner, attribute, nn.Parameter(value, requires_grad=False) if isinstance(getattr(owner, attribute), nn.Parameter) else value)
        found.add(name)
    return set(expected) - found


def refuse_missing(folder: Path, missing: set[str]) -> None:
    if missing:
        listed = ", ".join(sorted(missing)[:5]) + (", ..." if len(missing) > 5 else "")
        raise CheckpointError(f"{folder}: the weights lack {len(missing)} tensors ({listed})")
