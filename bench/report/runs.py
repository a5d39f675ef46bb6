"""Finished runs as reports see them: scores, manifest, predictions and the tasks behind them.

Reports only read: predictions are read without repairing a torn last line, since a report
opened on a run that is still writing must never cut a line the runner is about to finish.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from bench.adapter import ADAPTERS
from bench.context import TaskContext
from bench.records import UNSCORED
from bench.registry import UnknownNameError
from bench.store import CorruptStoreError, PredictionRecord, RunStore, StoreFormatError
from bench.summaries import TaskSummary
from bench.task import TASKS, MetricSpec, Task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    model: str
    adapter_fingerprint: str
    scores: dict[str, Any]
    manifest: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.model} ({self.run_dir.name})"

    @property
    def adapter_options(self) -> dict[str, Any]:
        return dict(self.manifest.get("adapter", {}).get("options", {}))

    @property
    def checkpoint_option(self) -> str | None:
        """The option the run's adapter declares as naming its weights (``None`` without one,
        or when the adapter's plugin is not installed here)."""
        try:
            return ADAPTERS.get(self.model).checkpoint_option
        except UnknownNameError:
            return None

    @property
    def checkpoint(self) -> str | None:
        """The checkpoint option as given (a path or a hub name), if the adapter declares one."""
        value = self.adapter_options.get(self.checkpoint_option) if self.checkpoint_option else None
        return str(value) if value else None

    @property
    def tasks(self) -> dict[str, Any]:
        """Summaries by label: the task name, or the task name with what sets a configuration
        apart when the folder holds several configurations of one task."""
        return self.scores.get("tasks", {})

    def summary(self, label: str) -> TaskSummary:
        """The typed summary of one task configuration (empty when the run has none)."""
        return TaskSummary.from_json(self.tasks.get(label, {}))

    def task_name(self, label: str) -> str:
        """The task plugin behind a label."""
        return str(self.tasks.get(label, {}).get("configuration", {}).get("task") or label)

    def task_manifest(self, label: str) -> dict[str, Any]:
        """What ran for this label: kind, task config, dataset fingerprint, scoring, data root."""
        configuration = self.tasks.get(label, {}).get("configuration")
        if configuration:
            return configuration
        return self.manifest.get("tasks", {}).get(label, {})

    def data_root(self, label: str) -> str | None:
        return self.task_manifest(label).get("data_root") or self.manifest.get("data_root")

    def dataset_fingerprint(self, label: str) -> str | None:
        return self.task_manifest(label).get("dataset_fingerprint")

    def predictions(self, label: str) -> dict[str, PredictionRecord]:
        """The records this label was scored from (per sample key); for folders written before
        selections, the newest record of each key. A sample whose newest record still waits for
        its scores (the run that recomputed it was interrupted) is left out, not shown as a miss."""
        store = RunStore(self.run_dir)
        task = self.task_name(label)
        records = store.read_records(task)
        config_id = self.task_manifest(label).get("id")
        selection = store.read_selection(task, config_id) if config_id else None
        chosen = records.latest_by_key() if selection is None else records.select(selection)
        return {key: record for key, record in chosen.items() if record.scoring_fingerprint != UNSCORED}


def find_runs(paths: Sequence[Path]) -> list[Path]:
    """Run folders among ``paths``: each path is a run, or a folder holding runs."""
    found: list[Path] = []
    for path in paths:
        if (path / "scores.json").is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.glob("*/scores.json")))
        elif not path.exists():
            raise FileNotFoundError(f"{path} does not exist; give a run folder (results/runs/<run>) or a folder of runs")
    return found


def load_run(run_dir: Path) -> RunSummary:
    store = RunStore(run_dir)
    scores = store.read_scores()
    if not scores:
        raise FileNotFoundError(f"{run_dir} has no scores.json; is it a thbench run folder? `thbench run` makes one")
    manifest = store.read_manifest()
    return RunSummary(Path(run_dir), scores.get("model", "?"), scores.get("adapter_fingerprint", ""), scores, manifest)


def load_runs(paths: Sequence[Path], allow_none: bool = False) -> list[RunSummary]:
    """The runs under ``paths``; a folder whose files cannot be read is skipped with a warning
    naming the file, so that one broken run does not hide the others (unless it is the only one)."""
    folders = find_runs(paths)
    if not folders and not allow_none:
        raise FileNotFoundError(f"no runs found in {', '.join(map(str, paths))}; `thbench run` makes one")
    runs: list[RunSummary] = []
    for folder in folders:
        try:
            runs.append(load_run(folder))
        except (CorruptStoreError, StoreFormatError) as error:
            if len(folders) == 1:
                raise
            logger.warning("skipped run %s: %s", folder, error)
    if folders and not runs:
        raise CorruptStoreError(f"none of the {len(folders)} runs in {', '.join(map(str, paths))} could be read (see the warnings above)")
    return runs


def task_class(name: str) -> type[Task] | None:
    try:
        return TASKS.get(name)
    except UnknownNameError:
        return None


def instantiate_task(run: RunSummary, name: str, data_root: Path | None = None) -> Task | None:
    """The task as the run configured it (options from the manifest), or ``None`` when its
    plugin is not installed or its options no longer fit; nothing is loaded from disk."""
    cls = task_class(run.task_name(name))
    if cls is None:
        return None
    options = run.task_manifest(name).get("config", {}).get("options", {})
    recorded = run.data_root(name)
    if data_root is None and recorded:
        data_root = Path(recorded)
    context = TaskContext(data_root=data_root) if data_root is not None else TaskContext()
    try:
        return cls.from_args(options, context)
    except (ValueError, TypeError) as error:
        logger.warning("task %s: the run's options do not fit the installed task (%s); using its defaults", name, error)
    try:
        return cls(context=context)
    except (ValueError, TypeError):
        return None


def metric_specs(run: RunSummary, task: str) -> tuple[list[MetricSpec], list[MetricSpec]]:
    """(per-sample, derived) metric specifications: from the installed task class when there is
    one, else rebuilt from what ``scores.json`` says (then nothing is known to be derived)."""
    cls = task_class(run.task_name(task))
    if cls is not None:
        return list(cls.metrics), list(cls.derived)
    specs = [
        MetricSpec(name, entry.description, higher_is_better=entry.higher_is_better, percent=entry.percent, shown=entry.shown)
        for name, entry in run.summary(task).metrics.items()
    ]
    return specs, []


_STEP_PATTERNS = (
    re.compile(r"(?:checkpoint|ckpt|step|global_step|iter|iteration)[-_=]?(\d+)", re.IGNORECASE),
    re.compile(r"(?<![A-Za-z0-9])(\d+(?:\.\d+)?)([kKmM])(?![A-Za-z0-9])"),
)


def checkpoint_step(text: str) -> int | None:
    """Training step named in a checkpoint path: ``checkpoint-12000``, ``step_12000``,
    ``ckpt12000``, ``global_step12000``, ``12k``, ``1.5M``. The last match wins, so that
    ``runs/step_1/checkpoint-500`` gives 500."""
    best: tuple[int, int] | None = None
    for pattern in _STEP_PATTERNS:
        for match in pattern.finditer(text):
            if pattern is _STEP_PATTERNS[0]:
                value = int(match.group(1))
            else:
                value = round(float(match.group(1)) * (1000 if match.group(2).lower() == "k" else 1_000_000))
            if best is None or match.end() > best[0]:
                best = (match.end(), value)
    return None if best is None else best[1]


def run_step(run: RunSummary, option: str | None = None) -> int | None:
    """The run's checkpoint step, parsed from ``option`` (or from the adapter's checkpoint
    option, then from any option)."""
    options = run.adapter_options
    declared = [run.checkpoint_option] if run.checkpoint_option else []
    names = [option] if option else [*declared, *sorted(options)]
    for name in names:
        value = options.get(name)
        if isinstance(value, str) and (step := checkpoint_step(value)) is not None:
            return step
    return None
