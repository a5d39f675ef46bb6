"""Loading a TextHarmony checkpoint into a model built on the meta device.

Accepted layouts: the release's single ``pytorch_model.bin``; its split parts
``pytorch_model.binaa``, ``.binab``, ... (read in sequence, never concatenated on disk); a folder
of ``.bin`` or safetensors shards (with or without an index file); a single safetensors file.

Each tensor is read, converted to the target dtype on the target device and placed in the
model before the next one is read, so host memory peaks near one copy of the weights. Keys may
use the ViT's plain layout (``visual_tokenizer.encoder.vision_model...``) or the ``peft`` layout of
the release (``visual_tokenizer.encoder.base_model.model.vision_model...``).

Unlike the release's loader (``load_state_dict(strict=False)``, which only prints what it
skipped) a load with missing or unexpected keys is refused unless ``allow_partial`` is set.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import nn

from .build import build_model, default_dtype, keeps_float32
from .checkpoint_io import TensorRecord, file_records
from .config import TextHarmonyConfig
from .keys import canonical_key
from .split_file import SplitFile
from .weight_files import CheckpointFiles, locate_checkpoint

if TYPE_CHECKING:
    from .base_components import BaseComponents

logger = logging.getLogger(__name__)


class PartialCheckpointError(ValueError):
    """The checkpoint misses keys the model has, or has keys it lacks."""


class CheckpointSource:
    """The tensors of one checkpoint, by canonical key; owns the open files."""

    def __init__(self, path: "str | Path") -> None:
        self.path = Path(path)
        self._files = ExitStack()
        located = locate_checkpoint(self.path)
        self.layout = located.layout
        self.records: dict[str, TensorRecord] = {}
        for source, handle in self._open(located):
            for record in file_records(handle, source):
                key = canonical_key(record.name)
                if key in self.records:
                    raise ValueError(f"{source}: tensor {key!r} appears in more than one shard")
                self.records[key] = record

    def _open(self, located: CheckpointFiles) -> list[tuple[str, Any]]:
        if located.split:
            parts = located.files
            logger.info("reading %d split parts in sequence: %s", len(parts), ", ".join(p.name for p in parts))
            joined = self._files.enter_context(SplitFile(parts))
            return [(f"{parts[0].parent}/{parts[0].name[:-2]}{{aa..}}", joined)]
        return [(str(file), self._files.enter_context(open(file, "rb"))) for file in located.files]

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "layout": self.layout, "tensors": len(self.records)}

    def close(self) -> None:
        self._files.close()

    def __enter__(self) -> "CheckpointSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class LoadReport:
    source: dict[str, Any]
    loaded: int = 0
    from_base: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.unexpected

    def summary(self) -> str:
        text = f"loaded {self.loaded} tensors from {self.source['path']} ({self.source['layout']})"
        if self.from_base:
            text += f", {len(self.from_base)} from base components"
        if self.missing:
            text += f"; MISSING {len(self.missing)} (first: {self.missing[:5]})"
        if self.unexpected:
            text += f"; UNEXPECTED {len(self.unexpected)} (first: {self.unexpected[:5]})"
        return text


def expected_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return dict(model.state_dict(keep_vars=True))


@torch.no_grad()
def load_weights(
    model: nn.Module,
    source: CheckpointSource,
    device: "torch.device | str",
    dtype: torch.dtype | None = None,
    allow_partial: bool = False,
    base: Mapping[str, TensorRecord] | None = None,
) -> LoadReport:
    """Fill ``model`` (usually on meta) from ``source``; ``base`` supplies keys the checkpoint lacks.

    Missing keys without a base entry are zero-filled when ``allow_partial``, otherwise nothing
    is read and a ``PartialCheckpointError`` lists them."""
    device = torch.device(device)
    dtype = dtype or default_dtype(device)
    # Looked up by canonical key, so that checkpoints of either ViT layout fit models of either.
    tensors = expected_tensors(model)
    names = {canonical_key(name): name for name in tensors}
    expected = {key: tensors[name] for key, name in names.items()}
    report = LoadReport(source.describe())
    report.unexpected = sorted(set(source.records) - set(expected))
    base = base or {}
    plan: list[tuple[str, TensorRecord | None]] = []
    for name, target in expected.items():
        record = source.records.get(name)
        if record is None and name in base:
            record = base[name]
            report.from_base.append(name)
        if record is None:
            report.missing.append(name)
        elif tuple(record.shape) != tuple(target.shape):
            raise ValueError(
                f"{name}: checkpoint shape {list(record.shape)} != model shape {list(target.shape)}; "
                "is the checkpoint for this configuration?"
            )
        plan.append((name, record))
    if not report.complete and not allow_partial:
        raise PartialCheckpointError(
            f"refusing a partial load (--allow-partial, or the model option allow_partial=true, accepts it): {report.summary()}"
        )

    filled_from_base = set(report.from_base)
    for count, (name, record) in enumerate(plan, 1):
        target = expected[name]
        if record is None:
            tensor = torch.zeros(target.shape, dtype=target.dtype, device=device)
        else:
            tensor = record.read()
        if tensor.is_floating_point():
            tensor = tensor.to(device=device, dtype=torch.float32 if keeps_float32(name) else dtype)
        else:
            tensor = tensor.to(device=device)
        _assign(model, names[name], tensor)
        report.loaded += record is not None and name not in filled_from_base
        if count % 500 == 0:
            logger.info("placed %d/%d tensors", count, len(plan))
    logger.info(report.summary())
    return report


def _assign(model: nn.Module, name: str, tensor: torch.Tensor) -> None:
    owner_name, _, leaf = name.rpartition(".")
    owner = model.get_submodule(owner_name)
    if leaf in owner._parameters:
        owner._parameters[leaf] = nn.Parameter(tensor, requires_grad=False)
    else:
        owner._buffers[leaf] = tensor


def load_model(
    checkpoint: "str | Path",
    config: "str | TextHarmonyConfig" = "release",
    device: "torch.device | str" = "cpu",
    dtype: torch.dtype | None = None,
    allow_partial: bool = False,
    base: "BaseComponents | None" = None,
) -> tuple[nn.Module, LoadReport]:
    """Build ``config`` on meta and materialise it from ``checkpoint`` on ``device``; keys the
    checkpoint lacks come from ``base`` (local Vicuna / CLIP / SD2-base folders) when given."""
    model = build_model(config, device="meta")
    with CheckpointSource(checkpoint) as source, ExitStack() as files:
        fallback = base.open(model.config, files) if base is not None else None
        report = load_weights(model, source, device, dtype, allow_partial, fallback)
    return model.eval(), report
