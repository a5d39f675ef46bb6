"""Reading a release's weight files and filling a model built on the meta device from them,
with errors that name the folder and the tensor, shared by the native implementations."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

from model_adapters.common.weight_index import index_shards

WEIGHT_FILES = ("model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin")


class CheckpointError(ValueError):
    pass


def read_checkpoint(folder: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor of the folder's weights: safetensors or PyTorch files, sharded (with the
    index ``save_pretrained`` writes) or whole, read one file at a time."""
    for name in WEIGHT_FILES:
        path = folder / name
        if path.is_file():
            break
    else:
        raise FileNotFoundError(f"{folder} holds none of {', '.join(WEIGHT_FILES)}; point model= at the released folder")
    for file in index_shards(path) if name.endswith(".index.json") else [path]:
        yield from read_weight_file(file)


def read_weight_file(path: Path, select: Callable[[str], bool] = lambda name: True) -> Iterator[tuple[str, torch.Tensor]]:
    """The selected tensors of one safetensors or PyTorch file, read lazily (safetensors by
    name, ``.bin`` by memory map)."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                if select(key):
                    yield key, handle.get_tensor(key)
    else:
        for key, tensor in torch.load(path, map_location="cpu", weights_only=True, mmap=True).items():
            if select(key):
                yield key, tensor


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
        assign(model, name, tensor.to(device=device, dtype=dtype))
        found.add(name)
    return set(expected) - found


def assign(model: nn.Module, name: str, tensor: torch.Tensor) -> None:
    """Replaces the parameter or buffer ``name`` of ``model`` (a meta one, say) by ``tensor``."""
    owner_name, _, attribute = name.rpartition(".")
    owner = model.get_submodule(owner_name)
    setattr(owner, attribute, nn.Parameter(tensor, requires_grad=False) if isinstance(getattr(owner, attribute), nn.Parameter) else tensor)


def refuse_missing(folder: Path, missing: set[str]) -> None:
    if missing:
        listed = ", ".join(sorted(missing)[:5]) + (", ..." if len(missing) > 5 else "")
        raise CheckpointError(f"{folder}: the weights lack {len(missing)} tensors ({listed})")
