"""Where FID's Inception checkpoint is found, without importing torch: a run whose FID cannot be
computed says so at once instead of first paying seconds of imports."""

from __future__ import annotations

import os
from pathlib import Path

from bench.context import FID_WEIGHTS_ENV

FID_WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"


class FidWeightsMissing(FileNotFoundError):
    """The FID checkpoint is not on disk; FID is then reported as not computed, never estimated."""

    def __init__(self, path: Path | None) -> None:
        where = f"was not found at {path}" if path is not None else "were not given"
        super().__init__(
            f"FID not computed: the Inception weights {FID_WEIGHTS_FILENAME} {where} "
            f"(pass --fid-weights or set {FID_WEIGHTS_ENV} to the file or its folder)"
        )
        self.path = path


def resolve_fid_weights(weights_path: str | Path | None) -> Path:
    """The checkpoint file from an explicit path, else from ``THBENCH_FID_WEIGHTS``; a folder may hold it."""
    candidate = weights_path if weights_path not in (None, "") else os.environ.get(FID_WEIGHTS_ENV)
    if not candidate:
        raise FidWeightsMissing(None)
    path = Path(candidate).expanduser()
    if path.is_dir():
        path = path / FID_WEIGHTS_FILENAME
    if not path.is_file():
        raise FidWeightsMissing(path)
    return path
