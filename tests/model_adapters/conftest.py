"""Tiny local model folders for the baseline adapters (built once per test run), and a fixture
that runs ``thbench run`` on the shared starter data."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Callable

import pytest

from bench.cli import main


def _load_builders():
    name = "model_adapter_tiny_models"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "tiny_models.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


tiny_models = _load_builders()


@pytest.fixture
def single_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy machine threads waiting
    for each other cost many times the work itself."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> dict:
    """The tensors the fixture script of the asking module's ``RELEASE`` folder recorded."""
    from parity import recorded_tensors

    return recorded_tensors(request.module.RELEASE)


@pytest.fixture(scope="module")
def recorded(request: pytest.FixtureRequest) -> dict:
    """The other values it recorded (prompts, token ids, settings)."""
    from parity import recorded_values

    return recorded_values(request.module.RELEASE)


@pytest.fixture(scope="session")
def llava_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.build_llava(tmp_path_factory.mktemp("llava"))


@pytest.fixture(scope="session")
def sd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.build_stable_diffusion(tmp_path_factory.mktemp("sd"))


@pytest.fixture(scope="session")
def sd_inpaint_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.build_stable_diffusion(tmp_path_factory.mktemp("sd-inpaint"), inpainting=True)


@pytest.fixture(scope="session")
def anytext_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.build_anytext(tmp_path_factory.mktemp("anytext"))


class CliRun:
    """``thbench run`` into one run folder; ``predictions`` and ``manifest`` read it back."""

    def __init__(self, run_dir: Path, code: int) -> None:
        self.run_dir = run_dir
        self.code = code

    def predictions(self, task: str) -> list[dict]:
        from bench.store import RunStore

        return [record.to_dict() for record in RunStore(self.run_dir).read_predictions(task).values()]

    def manifest(self) -> dict:
        return json.loads((self.run_dir / "manifest.json").read_text(encoding="utf-8"))

    def image_bytes(self, task: str) -> dict[str, list[bytes]]:
        return {record["key"]: [(self.run_dir / path).read_bytes() for path in record["images"]] for record in self.predictions(task)}


def answers_at_batch_sizes(run_cli: Callable[..., CliRun], model: str, model_args: str, tasks: str, limit: int,
                           batch_sizes: tuple[str, ...]) -> tuple[list[dict[str, str]], CliRun]:
    """Each batch size's raw answers by sample key (every sample answered, none failed), and
    the last run."""
    answers = []
    for batch_size in batch_sizes:
        result = run_cli(model, model_args, tasks, "--limit", str(limit), "--batch-size", batch_size, name=f"batch-{batch_size}")
        assert result.code == 0
        records = [record for task in tasks.split(",") for record in result.predictions(task)]
        assert len(records) == limit * len(tasks.split(",")) and all(record["error"] is None for record in records)
        answers.append({record["key"]: record["raw"] for record in records})
    return answers, result


@pytest.fixture
def run_cli(starter_data: Path, tmp_path: Path) -> Callable[..., CliRun]:
    def run(model: str, model_args: str, tasks: str, *extra: str, name: str = "run") -> CliRun:
        run_dir = tmp_path / name
        code = main([
            "run", "--model", model, "--model-args", model_args, "--tasks", tasks, "--data-dir", str(starter_data),
            "--results-dir", str(tmp_path / "results"), "--run-dir", str(run_dir), "--no-progress", *extra,
        ])
        return CliRun(run_dir, code)

    return run
