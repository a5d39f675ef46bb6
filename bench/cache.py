"""Where derived data that is costly to rebuild and safe to delete is kept between runs:
``$THBENCH_CACHE``, else ``~/.cache/thbench``."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "THBENCH_CACHE"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/thbench").expanduser()
