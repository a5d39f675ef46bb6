"""Stable hashes that decide what a resumed run may reuse.

A fingerprint must change when anything that changes an output changes (a prompt, a
checkpoint, a dataset file) and must not change otherwise (batch size, run order, the machine).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

#: Bytes read from each end of a file: enough to tell checkpoints apart (headers and tensors
#: differ) without reading tens of gigabytes on every run.
_EDGE_BYTES = 1 << 20


#: One encoder for every hash: building one per call costs more than the encoding itself.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False).encode


def stable_hash(payload: Any, length: int = 16) -> str:
    return hashlib.sha256(_CANONICAL_JSON(payload).encode("utf-8")).hexdigest()[:length]


def file_signature(path: Path) -> str:
    """Size plus a hash of the first and last megabyte.

    Copying a checkpoint to another disk keeps its signature (no mtimes involved); two
    different checkpoints of the same size differ in their first or last bytes in practice.
    """
    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_EDGE_BYTES))
        if size > 2 * _EDGE_BYTES:
            handle.seek(size - _EDGE_BYTES)
            digest.update(handle.read(_EDGE_BYTES))
        elif size > _EDGE_BYTES:
            digest.update(handle.read())
    return digest.hexdigest()[:16]


def path_signature(path: Path) -> str | None:
    """Signature of a file, or of every file below a folder (relative names included)."""
    if path.is_file():
        return file_signature(path)
    if path.is_dir():
        entries = sorted(p for p in path.rglob("*") if p.is_file())
        return stable_hash([[str(p.relative_to(path)), file_signature(p)] for p in entries])
    return None


def dataset_fingerprint(annotation_files: Iterable[Path], media_files: Iterable[Path], root: Path) -> str:
    """Content hash of the annotation files plus the names and sizes of the images.

    Names are taken relative to ``root`` so that moving the data folder keeps the fingerprint;
    images are not read whole because a benchmark's images can weigh gigabytes and a re-encoded
    image changes its size.
    """
    digest = hashlib.sha256()
    for path in sorted(annotation_files):
        digest.update(os.fsencode(path.relative_to(root)))
        digest.update(b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    for path in sorted(media_files):
        digest.update(os.fsencode(path.relative_to(root)))
        digest.update(f"\0{path.stat().st_size}\0".encode())
    return digest.hexdigest()[:16]
