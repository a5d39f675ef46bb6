"""``monkey`` on a tiny Qwen-VL-like remote-code model: the opt-in, CLI runs, batch-size
invariance, and images reaching the model through files named in the prompt."""

from __future__ import annotations

import pytest
from PIL import Image

from bench.adapter import ADAPTERS
from bench.types import AnswerRequest
from model_adapters.common.folders import RemoteCodeNotTrusted
from model_adapters.monkey import qwen_vl_prompt

pytestmark = pytest.mark.usefixtures("single_torch_thread")

READING_TASKS = "starter-textvqa,starter-grounding"


def test_refuses_to_run_the_folder_code_without_the_opt_in(run_cli, qwen_vl_folder):
    with pytest.raises(RemoteCodeNotTrusted, match=r"modeling_tinyqwen\.py.*trust_remote_code=true"):
        ADAPTERS.get("monkey").from_args({"model": str(qwen_vl_folder)})
    result = run_cli("monkey", f"model={qwen_vl_folder}", "starter-textvqa")
    assert result.code == 2 and not result.run_dir.exists()


def test_answers_the_starter_reading_tasks_at_any_batch_size(run_cli, qwen_vl_folder):
    answers = []
    for batch_size in ("1", "4"):
        result = run_cli("monkey", f"model={qwen_vl_folder},device=cpu,max_new_tokens=8", READING_TASKS,
                         "--trust-remote-code", "--limit", "4", "--batch-size", batch_size, name=f"batch-{batch_size}")
        assert result.code == 0
        records = [record for task in READING_TASKS.split(",") for record in result.predictions(task)]
        assert len(records) == 8 and all(record["error"] is None for record in records)
        answers.append({record["key"]: record["raw"] for record in records})
    assert answers[0] == answers[1]
    manifest = result.manifest()
    assert manifest["tasks"]["starter-textvqa"]["config"]["prompt_profile"]["name"] == "monkey"
    assert manifest["adapter"]["options"]["trust_remote_code"] is True
    assert manifest["adapter"]["runtime"]["model_class"] == "TinyQwenLMHeadModel"


def test_the_model_reads_each_request_image_from_its_file(qwen_vl_folder):
    adapter = ADAPTERS.get("monkey").from_args({"model": str(qwen_vl_folder), "trust_remote_code": "true", "device": "cpu"})
    adapter.load()
    red, blue = Image.new("RGB", (30, 20), (250, 10, 10)), Image.new("RGB", (30, 20), (10, 10, 250))
    stored = Image.open(adapter._image_path(red))
    assert stored.format == "PNG" and stored.tobytes() == red.tobytes()
    def ask(image, key):
        return AnswerRequest(key=key, prompt="<image>what colour? Answer:", images=(image,), max_new_tokens=8)

    answers = adapter.answer([ask(red, "r1"), ask(blue, "b"), ask(red.copy(), "r2")])
    assert answers[0] == answers[2] != answers[1]


def test_qwen_vl_prompts_name_image_files_where_the_marks_are():
    assert qwen_vl_prompt("<image>what is it? Answer:", ["/t/a.png"]) == "<img>/t/a.png</img>what is it? Answer:"
    assert qwen_vl_prompt("<image> <ref>OPEN</ref>", ["/t/a.png"]) == "<img>/t/a.png</img> <ref>OPEN</ref>"
    assert qwen_vl_prompt("what is it?", ["/t/a.png"]) == "<img>/t/a.png</img>what is it?"
    assert qwen_vl_prompt("compare <image> and <image>", ["/a", "/b", "/c"]) == "<img>/a</img>compare <img>/b</img> and <img>/c</img>"
    with pytest.raises(ValueError, match="places 1 images but the request has 0"):
        qwen_vl_prompt("<image>", [])
