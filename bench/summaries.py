"""The per-task summary that ``scores.json`` holds, as types: what the runner and ``score``
write and what the CLI and every report read.

``scores.json`` stays plain JSON (other tools read it, and a newer thbench may add fields);
these classes are its one reader and writer, so the rules for reading it live here once: a
percent metric is shown ×100, a missing interval is NaN, unknown fields survive a round trip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from bench.error_budget import FailureExample


@dataclass(frozen=True)
class MetricEntry:
    value: float
    ci95: tuple[float, float] = (math.nan, math.nan)
    #: Shown ×100 in tables, as papers do for accuracies.
    percent: bool = True
    higher_is_better: bool = True
    description: str = ""
    #: Intermediate sums that only feed derived metrics stay out of tables.
    shown: bool = True

    @property
    def scale(self) -> float:
        return 100.0 if self.percent else 1.0

    @property
    def display_value(self) -> float:
        return self.value * self.scale

    @property
    def display_interval(self) -> tuple[float, float]:
        return self.ci95[0] * self.scale, self.ci95[1] * self.scale

    def formatted(self, digits: int = 1) -> str:
        """``72.3`` for percentages, two more digits for raw values (IoU, FID)."""
        places = digits if self.percent else digits + 2
        return f"{self.display_value:.{places}f}"

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "ci95": list(self.ci95), "percent": self.percent,
                "higher_is_better": self.higher_is_better, "description": self.description, "shown": self.shown}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "MetricEntry":
        interval = data.get("ci95") or (math.nan, math.nan)
        return cls(float(data["value"]), (float(interval[0]), float(interval[1])), bool(data.get("percent", True)),
                   bool(data.get("higher_is_better", True)), str(data.get("description", "")), bool(data.get("shown", True)))


@dataclass(frozen=True)
class SetMetric:
    """A set-level number (FID, CLIPScore) or the reason it was not computed."""

    value: float | None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> "SetMetric":
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return cls(float(data))
        if not isinstance(data, Mapping):
            return cls(None, "not recorded")
        value = data.get("value")
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        details = {k: v for k, v in data.items() if k not in ("value", "reason")}
        return cls(number, str(data.get("reason") or ""), details)


@dataclass(frozen=True)
class TaskSummary:
    n: int
    errors: int
    primary: str | None
    metrics: dict[str, MetricEntry]
    first_errors: tuple[FailureExample, ...] = ()
    refused: int = 0
    samples_total: int | None = None
    set_metrics: dict[str, SetMetric] = field(default_factory=dict)
    #: Every other field of the stored summary (configuration, limit, ...), kept as read.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> MetricEntry | None:
        return self.metrics.get(self.primary) if self.primary else None

    def shown_metrics(self) -> dict[str, MetricEntry]:
        return {name: entry for name, entry in self.metrics.items() if entry.shown}

    @property
    def total(self) -> int:
        """Samples of the whole task (more than ``n`` under ``--limit``)."""
        return self.samples_total if self.samples_total is not None else self.n

    def to_json(self) -> dict[str, Any]:
        data = dict(self.extra)
        data.update(n=self.n, errors=self.errors, first_errors=[e.to_json() for e in self.first_errors],
                    refused=self.refused, primary=self.primary, metrics={k: v.to_json() for k, v in self.metrics.items()})
        if self.samples_total is not None:
            data["samples_total"] = self.samples_total
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TaskSummary":
        known = {"n", "errors", "first_errors", "refused", "primary", "metrics", "samples_total", "set_metrics"}
        total = data.get("samples_total")
        return cls(
            n=int(data.get("n") or 0),
            errors=int(data.get("errors") or 0),
            primary=data.get("primary"),
            metrics={name: MetricEntry.from_json(entry) for name, entry in (data.get("metrics") or {}).items()},
            first_errors=tuple(FailureExample.from_json(e) for e in data.get("first_errors") or ()),
            refused=int(data.get("refused") or 0),
            samples_total=None if total is None else int(total),
            set_metrics={name: SetMetric.from_json(entry) for name, entry in (data.get("set_metrics") or {}).items()},
            extra={k: v for k, v in data.items() if k not in known},
        )
