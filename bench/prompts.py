"""Prompt profiles: how a task phrases a request for a given model and reads its answer.

Prompt differences are the first cause of numbers that do not reproduce, so each paper's own
template and post-processing is a named profile, and the profile used is written into the run
manifest beside the raw and the parsed answer of every sample. Tasks hold their own profile
tables (the words differ per task); this module holds the machinery they share.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from bench.types import IMAGE_PLACEHOLDER


@dataclass(frozen=True)
class AnswerExtraction:
    """Turns a raw generation into the answer string that the official metric sees.

    The steps run in the order of the fields: drop patterns, strip, first line, prefixes,
    trailing period. Every step is off unless a profile asks for it, so a profile that
    reproduces an evaluator which only strips the decoded text (TextHarmony, Monkey) says
    exactly that and nothing more.
    """

    #: Regular expressions whose matches are deleted first (e.g. TextMonkey's ``<box>…</box>``).
    drop_patterns: tuple[str, ...] = ()
    #: Keep only the first non-empty line.
    first_line_only: bool = False
    #: Leading phrases removed (case-insensitive, whole words, with a following ":" or "-").
    strip_prefixes: tuple[str, ...] = ()
    strip_trailing_period: bool = False

    def __call__(self, raw: str) -> str:
        text = raw
        for pattern in self.drop_patterns:
            text = re.sub(pattern, "", text)
        text = text.strip()
        if self.first_line_only and text:
            text = text.split("\n", 1)[0].strip()
        for prefix in self.strip_prefixes:
            match = re.match(rf"{re.escape(prefix)}(?![A-Za-z0-9])\s*[:\-]?\s*", text, flags=re.IGNORECASE)
            if match:
                text = text[match.end():]
                break
        if self.strip_trailing_period and text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
        return text.strip()


#: The extraction of the generic profiles: a chat model's sentence cut down to its answer.
SENTENCE_ANSWER = AnswerExtraction(
    first_line_only=True, strip_prefixes=("The answer is", "Answer"), strip_trailing_period=True
)
#: What evaluators that score the decoded text as it is do: strip surrounding whitespace.
STRIP_ONLY = AnswerExtraction()


@dataclass(frozen=True)
class PromptProfile:
    name: str
    #: ``{question}`` (and any ``{field}`` a task passes) is filled in; ``<image>`` marks the
    #: image position, which adapters replace with their own image tokens or markup.
    template: str
    extraction: AnswerExtraction = field(default_factory=lambda: SENTENCE_ANSWER)
    max_new_tokens: int = 32
    #: Remove one space on each side of ``<image>`` after filling in, as TextHarmony's
    #: ``evaluate.py`` does around its image tokens (so "question. <image>" becomes
    #: "question.<image>").
    trim_image_spaces: bool = False
    #: Free-form settings a task reads (e.g. the coordinate frame of box answers).
    settings: tuple[tuple[str, Any], ...] = ()
    #: Where the template and post-processing come from, for the manifest.
    source: str = ""

    def format(self, question: str, **fields: str) -> str:
        text = self.template
        for key, value in fields.items():
            text = text.replace("{" + key + "}", value)
        text = text.replace("{question}", question)
        if self.trim_image_spaces:
            text = text.replace(IMAGE_PLACEHOLDER + " ", IMAGE_PLACEHOLDER)
            text = text.replace(" " + IMAGE_PLACEHOLDER, IMAGE_PLACEHOLDER)
        return text

    def setting(self, key: str, default: Any = None) -> Any:
        return dict(self.settings).get(key, default)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


#: The profile a task uses for a model it has no profile of.
DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class ProfileFallback:
    """A task lacks the prompt profile its model prefers and uses ``default`` instead: the
    numbers are then not the model's own protocol, which the run must say."""

    task: str
    wanted: str
    used: str = DEFAULT_PROFILE

    def message(self) -> str:
        return (
            f"task {self.task!r} has no prompt profile {self.wanted!r} (the model's); using {self.used!r}. "
            "Pass --prompt-profile to pick one on purpose"
        )

    def to_json(self) -> dict[str, str]:
        return {"wanted": self.wanted, "used": self.used}


def profile_fallback(
    profiles: Mapping[str, PromptProfile], requested: str | None, adapter_default: str, task: str
) -> ProfileFallback | None:
    """The fallback :func:`choose_profile` makes, if it makes one (never for an explicit request)."""
    if requested is not None or adapter_default in profiles:
        return None
    return ProfileFallback(task, adapter_default)


def choose_profile(
    profiles: Mapping[str, PromptProfile], requested: str | None, adapter_default: str, task: str
) -> PromptProfile:
    """An explicit request must exist; the adapter's preference falls back to ``default``
    (see :func:`profile_fallback`)."""
    if requested is not None:
        if requested not in profiles:
            raise ValueError(
                f"task {task!r} has no prompt profile {requested!r}; it has: {', '.join(sorted(profiles))}"
            )
        return profiles[requested]
    if profile_fallback(profiles, requested, adapter_default, task) is not None:
        return profiles[DEFAULT_PROFILE]
    return profiles[adapter_default]
