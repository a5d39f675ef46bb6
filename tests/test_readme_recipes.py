"""The code of the README's "Adding a task" and "Adding a model" sections, run as written: the
RRC-style VQA set it declares and the adapter it shows, each end to end through the runner on a
tiny dataset in the declared layout."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Sequence

import pytest
from PIL import Image

from bench.context import TaskContext
from bench.runner import RunConfig, run
from bench.store import RunStore
from bench.task import TASKS, DatasetError
from model_adapters.common.folders import ModelFolderError

README = Path(__file__).resolve().parents[1] / "README.md"
HEADINGS = ("### Adding a task", "### Adding a model")


def readme_block(heading: str) -> str:
    """The first Python block after ``heading``."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text[text.index(heading):], flags=re.DOTALL)
    assert match is not None, f"README.md has no python block after {heading!r}"
    return match.group(1)


@pytest.fixture(scope="module")
def recipes() -> types.ModuleType:
    """Both blocks executed once, as one module would hold them (they register their plugins)."""
    module = types.ModuleType("readme_recipes")
    sys.modules[module.__name__] = module
    for heading in HEADINGS:
        exec(compile(readme_block(heading), f"README.md, {heading}", "exec"), module.__dict__)
    return module


def write_signvqa(folder: Path, count: int = 6) -> None:
    """``count`` questions "say N" (answer N) over small photos, in the layout the README declares."""
    (folder / "photos").mkdir(parents=True)
    data = []
    for number in range(count):
        Image.new("RGB", (16, 12), (40 * number, 90, 20)).save(folder / "photos" / f"s{number}.png")
        data.append({"qid": f"s{number}", "question": f"say {number}", "photo": f"s{number}.png", "answers": [str(number)]})
    (folder / "signvqa_val.json").write_text(json.dumps({"data": data}), encoding="utf-8")


def _config(tmp_path: Path, adapter: str, **model_args: str) -> RunConfig:
    return RunConfig(
        model=adapter, tasks=["signvqa"], model_args=model_args, context=TaskContext(data_root=tmp_path / "data"),
        results_root=tmp_path / "runs", progress=False,
    )


def test_each_recipe_is_under_30_lines_of_code() -> None:
    for heading in HEADINGS:
        lines = [line for line in readme_block(heading).splitlines() if line.strip()]
        assert len(lines) < 30, f"{heading}: {len(lines)} lines"


def test_the_readme_vqa_set_loads_its_layout_and_runs_end_to_end(recipes, tmp_path: Path) -> None:
    write_signvqa(tmp_path / "data" / "signvqa")
    outcome = run(_config(tmp_path, "test-echo", wrong_every="3"))
    metrics = outcome.tasks[0].summary["metrics"]
    # The echo answers N, but N + 1 for 0 and 3: "1" against "0" and "4" against "3" score 0.
    assert metrics["anls"]["value"] == pytest.approx(4 / 6)
    assert metrics["containment_accuracy"]["value"] == pytest.approx(4 / 6)
    records = RunStore(outcome.run_dir).read_records("signvqa").by_slot.values()
    assert sorted(record.to_dict()["id"] for record in records) == [f"s{n}" for n in range(6)]

    task = TASKS.get("signvqa").from_args({}, TaskContext(data_root=tmp_path / "data"))
    assert task.load_samples()[2].image == tmp_path / "data" / "signvqa" / "photos" / "s2.png"
    (tmp_path / "data" / "signvqa" / "photos").rename(tmp_path / "data" / "signvqa" / "pictures")
    with pytest.raises(DatasetError, match=r"missing image folder .*photos; expected signvqa_<split>\.json"):
        TASKS.get("signvqa").from_args({}, TaskContext(data_root=tmp_path / "data")).load_samples()


class StandInVlm:
    """What the README's adapter expects of its model library ``my_vlm``: a model read from a
    folder, which answers "say N" with N when it is shown an image and its image token, and "?"
    otherwise."""

    def __init__(self, image_token: str) -> None:
        self.image_token = image_token

    @classmethod
    def from_folder(cls, folder: Path, device: str) -> "StandInVlm":
        return cls(json.loads((folder / "config.json").read_text(encoding="utf-8"))["image_token"])

    def generate(self, images: Sequence[Image.Image], prompts: Sequence[str], limits: Sequence[int]) -> list[str]:
        return [
            prompt.split()[-1] if isinstance(image, Image.Image) and prompt.startswith(self.image_token) and limit > 0 else "?"
            for image, prompt, limit in zip(images, prompts, limits)
        ]


def test_the_readme_adapter_refuses_a_missing_folder_first_and_runs_end_to_end(recipes, tmp_path: Path, monkeypatch) -> None:
    library = types.ModuleType("my_vlm")
    library.MyVlm = StandInVlm
    monkeypatch.setitem(sys.modules, "my_vlm", library)
    write_signvqa(tmp_path / "data" / "signvqa")
    with pytest.raises(ModelFolderError, match=r"model folder .*weights does not exist"):
        run(_config(tmp_path, "my-vlm", model=str(tmp_path / "weights")))
    assert not (tmp_path / "runs").exists()

    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "config.json").write_text(json.dumps({"image_token": "<img>"}), encoding="utf-8")
    outcome = run(_config(tmp_path, "my-vlm", model=str(tmp_path / "weights")))
    assert outcome.tasks[0].summary["metrics"]["anls"]["value"] == 1.0
    assert outcome.tasks[0].summary["n"] == 6 and outcome.tasks[0].summary["errors"] == 0
