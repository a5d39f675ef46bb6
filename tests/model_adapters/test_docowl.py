"""``docowl`` on the released-layout parity fixture (``docowl/data/docowl_tiny``): CLI runs,
answers independent of the batch, one prompt pass per request, folders of other models refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from bench.adapter import ADAPTERS
from bench.types import AnswerRequest
from model_adapters.mplug_docowl.config import DocOwlConfigError
from model_adapters.mplug_docowl.generation import greedy

DOCOWL = Path(__file__).parent / "docowl" / "data" / "docowl_tiny" / "model"
READING_TASKS = "starter-textvqa,starter-docvqa"

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module")
def adapter():
    adapter = ADAPTERS.get("docowl").from_args({"model": str(DOCOWL), "device": "cpu"})
    adapter.load()
    return adapter


def test_answers_the_starter_reading_tasks_at_any_batch_size(run_cli):
    answers = []
    for batch_size in ("1", "2"):
        result = run_cli("docowl", f"model={DOCOWL},device=cpu,max_new_tokens=5", READING_TASKS,
                         "--limit", "2", "--batch-size", batch_size, name=f"batch-{batch_size}")
        assert result.code == 0
        records = [record for task in READING_TASKS.split(",") for record in result.predictions(task)]
        assert len(records) == 4 and all(record["error"] is None for record in records)
        answers.append({record["key"]: record["raw"] for record in records})
    assert answers[0] == answers[1]
    manifest = result.manifest()
    for task in READING_TASKS.split(","):
        assert manifest["tasks"][task]["config"]["prompt_profile"]["name"] == "docowl"
    assert manifest["adapter"]["runtime"]["implementation"].startswith("thbench native")


def test_a_row_decodes_as_it_would_alone_whatever_its_batch(adapter):
    requests = [
        AnswerRequest(key="wide", prompt="<image>What is written?", images=(Image.new("RGB", (900, 300), (200, 30, 40)),)),
        AnswerRequest(key="text", prompt="Just text, no image", images=()),
        AnswerRequest(key="noise", prompt="<image>Which colour?", images=(Image.effect_noise((50, 90), 60).convert("RGB"),)),
    ]
    prompts = [adapter.prompt(request) for request in requests]
    end = adapter._tokenizer.eos_id
    together = greedy(adapter._model, prompts, 6, end, keep_scores=True)
    for row, prompt in enumerate(prompts):
        alone = greedy(adapter._model, [prompt], 6, end, keep_scores=True)
        assert together.tokens[row] == alone.tokens[0]
        for mine, single in zip(together.scores[row], alone.scores[0]):
            # padding changes only the shapes of the sums (float32 rounding)
            assert (mine - single).abs().max() <= 2e-6 * single.abs().max()


def test_the_prompt_and_crops_run_once_then_one_token_per_row_per_step(adapter):
    model = adapter._model
    seen: list[int] = []
    vision_calls: list[int] = []
    hooks = [
        model.model.layers[0].register_forward_hook(lambda module, args, output: seen.append(args[0].shape[1])),
        model.model.vision_model.register_forward_hook(lambda module, args, output: vision_calls.append(args[0].shape[0])),
    ]
    try:
        requests = [AnswerRequest(key=str(i), prompt="<image>Read it.", images=(Image.new("RGB", (300 + 600 * i, 300), (i * 40, 90, 9)),),
                                  max_new_tokens=6) for i in range(2)]
        adapter.answer(requests)
    finally:
        for hook in hooks:
            hook.remove()
    # a 300x300 image is one crop, a 900x300 one a row of three, each with its global view
    assert vision_calls == [2 + 4]
    assert seen[0] > 4 * model.config.image_tokens  # the longer prompt: its four crops and its text
    assert seen[1:] and set(seen[1:]) == {1}


def test_requests_with_two_images_are_refused(adapter):
    request = AnswerRequest(key="two", prompt="<image><image>Same?", images=(Image.new("RGB", (20, 20)),) * 2)
    with pytest.raises(ValueError, match="one image per prompt"):
        adapter.answer([request])


def test_folders_of_other_models_are_refused_before_loading(tmp_path):
    other = tmp_path / "llama"
    shutil.copytree(DOCOWL, other)
    config = json.loads((other / "config.json").read_text())
    config["model_type"] = "llama"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(DocOwlConfigError, match="model_type 'llama'"):
        ADAPTERS.get("docowl").from_args({"model": str(other)})
    config["model_type"], config["rope_scaling"] = "mplug_docowl", {"type": "linear", "factor": 2.0}
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(DocOwlConfigError, match="rope_scaling=.* is not supported"):
        ADAPTERS.get("docowl").from_args({"model": str(other)})
