"""How many failed samples a run may have and still count as a success.

A failed sample is scored as a miss, so a run with failures has a number, but a number that says
less than it seems: a regression check that exits 0 on a mostly broken run passes for the wrong
reason. By default any failure makes the command exit ``FAILED_SAMPLES_EXIT_CODE``;
``--max-errors`` allows a count or a fraction of each task's samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

#: Exit status of a run or ``score`` whose failed samples exceed the allowance.
FAILED_SAMPLES_EXIT_CODE = 3


@dataclass(frozen=True)
class ErrorBudget:
    """At most ``count`` failed samples per task, or at most ``fraction`` of its samples."""

    count: int | None = 0
    fraction: float | None = None

    @classmethod
    def parse(cls, text: str) -> "ErrorBudget":
        """``K`` (a count) or ``P%`` (a percentage of each task's samples)."""
        value = text.strip()
        try:
            if value.endswith("%"):
                fraction = float(value[:-1]) / 100.0
                if not 0.0 <= fraction <= 1.0:
                    raise ValueError
                return cls(count=None, fraction=fraction)
            count = int(value)
            if count < 0:
                raise ValueError
            return cls(count=count)
        except ValueError:
            raise ValueError(f"--max-errors expects a count (e.g. 5) or a percentage (e.g. 1%), got {text!r}") from None

    def allows(self, errors: int, samples: int) -> bool:
        if self.fraction is not None:
            return errors <= self.fraction * samples
        return errors <= (self.count or 0)

    def describe(self) -> str:
        if self.fraction is not None:
            return f"{self.fraction * 100:g}% of the samples"
        return f"{self.count} failed sample{'' if self.count == 1 else 's'}"


@dataclass(frozen=True)
class FailureExample:
    """The first failed sample of one kind of failure (stage + exception type)."""

    sample_id: str
    stage: str
    type: str
    message: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.sample_id, "stage": self.stage, "type": self.type, "message": self.message, "count": self.count}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FailureExample":
        return cls(str(data.get("id", "")), str(data.get("stage", "")), str(data.get("type", "")),
                   str(data.get("message", "")), int(data.get("count", 1)))

    def line(self) -> str:
        message = self.message if len(self.message) <= 200 else self.message[:197] + "..."
        more = f" ({self.count} samples)" if self.count > 1 else ""
        return f"{self.stage} {self.type}{more}, first at sample {self.sample_id!r}: {message}"


def first_failures(failures: Sequence[tuple[str, str, str, str]]) -> list[FailureExample]:
    """One example per (stage, type) from (sample id, stage, type, message) in sample order,
    with how many samples failed that way."""
    first: dict[tuple[str, str], tuple[str, str]] = {}
    counts: dict[tuple[str, str], int] = {}
    for sample_id, stage, kind, message in failures:
        group = (stage, kind)
        first.setdefault(group, (sample_id, message))
        counts[group] = counts.get(group, 0) + 1
    return [FailureExample(first[g][0], g[0], g[1], first[g][1], counts[g]) for g in first]
