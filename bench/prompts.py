"""Prompt profiles: how a task phrases a request for a given model and reads its answer.

Prompt differences are the first cause of numbers that do not reproduce, so each paper's own
template and post-processing is a named profile, and the profile used is written into the run
manifest beside the raw and the parsed answer of every sample.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class AnswerExtraction:
    """Turns a raw generation into the answer string that the metric sees."""

    #: Leading phrases removed (case-insensitive), e.g. "The answer is".
    strip_prefixes: tuple[str, ...] = ()
    first_line_only: bool = True
    strip_trailing_period: bool = True

    def __call__(self, raw: str) -> str:
        text = raw.strip()
        if self.first_line_only:
            text = text.split("\n", 1)[0].strip() if text else text
        for prefix in self.strip_prefixes:
            match = re.match(rf"\s*{re.escape(prefix)}\s*[:\-]?\s*", text, flags=re.IGNORECASE)
            if match:
                text = text[match.end():]
                break
        if self.strip_trailing_period and text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
        return text.strip()


@dataclass(frozen=True)
class PromptProfile:
    name: str
    #: ``{question}`` is replaced by the question; ``<image>`` marks the image position.
    template: str
    extraction: AnswerExtraction = field(default_factory=AnswerExtraction)
    max_new_tokens: int = 32
    #: Free-form settings a task reads (e.g. the coordinate frame of box answers).
    settings: tuple[tuple[str, Any], ...] = ()

    def format(self, question: str) -> str:
        return self.template.replace("{question}", question)

    def setting(self, key: str, default: Any = None) -> Any:
        return dict(self.settings).get(key, default)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def choose_profile(profiles: dict[str, PromptProfile], requested: str | None, adapter_default: str, task: str) -> PromptProfile:
    """An explicit request must exist; the adapter's preference falls back to ``default``."""
    if requested is not None:
        if requested not in profiles:
            raise ValueError(
                f"task {task!r} has no prompt profile {requested!r}; it has: {', '.join(sorted(profiles))}"
            )
        return profiles[requested]
    return profiles.get(adapter_default, profiles["default"])
