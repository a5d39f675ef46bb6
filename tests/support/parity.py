"""What parity tests share: a released procedure's recorded outputs, and the one comparison
they are held to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch


def recorded_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """The tensors a fixture script saved (``outputs.pt``)."""
    return torch.load(folder / "outputs.pt", weights_only=True)


def recorded_values(folder: Path) -> dict[str, Any]:
    """The non-tensor values a fixture script saved (``outputs.json``): prompts, token ids."""
    return json.loads((folder / "outputs.json").read_text(encoding="utf-8"))


def assert_relatively_close(actual: torch.Tensor, expected: torch.Tensor, relative: float) -> None:
    """The largest difference, relative to the reference's largest magnitude, is at most
    ``relative``: one bound for a whole tensor, so that near-zero entries cannot hide an error
    or fail a correct result."""
    assert actual.shape == expected.shape
    error = (actual.float() - expected.float()).abs().max() / expected.float().abs().max()
    assert error <= relative, f"relative error {error:.2e}"
