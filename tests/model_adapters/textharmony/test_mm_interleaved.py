"""MM-Interleaved through the TextHarmony code: its release key layout, checkpoints in either ViT
layout, and every request kind of ``mm-interleaved-tiny`` through ``thbench run``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from bench.adapter import ADAPTERS
from bench.options import OptionError
from bench.types import RequestKind
from model_adapters.textharmony import build_model, load_model

#: Key and shape of every tensor of the official MMInterleaved module tree, built from the
#: official code at the release configuration (``mm_inference.yaml``) on the meta device, with
#: the Q-Former's qk-norm patch applied as its inference and evaluation scripts do.
MMI_KEYS = Path(__file__).parent / "data" / "mm_interleaved_keys.tsv"


def official_layout() -> list[tuple[str, str]]:
    return [tuple(line.split("\t")) for line in MMI_KEYS.read_text().splitlines()]


def pattern(key: str) -> str:
    return re.sub(r"\.\d+\.", ".N.", re.sub(r"\.\d+\.", ".N.", key))


@pytest.fixture(scope="module")
def tiny_mmi():
    return build_model("mm-interleaved-tiny", device="cpu", seed=0)


def test_release_build_matches_official_key_list():
    state = build_model("mm-interleaved", device="meta").state_dict()
    assert [(k, str(list(v.shape))) for k, v in state.items()] == official_layout()
    assert len(state) == 2659
    assert sum(v.numel() for v in state.values()) == 14_912_865_824
    assert not any("lora" in k or "base_model" in k for k in state)


def test_tiny_build_has_the_release_naming(tiny_mmi):
    assert {pattern(k) for k in tiny_mmi.state_dict()} == {pattern(k) for k, _ in official_layout()}
    assert tiny_mmi.config.slide_lora is None and tiny_mmi.config.num_image_tokens == 4


@pytest.mark.parametrize("layout", ["plain", "peft"])
def test_checkpoints_of_either_vit_layout_load(tiny_mmi, tmp_path, layout):
    state = tiny_mmi.state_dict()
    if layout == "peft":
        state = {k.replace("visual_tokenizer.encoder.", "visual_tokenizer.encoder.base_model.model."): v for k, v in state.items()}
    torch.save(state, tmp_path / "pytorch_model.bin")
    model, report = load_model(tmp_path / "pytorch_model.bin", "mm-interleaved-tiny")
    assert report.complete and report.loaded == len(state)
    loaded = model.state_dict()
    assert list(loaded) == list(tiny_mmi.state_dict())
    assert all(torch.equal(loaded[k], v) for k, v in tiny_mmi.state_dict().items())


def test_adapters_are_registered_without_a_gate():
    for name in ("mm-interleaved", "mm-interleaved-tiny"):
        cls = ADAPTERS.get(name)
        assert cls.supported_kinds == {RequestKind.ANSWER, RequestKind.GENERATE_IMAGE, RequestKind.EDIT_IMAGE}
        with pytest.raises(OptionError, match="no option 'gate'"):
            cls.from_args({"gate": "text"})
    with pytest.raises(ValueError, match="mm-interleaved needs checkpoint=PATH"):
        ADAPTERS.get("mm-interleaved").from_args({}).load()


def test_every_request_kind_through_the_command_line(run_cli):
    tasks = "starter-textvqa,starter-t2i,starter-edit"
    result = run_cli("mm-interleaved-tiny", "steps=2", tasks, "--limit", "2",
                     "--task-args", "starter-t2i:num_images=1", "--task-args", "starter-edit:num_images=1")
    assert result.code == 0
    for task in tasks.split(","):
        records = result.predictions(task)
        assert len(records) == 2 and all(r["error"] is None for r in records), task
    assert all(len(images) == 1 and images[0] for images in result.image_bytes("starter-t2i").values())
    assert all(len(images) == 1 and images[0] for images in result.image_bytes("starter-edit").values())
    runtime = result.manifest()["adapter"]["runtime"]
    assert runtime["config"] == "mm-interleaved-tiny"
    assert runtime["slide_lora_gate"] == {"kind": "fixed", "weights": []}
    assert "gate" not in result.manifest()["adapter"]["options"]
