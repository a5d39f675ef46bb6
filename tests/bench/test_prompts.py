"""Prompt profiles: templates filled in as each paper's code does, answers extracted step by step."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Sequence

import pytest

from bench.adapter import ADAPTERS, ModelAdapter
from bench.context import TaskContext
from bench.prompts import (
    SENTENCE_ANSWER,
    STRIP_ONLY,
    AnswerExtraction,
    ProfileFallback,
    PromptProfile,
    choose_profile,
    profile_fallback,
)
from bench.runner import RunConfig, run
from bench.types import AnswerRequest, RequestKind
from tasks.grounding import GROUNDING_PROFILES
from tasks.textvqa import TextVqaTask
from tasks.vqa_base import vqa_profiles


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("The answer is: Coca Cola.", "Coca Cola"),
        ("answer - 42", "42"),
        ("  STOP\nbecause the sign says so", "STOP"),
        ("\n\nyes.\n", "yes"),
        # A prefix is a whole word: "Answers" is not "Answer" + "s".
        ("Answers vary", "Answers vary"),
        # An ellipsis is not a sentence end.
        ("wait..", "wait.."),
        ("", ""),
    ],
)
def test_sentence_answer_extraction(raw: str, expected: str) -> None:
    assert SENTENCE_ANSWER(raw) == expected


def test_strip_only_keeps_everything_but_surrounding_whitespace() -> None:
    assert STRIP_ONLY("  The answer is 12.\nmore ") == "The answer is 12.\nmore"


def test_drop_patterns_run_before_stripping() -> None:
    textmonkey = AnswerExtraction(drop_patterns=(r"<point>.*?</point>", r"<box>.*?</box>"))
    assert textmonkey(" <box>(1,2),(3,4)</box> STOP <point>(5,6)</point> ") == "STOP"


def test_textharmony_template_is_evaluate_py_text_with_image_spaces_removed() -> None:
    # evaluate.py formats "Based on the image, please answer the question. {image}{question} The
    # answer is:" and then deletes the space before <|beginofimage|> and after the last <|image|>.
    profile = TextVqaTask.profiles["textharmony"]
    assert profile.format("what brand is this?") == (
        "Based on the image, please answer the question.<image>what brand is this? The answer is:"
    )
    # Only one space on each side goes, as with str.replace of "<|image|> ".
    assert profile.format("  two spaces") == "Based on the image, please answer the question.<image> two spaces The answer is:"
    assert profile.max_new_tokens == 30 and profile.extraction == STRIP_ONLY


def test_monkey_templates_and_token_limits() -> None:
    assert TextVqaTask.profiles["monkey"].format("q?") == "<image>q? Answer:"
    assert TextVqaTask.profiles["monkey"].max_new_tokens == 10
    assert vqa_profiles()["monkey"].max_new_tokens == 100
    assert vqa_profiles()["textmonkey"].format("q?") == "<image> q? Answer:"


def test_extra_fields_are_filled_in() -> None:
    profile = GROUNDING_PROFILES["textmonkey"]
    assert profile.format('Where is "EXIT" in this image?', text="EXIT") == "<image> <ref>EXIT</ref>"
    refexp = GROUNDING_PROFILES["textharmony-refexp"]
    assert refexp.format("ignored", text="EXIT") == (
        "<image>Provide the bounding box coordinate of the region this sentence describes. EXIT<box>"
    )


def test_choose_profile() -> None:
    profiles = {"default": PromptProfile("default", "<image>{question}"), "x": PromptProfile("x", "{question}<image>")}
    assert choose_profile(profiles, None, "x", "t").name == "x"
    assert choose_profile(profiles, None, "unknown-model-profile", "t").name == "default"
    assert choose_profile(profiles, "default", "x", "t").name == "default"
    with pytest.raises(ValueError, match="no prompt profile 'nope'.*default, x"):
        choose_profile(profiles, "nope", "x", "t")


def test_every_profile_places_the_image_and_is_described() -> None:
    for profile in [*vqa_profiles().values(), *GROUNDING_PROFILES.values()]:
        assert profile.template.count("<image>") == 1, profile.name
        description = profile.describe()
        assert description["name"] == profile.name and description["source"]


def test_a_missing_model_profile_is_a_recorded_fallback_and_an_explicit_one_never_is() -> None:
    assert profile_fallback(GROUNDING_PROFILES, None, "docowl", "grounding") == ProfileFallback("grounding", "docowl")
    assert choose_profile(GROUNDING_PROFILES, None, "docowl", "grounding") is GROUNDING_PROFILES["default"]
    assert profile_fallback(GROUNDING_PROFILES, None, "textharmony", "grounding") is None
    assert profile_fallback(GROUNDING_PROFILES, "default", "docowl", "grounding") is None


@dataclass(frozen=True)
class _NoOptions:
    pass


class _ProfilelessAdapter(ModelAdapter):
    supported_kinds = frozenset({RequestKind.ANSWER})
    Options = _NoOptions
    prompt_profile = "no-task-has-this"

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        return ["STOP" for _ in requests]


ADAPTERS.add("test-profileless", _ProfilelessAdapter)


def test_the_runner_warns_once_and_records_a_fallback_in_the_manifest(starter_data, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="bench.runner"):
        outcome = run(RunConfig(
            model="test-profileless", tasks=["starter-textvqa", "starter-grounding"], limit=2,
            context=TaskContext(data_root=starter_data), run_dir=tmp_path / "run", progress=False,
        ))
    warnings = [r.getMessage() for r in caplog.records if "no prompt profile 'no-task-has-this'" in r.getMessage()]
    assert len(warnings) == 2 and "'starter-textvqa'" in warnings[0] and "'starter-grounding'" in warnings[1]
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    for task in ("starter-textvqa", "starter-grounding"):
        config = manifest["tasks"][task]["config"]
        assert config["prompt_profile_fallback"] == {"wanted": "no-task-has-this", "used": "default"}
        assert config["prompt_profile"]["name"] == "default"

