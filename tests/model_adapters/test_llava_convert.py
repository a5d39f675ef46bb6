"""``thbench convert llava`` against the released LLaVA code: tiny checkpoints in the repository's
layout (``llava/``, made by ``llava/make_fixture.py``) converted, then run by ``hf-vlm`` and
compared with what the repository's own inference path answered."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from bench.adapter import ADAPTERS
from bench.cli import main
from bench.types import AnswerRequest

pytestmark = pytest.mark.usefixtures("single_torch_thread")

FIXTURES = Path(__file__).parent / "llava"
#: The TextVQA question each reference prompt was built from, as a task's profile writes it.
QUESTIONS = {
    "llava15": "What is written on the sign?\nAnswer the question using a single word or phrase.",
    "tgdoc": "What is written on the sign? Support your reasoning with the coordinates [xmin, ymin, xmax, ymax]",
}
#: The TGDoc checkpoint's config names TGDoc, which chooses the preset by itself.
PRESETS = {"llava15": ["--preset", "llava"], "tgdoc": []}


def convert(case: str, dst: Path, *extra: str, checkpoint: Path | None = None) -> int:
    source = checkpoint or FIXTURES / case / "checkpoint"
    return main(["convert", "llava", str(source), str(dst), "--vision-tower", str(FIXTURES / case / "clip"),
                 *PRESETS[case], *extra])


@pytest.fixture(scope="module", params=sorted(PRESETS))
def converted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    dst = tmp_path_factory.mktemp("converted") / request.param
    assert convert(request.param, dst) == 0
    return request.param, dst


def test_hf_vlm_reproduces_the_released_code(converted):
    case, folder = converted
    reference = json.loads((FIXTURES / case / "reference.json").read_text())
    adapter = ADAPTERS.get("hf-vlm").from_args({"model": str(folder), "device": "cpu", "dtype": "float32"})
    adapter.load()
    image = Image.open(FIXTURES / "image.png").convert("RGB")
    request = AnswerRequest(key="k", prompt="<image>\n" + QUESTIONS[case], images=(image,),
                            max_new_tokens=len(reference["greedy_tokens"]))
    processor, model = adapter._processor, adapter._model
    inputs = processor(text=[adapter._model_text(request)], images=[[image]], return_tensors="pt")

    # The same ids as the repository's tokenizer_image_token, with the image's features in place of -200.
    image_id, length = model.config.image_token_index, model.config.image_seq_length
    expected_ids = [i for token in reference["input_ids"] for i in ([image_id] * length if token == -200 else [token])]
    assert inputs["input_ids"][0].tolist() == expected_ids
    torch.testing.assert_close(inputs["pixel_values"][0], torch.tensor(reference["pixel_values"]), rtol=0, atol=1e-6)

    released = torch.tensor(reference["first_step_logits"])
    with torch.inference_mode():
        logits = model(**inputs).logits[0, -1, : released.numel()]
    assert (logits - released).abs().max() <= 3e-6 * released.abs().max()

    with torch.inference_mode():
        output = model.generate(**inputs, generation_config=adapter._greedy(len(reference["greedy_tokens"])))
    assert output[0, inputs["input_ids"].shape[1]:].tolist() == reference["greedy_tokens"]
    assert adapter.answer([request]) == [processor.tokenizer.decode(reference["greedy_tokens"], skip_special_tokens=True).strip()]


def test_the_folder_holds_what_transformers_loads_without_gaps(converted):
    from transformers import AutoModelForImageTextToText

    case, folder = converted
    _, info = AutoModelForImageTextToText.from_pretrained(folder, output_loading_info=True)
    assert not any(info.values()), info
    config = json.loads((folder / "config.json").read_text())
    assert config["projector_hidden_act"] == {"llava15": "gelu", "tgdoc": "linear"}[case]
    preprocessor = json.loads((folder / "processor_config.json").read_text())["image_processor"]
    assert preprocessor["do_pad"] is (case == "llava15")
    generation = json.loads((folder / "generation_config.json").read_text())
    assert generation["suppress_tokens"] == [config["image_token_index"]]
    template = (folder / "chat_template.jinja").read_text()
    assert ("curious user" in template) is (case == "tgdoc") and ("<img><image></img>" in template) is (case == "tgdoc")


def test_the_tower_a_checkpoint_carries_replaces_the_clip_folders(converted):
    from safetensors import safe_open

    case, folder = converted
    name = "vision_model.embeddings.patch_embedding.weight"
    carried = torch.load(FIXTURES / case / "checkpoint" / "pytorch_model.bin", weights_only=True).get(f"model.vision_tower.vision_tower.{name}")
    clip = torch.load(FIXTURES / case / "clip" / "pytorch_model.bin", weights_only=True)[name]
    with safe_open(str(folder / "model.safetensors"), framework="pt") as weights:
        written = weights.get_tensor(f"vision_tower.{name}")
    assert torch.equal(written, clip if carried is None else carried) and (carried is None) is (case == "llava15")


def test_cli_converts_then_runs_a_starter_task(run_cli, tmp_path):
    dst = tmp_path / "tgdoc-hf"
    assert convert("tgdoc", dst) == 0
    result = run_cli("hf-vlm", f"model={dst},device=cpu,max_new_tokens=4", "starter-textvqa", "--limit", "2")
    assert result.code == 0
    records = result.predictions("starter-textvqa")
    assert len(records) == 2 and all(record["error"] is None for record in records)


def test_a_failed_conversion_leaves_no_output(tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(FIXTURES / "llava15" / "checkpoint", broken)
    weights = torch.load(broken / "pytorch_model.bin", weights_only=True)
    del weights["lm_head.weight"]
    torch.save(weights, broken / "pytorch_model.bin")
    dst = tmp_path / "out"
    with pytest.raises(SystemExit) as stopped:
        convert("llava15", dst, checkpoint=broken)
    assert stopped.value.code == 2 and "missing ['language_model.lm_head.weight']" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken"]


def test_unsupported_sources_and_used_folders_are_refused(tmp_path, capsys):
    anyres = tmp_path / "anyres"
    shutil.copytree(FIXTURES / "llava15" / "checkpoint", anyres)
    config = json.loads((anyres / "config.json").read_text())
    (anyres / "config.json").write_text(json.dumps({**config, "image_aspect_ratio": "anyres"}))
    with pytest.raises(SystemExit):
        convert("llava15", tmp_path / "out", checkpoint=anyres)
    assert "LLaVA-NeXT" in capsys.readouterr().err and not (tmp_path / "out").exists()
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("x")
    with pytest.raises(SystemExit):
        convert("llava15", used)
    assert "is not an empty folder" in capsys.readouterr().err and [p.name for p in used.iterdir()] == ["keep.txt"]
