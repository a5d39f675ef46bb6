"""Checks every native model's loader must pass on its parity fixture's release folder: the
same tensors read from PyTorch ``.bin`` files, and a tensor the model has no place for or one
it lacks refused with its name."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from model_adapters.common.checkpoints import CheckpointError, read_checkpoint

#: ``Model.from_folder`` at float32 on the CPU.
Loader = Callable[[Path], nn.Module]


def _without_safetensors(release: Path, folder: Path) -> Path:
    shutil.copytree(release, folder, ignore=shutil.ignore_patterns("model*.safetensors*"))
    return folder


def assert_bin_weights_load_the_same(release: Path, model: nn.Module, load: Loader, tmp_path: Path) -> None:
    folder = _without_safetensors(release, tmp_path / "bin-release")
    torch.save(dict(read_checkpoint(release)), folder / "pytorch_model.bin")
    reloaded = load(folder)
    for (name, mine), (other_name, other) in zip(model.state_dict().items(), reloaded.state_dict().items()):
        assert name == other_name and torch.equal(mine, other)


def assert_foreign_and_missing_tensors_are_refused(release: Path, load: Loader, tmp_path: Path, foreign: str, dropped: str) -> None:
    weights = dict(read_checkpoint(release))
    folder = _without_safetensors(release, tmp_path / "broken")
    save_file({**weights, foreign: torch.ones(2)}, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=foreign):
        load(folder)
    weights.pop(dropped)
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=f"lack 1 tensors.*{dropped}"):
        load(folder)
