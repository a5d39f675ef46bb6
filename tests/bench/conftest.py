from __future__ import annotations

from pathlib import Path

import pytest
from processes import write_entry_script


@pytest.fixture
def entry_script(tmp_path: Path) -> Path:
    """A script that runs ``thbench`` with the toy plugins registered."""
    return write_entry_script(tmp_path / "thbench_with_toys.py")
