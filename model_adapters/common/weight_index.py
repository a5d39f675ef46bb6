"""The shards a ``save_pretrained`` index file names; only paths are looked at (no torch), so
an adapter can check its files when it is built, before any weight is loaded."""

from __future__ import annotations

import json
from pathlib import Path


def index_shards(index: Path) -> list[Path]:
    """The shard files an index file's ``weight_map`` names, each once, in name order; every
    one must exist beside the index."""
    shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    missing = [name for name in shards if not (index.parent / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{index} lists shards that are not in {index.parent}: {missing}")
    return [index.parent / name for name in shards]
