"""``hf-vlm`` on a tiny random LLaVA: CLI runs on the starter reading tasks at two batch sizes,
answer limits, prompt placement, and refusals before any work."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from bench.adapter import ADAPTERS
from bench.options import OptionError
from bench.types import AnswerRequest
from model_adapters.common.folders import ModelFolderError, RemoteCodeNotTrusted
from model_adapters.common.prompts import prompt_parts
from model_adapters.hf_vlm import chat_content

pytestmark = pytest.mark.usefixtures("single_torch_thread")

READING_TASKS = "starter-textvqa,starter-grounding"


def test_answers_the_starter_reading_tasks_at_any_batch_size(run_cli, llava_folder):
    answers = []
    for batch_size in ("1", "4"):
        result = run_cli("hf-vlm", f"model={llava_folder},device=cpu,max_new_tokens=8", READING_TASKS, "--limit", "4",
                         "--batch-size", batch_size, name=f"batch-{batch_size}")
        assert result.code == 0
        records = [record for task in READING_TASKS.split(",") for record in result.predictions(task)]
        assert len(records) == 8 and all(record["error"] is None and record["raw"] for record in records)
        answers.append({record["key"]: record["raw"] for record in records})
    assert answers[0] == answers[1]
    # The VQA task used its chat profile, and the runtime facts reached the manifest.
    manifest = result.manifest()
    assert manifest["tasks"]["starter-textvqa"]["config"]["prompt_profile"]["name"] == "chat"
    assert manifest["adapter"]["runtime"] == {
        "device": "cpu", "dtype": "float32", "model_class": "LlavaForConditionalGeneration",
        "processor_class": "LlavaProcessor", "chat_template": True, "decoding": "greedy",
    }


def test_answers_are_cut_to_each_request_limit(llava_folder):
    adapter = ADAPTERS.get("hf-vlm").from_args({"model": str(llava_folder), "device": "cpu"})
    adapter.load()
    image = Image.new("RGB", (20, 20), (200, 30, 30))
    long = AnswerRequest(key="a", prompt="<image>what is it?", images=(image,), max_new_tokens=12)
    short = AnswerRequest(key="b", prompt="<image>what is it?", images=(image,), max_new_tokens=3)
    together = adapter.answer([long, short])
    assert together == [adapter.answer([long])[0], adapter.answer([short])[0]]
    assert len(together[1]) <= 3 < len(together[0])


def test_the_chat_template_wraps_the_prompt(llava_folder):
    request = AnswerRequest(key="k", prompt="<image>\nwhat is it?\nAnswer briefly.", images=(Image.new("RGB", (8, 8)),))
    with_template = ADAPTERS.get("hf-vlm").from_args({"model": str(llava_folder), "device": "cpu"})
    with_template.load()
    # The test's template: "ROLE: " + parts + " " per message, then "ASSISTANT:".
    assert with_template._model_text(request) == "USER: <image>what is it?\nAnswer briefly. ASSISTANT:"
    bare = ADAPTERS.get("hf-vlm").from_args({"model": str(llava_folder), "device": "cpu", "chat_template": "false"})
    bare.load()
    assert bare._model_text(request) == "<image>\nwhat is it?\nAnswer briefly."


def test_prompt_parts_place_images_where_the_prompt_marks_them():
    assert prompt_parts("<image>\nQ?", 1) == [None, "\nQ?"]
    assert prompt_parts("Look: <image> then <image>.", 2) == ["Look: ", None, " then ", None, "."]
    assert prompt_parts("Q?", 1) == [None, "Q?"]
    assert prompt_parts("A <image> B", 2) == [None, "A ", None, " B"]
    with pytest.raises(ValueError, match="places 2 images but the request has 1"):
        prompt_parts("<image><image>", 1)
    assert chat_content([None, "\n Q? \n", None, "  "]) == [{"type": "image"}, {"type": "text", "text": "Q?"}, {"type": "image"}]


def test_a_missing_folder_stops_the_run_before_any_work(run_cli, tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelFolderError, match=f"model folder {missing} does not exist"):
        ADAPTERS.get("hf-vlm").from_args({"model": str(missing)})
    result = run_cli("hf-vlm", f"model={missing}", "starter-textvqa")
    assert result.code == 2 and not result.run_dir.exists()
    with pytest.raises(OptionError, match="model=/path/to/folder"):
        ADAPTERS.get("hf-vlm").from_args({})


def test_a_folder_with_its_own_code_needs_the_opt_in(tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"auto_map": {"AutoConfig": "configuration_x.XConfig"}}))
    (folder / "configuration_x.py").write_text("")
    with pytest.raises(RemoteCodeNotTrusted, match=r"configuration_x\.py.*trust_remote_code=true"):
        ADAPTERS.get("hf-vlm").from_args({"model": str(folder)})
    ADAPTERS.get("hf-vlm").from_args({"model": str(folder), "trust_remote_code": "true"})


def test_an_unknown_or_absent_device_is_refused(llava_folder):
    import torch

    with pytest.raises(OptionError, match="device must be auto, cpu, cuda or cuda:N"):
        ADAPTERS.get("hf-vlm").from_args({"model": str(llava_folder), "device": "gpu0"})
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(OptionError, match="no CUDA device" if count == 0 else "does not exist"):
        ADAPTERS.get("hf-vlm").from_args({"model": str(llava_folder), "device": f"cuda:{count}"})
