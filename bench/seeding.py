"""Per-sample seeds.

A sample's seed depends only on the run seed and the sample's key, never on its position in a
batch or in the run, so that batch size, ``--limit`` and resuming cannot change any output.
"""

from __future__ import annotations

import hashlib


def sample_seed(run_seed: int, key: str) -> int:
    digest = hashlib.sha256(f"{run_seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
