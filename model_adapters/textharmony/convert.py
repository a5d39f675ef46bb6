"""``thbench convert textharmony SRC DST``: any accepted checkpoint layout -> sharded safetensors.

safetensors shards open by memory map and need no unpickling, so later loads start faster and
can be read in parallel. Tensors are streamed one at a time and shards written as they fill, so
conversion needs about one shard of memory. Keys are written in the release layout.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
from pathlib import Path
from typing import Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from .checkpoint import CheckpointSource

logger = logging.getLogger(__name__)

INDEX_NAME = "model.safetensors.index.json"
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(size: "int | str") -> int:
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", size)
    if not match or match[2].upper() not in _UNITS:
        raise ValueError(f"cannot read the size {size!r}; write e.g. 5GB, 500MB or a number of bytes")
    return int(float(match[1]) * _UNITS[match[2].upper()])


def convert_checkpoint(
    src: "str | Path",
    dst: "str | Path",
    shard_size: "int | str" = "5GB",
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``dst/model-0000i-of-0000n.safetensors`` and ``dst/model.safetensors.index.json``.

    ``dtype`` converts floating tensors (e.g. ``torch.bfloat16`` halves the release's 60 GB).
    Returns the index path."""
    limit = parse_size(shard_size)
    dst = Path(dst)
    if dst.exists() and any(dst.iterdir()):
        raise FileExistsError(f"{dst} is not empty; choose a new folder for the converted checkpoint")
    created = not dst.exists()
    dst.mkdir(parents=True, exist_ok=True)
    try:
        return _write_shards(src, dst, limit, dtype)
    except BaseException:
        # Half a checkpoint must not pass for a whole one: remove what was written.
        for written in dst.iterdir():
            written.unlink()
        if created:
            dst.rmdir()
        raise


def _write_shards(src: "str | Path", dst: Path, limit: int, dtype: torch.dtype | None) -> Path:
    with CheckpointSource(src) as source:
        shards: list[list[str]] = [[]]
        filled = 0
        sizes = {}
        for name, record in source.records.items():
            target = dtype if dtype is not None and record.dtype.is_floating_point else record.dtype
            sizes[name] = math.prod(record.shape) * torch.empty((), dtype=target).element_size()
            if shards[-1] and filled + sizes[name] > limit:
                shards.append([])
                filled = 0
            shards[-1].append(name)
            filled += sizes[name]
        weight_map = {}
        for index, names in enumerate(shards, 1):
            file_name = f"model-{index:05d}-of-{len(shards):05d}.safetensors"
            tensors = {}
            for name in names:
                tensor = source.records[name].read()
                if dtype is not None and tensor.is_floating_point():
                    tensor = tensor.to(dtype)
                tensors[name] = tensor.contiguous()
                weight_map[name] = file_name
            try:
                save_file(tensors, str(dst / file_name), metadata={"format": "pt"})
            except SafetensorError as error:  # what safetensors raises for a full disk or an I/O error
                raise OSError(f"cannot write {dst / file_name}: {error}") from error
            logger.info("wrote %s (%d tensors)", file_name, len(names))
            del tensors
        index = {"metadata": {"total_size": sum(sizes.values()), "source": source.describe()}, "weight_map": weight_map}
    path = dst / INDEX_NAME
    path.write_text(json.dumps(index, indent=1))
    return path



_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def convert_main(argv: Sequence[str] | None = None) -> int:
    """``thbench convert textharmony SRC DST [--shard-size 5GB] [--dtype bfloat16]``."""
    parser = argparse.ArgumentParser(prog="thbench convert textharmony", description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="pytorch_model.bin, its .binaa/.binab/... parts, a shard folder or safetensors")
    parser.add_argument("dst", type=Path, help="new, empty folder for the safetensors shards and their index")
    parser.add_argument("--shard-size", default="5GB", help="largest shard, e.g. 5GB or 500MB")
    parser.add_argument("--dtype", choices=sorted(_DTYPES), help="convert floating tensors (bfloat16 halves the size)")
    args = parser.parse_args(argv)
    index = convert_checkpoint(args.src, args.dst, shard_size=args.shard_size, dtype=_DTYPES.get(args.dtype))
    logger.info("wrote %s", index)
    return 0
