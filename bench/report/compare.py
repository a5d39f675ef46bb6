"""Regression check between two runs: paired differences with intervals and p-values.

Both runs answered the same samples (same keys), so every statistic is paired sample by sample,
which removes the between-sample variance that dominates unpaired intervals. The statistics are
``bench.stats.paired_statistics``; this module pairs the runs' samples and metrics for it.

* **Interval**: paired bootstrap. One set of resampling counts over the shared samples is applied
  to both runs; each resample gives both runs' metric means, derived metrics are recomputed from
  those means (``Task.derive``: AnyText's Sen.ACC = mean correct lines / mean lines, MARIO's F
  from mean P and R), and the 2.5 / 97.5 percentiles of new − base form the 95% interval.
* **p-value**: paired sign-flip permutation test, two-sided. Under the null hypothesis that
  base and new are exchangeable within each sample, swapping the two runs' scores on any subset
  of samples leaves the distribution of the statistic unchanged. Each permutation swaps every
  sample's pair with probability ½, recomputes (derived) metrics from the permuted means and
  records the difference; p = (1 + #{|permuted| ≥ |observed|}) / (1 + permutations). The +1
  makes it a valid (never zero) Monte-Carlo p-value; identical runs give p = 1.

A drop fails the check when it is significant (p < α) *and* larger than ``max_drop`` in the
metric's display units (points for percentages).
"""

from __future__ import annotations

import math

import logging
from dataclasses import dataclass, field
from typing import Literal, Mapping, NamedTuple, Sequence

import numpy as np

from bench.report.runs import RunSummary, instantiate_task, metric_specs, task_class
from bench.stats import DEFAULT_BOOTSTRAP_SEED, PAIRED_RESAMPLES, Derive, paired_statistics
from bench.store import PredictionRecord
from bench.task import MetricSpec

logger = logging.getLogger(__name__)

Gate = Literal["primary", "all"]


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    base: float
    new: float
    delta: float
    ci95: tuple[float, float]
    p_value: float
    percent: bool
    higher_is_better: bool
    derived: bool
    primary: bool

    @property
    def scale(self) -> float:
        return 100.0 if self.percent else 1.0

    @property
    def drop(self) -> float:
        """How much worse new is than base, in display units (negative: it improved)."""
        return (-self.delta if self.higher_is_better else self.delta) * self.scale

    def significant(self, alpha: float) -> bool:
        return bool(np.isfinite(self.p_value) and self.p_value < alpha)


class HeadlineChange(NamedTuple):
    """One shared sample's headline score in both runs."""

    sample_id: str
    key: str
    base: float
    new: float

    @property
    def changed(self) -> bool:
        """A different value, or a value on one side only (a ratio with nothing to count)."""
        if math.isfinite(self.base) and math.isfinite(self.new):
            return self.base != self.new
        return math.isfinite(self.base) != math.isfinite(self.new)

    def gain(self, higher_is_better: bool) -> float:
        """How much better the new run did; a change to or from no value sorts first."""
        if not (math.isfinite(self.base) and math.isfinite(self.new)):
            return -math.inf
        return self.new - self.base if higher_is_better else self.base - self.new


@dataclass(frozen=True)
class TaskComparison:
    task: str
    shared: int
    only_base: tuple[str, ...]
    only_new: tuple[str, ...]
    errors_base: int
    errors_new: int
    metrics: tuple[MetricComparison, ...]
    notes: tuple[str, ...] = ()
    #: Per shared sample, its headline score in both runs.
    changes: tuple[HeadlineChange, ...] = ()


@dataclass(frozen=True)
class Comparison:
    base: RunSummary
    new: RunSummary
    tasks: tuple[TaskComparison, ...]
    alpha: float
    max_drop: float
    gate: Gate
    resamples: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    def gated(self, task: TaskComparison) -> list[MetricComparison]:
        """The metrics whose drop fails the check; when a task's headline could not be tested
        (a derived metric without its plugin), every metric of that task is gated instead."""
        if self.gate == "all" or not any(m.primary for m in task.metrics):
            return list(task.metrics)
        return [m for m in task.metrics if m.primary]

    def untested(self) -> list[str]:
        """Tasks that were not compared at all (no shared sample, no per-sample score)."""
        return [task.task for task in self.tasks if task.shared == 0 or not task.metrics]

    def regressions(self) -> list[tuple[str, MetricComparison]]:
        return [
            (task.task, metric)
            for task in self.tasks
            for metric in self.gated(task)
            if metric.significant(self.alpha) and metric.drop > self.max_drop
        ]

    def verdict(self, metric: MetricComparison, gated: bool) -> str:
        if not metric.significant(self.alpha):
            return ""
        if metric.drop <= 0:
            return "significant gain"
        if not gated:
            return "significant drop (not gated)"
        return "REGRESSION" if metric.drop > self.max_drop else "significant drop (within allowed)"


def compare_runs(
    base: RunSummary,
    new: RunSummary,
    alpha: float = 0.05,
    max_drop: float = 0.0,
    gate: Gate = "primary",
    resamples: int = PAIRED_RESAMPLES,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
) -> Comparison:
    notes = []
    pairs = matching_labels(base, new)
    paired_base, paired_new = {b for b, _ in pairs}, {n for _, n in pairs}
    for task in sorted(set(base.tasks) - paired_base):
        notes.append(f"task {task} is only in the base run; not compared")
    for task in sorted(set(new.tasks) - paired_new):
        notes.append(f"task {task} is only in the new run; not compared")
    if base.adapter_fingerprint == new.adapter_fingerprint and base.manifest.get("seed") == new.manifest.get("seed"):
        notes.append("both runs have the same model fingerprint and seed")
    tasks = tuple(
        compare_task(base, new, base_label, resamples=resamples, seed=seed, new_task=new_label)
        for base_label, new_label in pairs
    )
    return Comparison(base, new, tasks, alpha, max_drop, gate, resamples, tuple(notes))


def matching_labels(base: RunSummary, new: RunSummary) -> list[tuple[str, str]]:
    """(base label, new label) of the task configurations to compare: first those with the same
    configuration id (labels depend on what else a folder holds, so one configuration can carry
    two labels), then the remaining ones with the same label (whose differences, such as
    another dataset, the comparison's notes flag)."""
    new_by_id = {entry.get("configuration", {}).get("id"): label for label, entry in new.tasks.items()}
    new_by_id.pop(None, None)
    pairs: dict[str, str] = {}
    for label, entry in base.tasks.items():
        config_id = entry.get("configuration", {}).get("id")
        if config_id in new_by_id:
            pairs[label] = new_by_id[config_id]
    taken = set(pairs.values())
    for label in base.tasks:
        if label not in pairs and label in new.tasks and label not in taken:
            pairs[label] = label
    return sorted(pairs.items())


def compare_task(base: RunSummary, new: RunSummary, task: str, resamples: int = PAIRED_RESAMPLES,
                 seed: int = DEFAULT_BOOTSTRAP_SEED, new_task: str | None = None) -> TaskComparison:
    """``task`` is the base run's label; ``new_task`` the new run's label of the same
    configuration where the two runs label it differently (default: the same)."""
    new_task = new_task or task
    base_records, new_records = base.predictions(task), new.predictions(new_task)
    shared = [key for key in base_records if key in new_records]
    only_base = tuple(sorted(base_records[k].id for k in base_records if k not in new_records))
    only_new = tuple(sorted(new_records[k].id for k in new_records if k not in base_records))
    notes = list(_configuration_notes(base, new, task, new_task))

    specs, derived_specs = metric_specs(new, new_task)
    present = {name for record in [*base_records.values(), *new_records.values()] for name in record.scores}
    per_sample = [spec for spec in specs if spec.name in present]
    derive = _derive_function(new, new_task, derived_specs)
    # Without the task's derive(), the per-sample sums behind its ratios are all there is to
    # compare, so hidden per-sample metrics are shown too.
    plugin = task_class(new.task_name(new_task))
    fallback = plugin is None or (bool(derived_specs) and derive is None)
    if derived_specs and derive is None:
        notes.append(
            f"derived metrics ({', '.join(s.name for s in derived_specs)}) not tested: the task could not be "
            "instantiated from the manifest; per-sample metrics only"
        )
        derived_specs = []
    if plugin is None:
        missing = sorted(set(new.summary(new_task).metrics) - {spec.name for spec in per_sample})
        if missing:
            notes.append(
                f"{', '.join(missing)}: the {task!r} task plugin is not installed, so these cannot be recomputed "
                "from per-sample scores; per-sample metrics only"
            )

    primary = new.summary(new_task).primary or base.summary(task).primary
    errors_base = sum(base_records[k].error is not None for k in shared)
    errors_new = sum(new_records[k].error is not None for k in shared)
    if not shared or not per_sample:
        notes.append("no shared samples to compare" if not shared else "no per-sample scores to compare")
        return TaskComparison(task, len(shared), only_base, only_new, errors_base, errors_new, (), tuple(notes))

    base_values = _score_matrix([base_records[k] for k in shared], per_sample)
    new_values = _score_matrix([new_records[k] for k in shared], per_sample)
    names = [spec.name for spec in per_sample]
    try:
        statistics = paired_statistics(base_values, new_values, names, derive, resamples, seed)
    except KeyError as error:
        notes.append(f"derived metrics not tested: they need the per-sample metric {error}, which the runs lack")
        derive, derived_specs, fallback = None, [], True
        statistics = paired_statistics(base_values, new_values, names, None, resamples, seed)
    metrics = []
    for spec, derived in [*((s, False) for s in per_sample), *((s, True) for s in derived_specs)]:
        if not (spec.shown or fallback) or spec.name not in statistics:
            continue
        result = statistics[spec.name]
        metrics.append(
            MetricComparison(
                metric=spec.name, base=result.base, new=result.new, delta=result.delta, ci95=result.ci95,
                p_value=result.p_value, percent=spec.percent, higher_is_better=spec.higher_is_better,
                derived=derived, primary=spec.name == primary,
            )
        )
    changes = _headline_changes(base_records, new_records, shared, primary, derive, names)
    return TaskComparison(task, len(shared), only_base, only_new, errors_base, errors_new, tuple(metrics),
                          tuple(notes), changes)


def _score_matrix(records: Sequence[PredictionRecord], specs: Sequence[MetricSpec]) -> np.ndarray:
    return np.array(
        [[float(record.scores.get(spec.name, spec.miss_value)) for spec in specs] for record in records],
        dtype=np.float64,
    )


def _derive_function(run: RunSummary, task: str, derived_specs: Sequence[MetricSpec]) -> Derive | None:
    if not derived_specs:
        return None
    instance = instantiate_task(run, task)
    return None if instance is None else instance.derive


def sample_headline(record: PredictionRecord, metric: str | None, derive: Derive | None, names: Sequence[str]) -> float:
    """One sample's headline score; a derived headline is derived from that sample alone
    (e.g. its own correct lines / lines)."""
    if metric is None:
        return float("nan")
    if metric in record.scores:
        return float(record.scores[metric])
    if derive is None or not all(name in record.scores for name in names):
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        values = derive({name: np.array([float(record.scores[name])]) for name in names})
    return float(values[metric][0]) if metric in values else float("nan")


def _headline_changes(base_records, new_records, shared, primary, derive, names) -> tuple[HeadlineChange, ...]:
    return tuple(
        HeadlineChange(base_records[k].id, k, sample_headline(base_records[k], primary, derive, names),
                       sample_headline(new_records[k], primary, derive, names))
        for k in shared
    )


def _configuration_notes(base: RunSummary, new: RunSummary, task: str, new_task: str) -> list[str]:
    notes = []
    base_data, new_data = base.dataset_fingerprint(task), new.dataset_fingerprint(new_task)
    if base_data and new_data and base_data != new_data:
        notes.append(f"DATASET DIFFERS: fingerprint {base_data} (base) vs {new_data} (new); shared keys may hold different data")
    base_config = _without_location(base.task_manifest(task).get("config", {}).get("options", {}))
    new_config = _without_location(new.task_manifest(new_task).get("config", {}).get("options", {}))
    if base_config != new_config:
        notes.append(f"task options differ: {base_config} (base) vs {new_config} (new)")
    base_scoring, new_scoring = base.task_manifest(task).get("scoring"), new.task_manifest(new_task).get("scoring")
    if base_scoring and new_scoring and base_scoring != new_scoring:
        notes.append("scoring differs (e.g. OCR engine or answer extraction): differences may come from the scorer")
    return notes


def _without_location(options: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in options.items() if k != "data_dir"}
