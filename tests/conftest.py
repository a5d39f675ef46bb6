"""Shared fixtures. Test-only plugins are registered once for the whole session."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).parent / "support"


def _load_support(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SUPPORT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


toy_plugins = _load_support("toy_plugins")
toy_plugins.register()
_load_support("processes")
_load_support("parity")


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory: pytest.TempPathFactory):
    """Caches (FID statistics, unpacked parquet images) go to a temporary folder, never to the
    user's ~/.cache."""
    from bench.cache import CACHE_ENV

    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous


@pytest.fixture(autouse=True, scope="session")
def single_torch_thread():
    """Tiny models run fastest single-threaded; torch's default pool of one thread per core
    spends more time waking its threads than computing, and much more on a busy machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def toy_data(tmp_path: Path) -> Path:
    """A data root holding the toy dataset under toy/."""
    toy_plugins.write_toy_dataset(tmp_path / "data" / "toy")
    return tmp_path / "data"


@pytest.fixture(scope="session")
def starter_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated starter suite shared by every test that needs it."""
    return tmp_path_factory.mktemp("starter-data")


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, where the test may mount one (root on Linux); skipped elsewhere."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root on Linux to mount a small tmpfs")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=False)
