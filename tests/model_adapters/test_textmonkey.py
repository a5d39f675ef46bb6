"""``textmonkey`` on the released-layout parity fixture (``qwen_vl/data/textmonkey_tiny``): CLI
runs with TextMonkey's own prompts, answers independent of the batch, its grounding prompt and
box format, and folders of the other variant refused either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.adapter import ADAPTERS
from bench.boxes import parse_region
from model_adapters.qwen_vl.config import QwenVLConfigError
from tasks.grounding import GroundingTask
from tests.model_adapters.conftest import answers_at_batch_sizes

FIXTURES = Path(__file__).parent / "qwen_vl" / "data"
TEXTMONKEY = FIXTURES / "textmonkey_tiny" / "model"
READING_TASKS = "starter-textvqa,starter-grounding"

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module")
def adapter():
    adapter = ADAPTERS.get("textmonkey").from_args({"model": str(TEXTMONKEY), "device": "cpu"})
    adapter.load()
    return adapter


def test_answers_the_starter_reading_tasks_with_its_prompts_at_any_batch_size(run_cli):
    args = f"model={TEXTMONKEY},device=cpu,max_new_tokens=5"
    answers, result = answers_at_batch_sizes(run_cli, "textmonkey", args, READING_TASKS, 2, ("1", "2"))
    assert answers[0] == answers[1]
    manifest = result.manifest()
    for task in READING_TASKS.split(","):
        assert manifest["tasks"][task]["config"]["prompt_profile"]["name"] == "textmonkey"
    assert manifest["adapter"]["runtime"]["decoding"].startswith("greedy, min_new_tokens=1,")


def test_grounding_uses_textmonkey_prompts_and_reads_boxes_on_its_1000_grid():
    profile = GroundingTask.profiles["textmonkey"]
    assert profile.format('Where is "OPEN" in this image?', text="OPEN") == "<image> <ref>OPEN</ref>"
    task_box = GroundingTask.box_format.fget(type("T", (), {"profile": profile})())
    answer = "<ref>OPEN</ref><box>(100,250),(500,750)</box>"
    assert parse_region(answer, task_box, (1000, 2000)).box == pytest.approx((100, 500, 500, 1500))


@pytest.mark.parametrize("prompt", ["<image> <ref>OPEN</ref>", "<image> OCR with grounding:",
                                    "<image> What is it? Provide the location coordinates of the answer when answering the question."])
def test_answers_to_position_prompts_keep_the_region_tags(adapter, prompt):
    ids = adapter._tokenizer.encode("<ref>OPEN</ref><box>(1,2),(3,4)</box><|extra_3|><|endoftext|>")
    assert adapter._decode(ids, prompt) == "<ref>OPEN</ref><box>(1,2),(3,4)</box>"
    assert adapter._decode(ids, "<image> What is it? Answer:") == "OPEN(1,2),(3,4)"
    assert adapter.min_new_tokens(prompt) == 1


def test_each_adapter_refuses_the_other_variants_folder():
    with pytest.raises(QwenVLConfigError, match="TextMonkey release.*--model textmonkey"):
        ADAPTERS.get("monkey").from_args({"model": str(TEXTMONKEY)})
    with pytest.raises(QwenVLConfigError, match="Monkey release.*--model monkey"):
        ADAPTERS.get("textmonkey").from_args({"model": str(FIXTURES / "monkey_tiny" / "model")})
