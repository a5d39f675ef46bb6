"""``monkey`` on the released-layout parity fixture (``qwen_vl/data/monkey_tiny``): CLI runs,
answers independent of the batch, one prompt pass per request, grounding prompts and answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from bench.adapter import ADAPTERS
from bench.boxes import parse_region
from bench.types import AnswerRequest
from model_adapters.qwen_vl.config import QwenVLConfigError
from model_adapters.qwen_vl.generation import Prompt, greedy
from model_adapters.qwen_vl.tokenizer import encode_with_images
from tasks.grounding import GroundingTask
from tests.model_adapters.conftest import answers_at_batch_sizes

MONKEY = Path(__file__).parent / "qwen_vl" / "data" / "monkey_tiny" / "model"
READING_TASKS = "starter-textvqa,starter-grounding"

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module")
def adapter():
    adapter = ADAPTERS.get("monkey").from_args({"model": str(MONKEY), "device": "cpu"})
    adapter.load()
    return adapter


def test_answers_the_starter_reading_tasks_at_any_batch_size(run_cli):
    answers, result = answers_at_batch_sizes(run_cli, "monkey", f"model={MONKEY},device=cpu,max_new_tokens=6", READING_TASKS, 3, ("1", "3"))
    assert answers[0] == answers[1]
    manifest = result.manifest()
    for task in READING_TASKS.split(","):
        assert manifest["tasks"][task]["config"]["prompt_profile"]["name"] == "monkey"
    assert manifest["adapter"]["runtime"]["implementation"].startswith("thbench native")


def test_a_row_decodes_as_it_would_alone_whatever_its_batch(adapter):
    model, tokenizer = adapter._model, adapter._tokenizer
    sign = Image.new("RGB", (60, 40), (200, 30, 40))
    noise = Image.effect_noise((50, 90), 60).convert("RGB")
    span = model.image_token_span
    prompts = [
        Prompt(tuple(encode_with_images(tokenizer, [None, "What is written? Answer:"], span)), (sign,)),
        Prompt(tuple(tokenizer.encode("Just text, no image"))),
        Prompt(tuple(encode_with_images(tokenizer, [None, None, "Which differs most from the other one? Answer:"], span)), (noise, sign)),
    ]
    ids = tokenizer.ids
    together = greedy(model, prompts, 8, ids.end_of_text, ids.image_start, keep_scores=True)
    for row, prompt in enumerate(prompts):
        alone = greedy(model, [prompt], 8, ids.end_of_text, ids.image_start, keep_scores=True)
        assert together.tokens[row] == alone.tokens[0]
        for mine, single in zip(together.scores[row], alone.scores[0]):
            # padding changes only the shapes of the sums (float32 rounding)
            assert (mine - single).abs().max() <= 2e-6 * single.abs().max()


def test_the_prompt_and_images_run_once_then_one_token_per_row_per_step(adapter):
    model = adapter._model
    seen: list[int] = []
    vision_calls: list[int] = []
    hooks = [
        model.transformer.h[0].register_forward_hook(lambda module, args, output: seen.append(args[0].shape[1])),
        model.transformer.visual.register_forward_hook(lambda module, args, output: vision_calls.append(args[0].shape[0])),
    ]
    try:
        requests = [AnswerRequest(key=str(i), prompt="<image>Read it. Answer:", images=(Image.new("RGB", (30 + i, 20), (i * 40, 90, 9)),),
                                  max_new_tokens=10) for i in range(2)]
        adapter.answer(requests)
    finally:
        for hook in hooks:
            hook.remove()
    prompt_length = seen[0]
    assert prompt_length > model.image_token_span
    assert seen[1:] and set(seen[1:]) == {1}  # every later step feeds one token per row
    # each window view and the global view once, for both images together
    assert vision_calls == [2] * (model.windows + 1)


def test_grounding_uses_qwen_vl_prompts_and_reads_their_boxes():
    profile = GroundingTask.profiles["monkey"]
    assert profile.format('Where is "OPEN" in this image?', text="OPEN") == "<image><ref>OPEN</ref><box>"
    task_box = GroundingTask.box_format.fget(type("T", (), {"profile": profile})())
    answer = "(100,250),(500,749)</box>"
    assert parse_region(answer, task_box, (999, 1998)).box == pytest.approx((100, 500, 500, 1498))


def test_grounding_answers_keep_the_region_tags_and_vqa_answers_drop_them(adapter):
    tokenizer = adapter._tokenizer
    ids = tokenizer.encode("<ref>OPEN</ref><box>(1,2),(3,4)</box><|extra_3|><|endoftext|>")
    assert adapter._decode(ids, "<image><ref>OPEN</ref><box>") == "<ref>OPEN</ref><box>(1,2),(3,4)</box>"
    assert adapter._decode(ids, "<image>What is it? Answer:") == "OPEN(1,2),(3,4)"


def test_folders_of_other_models_are_refused_before_loading(tmp_path):
    textmonkey = tmp_path / "textmonkey"
    shutil.copytree(MONKEY, textmonkey)
    config = json.loads((textmonkey / "config.json").read_text())
    config["architectures"] = ["TextMonkeyLMHeadModel"]
    config["visual"]["add_window"] = True
    (textmonkey / "config.json").write_text(json.dumps(config))
    with pytest.raises(QwenVLConfigError, match="TextMonkey"):
        ADAPTERS.get("monkey").from_args({"model": str(textmonkey)})
    config["architectures"], config["model_type"] = ["LlamaForCausalLM"], "llama"
    (textmonkey / "config.json").write_text(json.dumps(config))
    with pytest.raises(QwenVLConfigError, match="model_type 'llama'"):
        ADAPTERS.get("monkey").from_args({"model": str(textmonkey)})


def test_a_tokenizer_file_of_other_weights_is_refused_at_load(tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(MONKEY, folder)
    lines = (folder / "qwen.tiktoken").read_bytes().splitlines()
    (folder / "qwen.tiktoken").write_bytes(b"\n".join(lines[:1500]) + b"\n")
    adapter = ADAPTERS.get("monkey").from_args({"model": str(folder), "device": "cpu"})
    with pytest.raises(ValueError, match="does not belong to these weights"):
        adapter.load()


@pytest.mark.parametrize("profile", ["monkey", "textmonkey"])
def test_every_question_answering_task_has_a_monkey_profile(profile):
    """So that no task falls back to a prompt Monkey or TextMonkey was never trained on."""
    from bench.task import TASKS
    from bench.types import RequestKind

    answering = [(name, task) for name, task in TASKS.items() if task.kind == RequestKind.ANSWER]
    assert answering
    for name, task in answering:
        profiles = getattr(task, "profiles", None)
        if profiles:
            assert profile in profiles, name
