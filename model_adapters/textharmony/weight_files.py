"""Which files hold a checkpoint's tensors: a single file, split parts, or shards listed by an
index file. Only paths are looked at, nothing is read, so an adapter can check its paths when
it is built, before any weight is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model_adapters.common.weight_index import index_shards

from .split_file import find_parts

INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class CheckpointFiles:
    #: How the checkpoint is laid out, for the load report.
    layout: str
    #: The files to read, in order; for ``split``, the parts of one file.
    files: tuple[Path, ...]
    split: bool = False


def is_split_part(path: Path) -> bool:
    return path.suffix.startswith(".bin") and len(path.suffix) == 6 and path.suffix[-2:].isalpha()


def locate_checkpoint(path: Path) -> CheckpointFiles:
    """The files of the checkpoint at ``path``: a folder (index file, safetensors or .bin
    shards, or split parts of ``pytorch_model.bin``), a file, or split parts next to ``path``."""
    if path.is_dir():
        return _locate_in_folder(path)
    if path.is_file() and not is_split_part(path):
        return CheckpointFiles("single file", (path,))
    parts = find_parts(path.with_name(path.name[:-2])) if is_split_part(path) else find_parts(path)
    if parts:
        return _split(parts)
    raise FileNotFoundError(
        f"checkpoint {path} does not exist, and neither do split parts {path.name}aa, {path.name}ab, ... "
        f"next to it; download pytorch_model.binaa/.binab/.binac of the release into {path.parent}"
    )


def _locate_in_folder(path: Path) -> CheckpointFiles:
    for index_name in INDEX_FILES:
        index = path / index_name
        if index.is_file():
            return CheckpointFiles(f"sharded ({index_name})", tuple(index_shards(index)))
    for pattern in ("*.safetensors", "*.bin"):
        shards = sorted(path.glob(pattern))
        if shards:
            return CheckpointFiles(f"folder of {pattern}", tuple(shards))
    parts = find_parts(path / "pytorch_model.bin")
    if parts:
        return _split(parts)
    raise FileNotFoundError(
        f"no checkpoint in {path}: expected {' or '.join(INDEX_FILES)}, *.safetensors, *.bin, "
        "or the split parts pytorch_model.binaa, pytorch_model.binab, ..."
    )


def _split(parts: list[Path]) -> CheckpointFiles:
    return CheckpointFiles(f"split parts ({len(parts)})", tuple(parts), split=True)
