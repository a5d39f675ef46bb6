"""Base class for tasks: one per benchmark, blind to models.

A task knows its dataset format, its prompts and its metrics. It turns samples into requests
and responses into per-sample scores; the runner does everything in between.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Protocol, Sequence, TypeVar

import numpy as np

from bench.context import TaskContext
from bench.fingerprint import dataset_fingerprint, stable_hash
from bench.options import NoOptions, build_options, option_roles, options_as_dict
from bench.prompts import ProfileFallback, PromptProfile, choose_profile, profile_fallback
from bench.registry import Registry
from bench.types import Request, RequestKind, Response, ScoredSample


class Sample(Protocol):
    """Anything with a stable ``id`` within its dataset; tasks define their own fields."""

    @property
    def id(self) -> str: ...


@dataclass(frozen=True)
class MetricSpec:
    name: str
    description: str
    higher_is_better: bool = True
    #: The score of a sample whose request failed: a miss, never skipped, so that an adapter
    #: cannot look better by crashing on hard samples.
    miss_value: float = 0.0
    #: Shown ×100 in tables, as papers do for accuracies.
    percent: bool = True
    #: Intermediate sums that only feed derived metrics stay out of tables.
    shown: bool = True


#: Data warnings kept in the manifest beyond their count.
MAX_WARNINGS_SHOWN = 20


@dataclass(frozen=True)
class GalleryBox:
    """A box in pixels of the input image; ``role`` is ``reference`` or ``answer``."""

    box: tuple[float, float, float, float]
    role: str


class DatasetError(FileNotFoundError):
    """A dataset file is missing or not in the expected layout; the message says which file,
    which field, and what layout was expected."""


class Task(ABC):
    name: ClassVar[str]
    kind: ClassVar[RequestKind]
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    #: Folder under the data root that holds the benchmark when no ``data_dir`` option is given.
    default_folder: ClassVar[str | None] = None
    #: Per-sample metrics; the first one is the headline number.
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()
    #: Metrics computed from the means of per-sample metrics (e.g. an F-measure from mean
    #: precision and recall); their intervals come from the same bootstrap resamples.
    derived: ClassVar[tuple[MetricSpec, ...]] = ()
    #: The headline number; the first per-sample metric unless a task says otherwise.
    primary_metric: ClassVar[str | None] = None
    #: Options that change only how outputs are scored (not what is asked): changing one
    #: re-scores stored outputs instead of recomputing them. Declared on the option field
    #: (``option(..., role="scoring")``) or listed here; both are merged at class creation.
    scoring_options: ClassVar[tuple[str, ...]] = ()
    #: Options that say where the data lies or which part of it to read, never how a sample is
    #: asked: left out of sample keys, so a moved dataset or another subset selection keeps
    #: every stored prediction it shares with the earlier one. ``data_dir`` is one wherever a
    #: task has it.
    location_options: ClassVar[tuple[str, ...]] = ("data_dir",)
    #: Options that only change set-level metrics (FID, CLIPScore): changing one recomputes
    #: those and nothing per sample.
    set_metric_options: ClassVar[tuple[str, ...]] = ()
    #: Prompt profiles by name, for a task that phrases requests per model (``bench.prompts``).
    profiles: ClassVar[Mapping[str, PromptProfile]] = types.MappingProxyType({})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _merge_option_roles(cls)

    def __init__(self, options: Any = None, context: TaskContext | None = None) -> None:
        self.options = options if options is not None else self.Options()
        self.context = context if context is not None else TaskContext()
        #: What loading changed in the data (a box clipped to its image), for the manifest.
        self.data_warnings: list[str] = []

    @classmethod
    def from_args(cls, args: Mapping[str, Any], context: TaskContext) -> "Task":
        return cls(build_options(cls.Options, args, owner=f"task {cls.name!r}"), context)

    # -- dataset ---------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        """The ``data_dir`` option, else ``<data root>/<default_folder>``."""
        given = getattr(self.options, "data_dir", None)
        if given:
            return given
        if self.default_folder is None:
            raise TypeError(f"{type(self).__name__} has no default_folder: declare one or pass data_dir")
        return self.context.data_root / self.default_folder

    @abstractmethod
    def load_samples(self) -> Sequence[Sample]:
        """Read the dataset; raise DatasetError naming the file and layout when it is wrong.
        Decorate it with :func:`load_once` when other methods ask for the samples again."""

    @abstractmethod
    def dataset_files(self) -> tuple[Path, list[Path], list[Path]]:
        """(root, annotation files, media files) that make up the dataset, for its fingerprint."""

    def dataset_fingerprint(self) -> str:
        root, annotations, media = self.dataset_files()
        return dataset_fingerprint(annotations, media, root)

    # -- requests and scores ------------------------------------------------------------------
    @abstractmethod
    def build_request(self, sample: Sample, key: str) -> Request:
        """The request for one sample; ``key`` is its stable identity, seed is set later."""

    @abstractmethod
    def score(self, sample: Sample, response: Response) -> ScoredSample:
        """Parse a response and score it; must not raise on any model output."""

    def derive(self, means: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Values of ``derived`` metrics from per-sample means (arrays: one per resample)."""
        return {}

    def set_metrics(self, samples: Sequence[Sample], image_paths: Sequence[Sequence[Path]]) -> dict[str, Any]:
        """Metrics over the whole set of outputs that have no per-sample form (e.g. FID)."""
        return {}

    def set_metrics_identity(self) -> dict[str, Any]:
        """What, beside the outputs themselves, decides ``set_metrics``; the runner reuses the
        stored set metrics while this and every sample's output are unchanged."""
        options = options_as_dict(self.options)
        return {"task": self.name, "options": {name: options[name] for name in self.set_metric_options}}

    # -- identity --------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """What defines the samples' keys: the task and the options that change how its samples
        are asked (not where they lie, nor how they are scored)."""
        return {"task": self.name, "options": self.identity_options(options_as_dict(self.options))}

    @classmethod
    def identity_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Of the options (as recorded: ``options_as_dict``), those that change how samples are
        asked; also for options read back from a run folder, without building the task."""
        excluded = {*cls.location_options, *cls.scoring_options, *cls.set_metric_options}
        return {name: value for name, value in options.items() if name not in excluded}

    def scoring_identity(self) -> dict[str, Any]:
        """What defines the scores given the outputs; a change re-scores without re-running.
        Tasks that add to it (an OCR engine, a parser) extend this dictionary."""
        options = options_as_dict(self.options)
        identity: dict[str, Any] = {"task": self.name, "scoring_options": {name: options[name] for name in self.scoring_options}}
        if self.profiles:
            identity["profile"] = self.profile.describe()
        return identity

    @functools.cached_property
    def identity_hash(self) -> str:
        return stable_hash(self.identity())

    def sample_key(self, sample: Sample) -> str:
        return stable_hash([self.identity_hash, sample.id])

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"options": options_as_dict(self.options), "description": self.description}
        if self.data_warnings:
            described["data_warnings"] = {"count": len(self.data_warnings), "first": self.data_warnings[:MAX_WARNINGS_SHOWN]}
        if self.profiles:
            described["prompt_profile"] = self.profile.describe()
        fallback = self.profile_fallback()
        if fallback is not None:
            described["prompt_profile_fallback"] = fallback.to_json()
        return described

    @property
    def profile(self) -> PromptProfile:
        """The profile requests are phrased in: the one asked for on the command line, else the
        model's own, else ``default`` (recorded as a fallback, see ``profile_fallback``)."""
        if not self.profiles:
            raise TypeError(f"{type(self).__name__} has no prompt profiles; declare them in its `profiles`")
        return choose_profile(self.profiles, self.context.prompt_profile, self.context.adapter_prompt_profile, self.name)

    def profile_fallback(self) -> ProfileFallback | None:
        """Set when this task lacks the model's prompt profile and asks in ``default``'s words."""
        if not self.profiles:
            return None
        return profile_fallback(self.profiles, self.context.prompt_profile, self.context.adapter_prompt_profile, self.name)

    @classmethod
    def headline(cls) -> str | None:
        if cls.primary_metric is not None:
            return cls.primary_metric
        return cls.metrics[0].name if cls.metrics else None

    def ranking_score(self, sample: Sample, scores: Mapping[str, float], parsed: Any) -> float | None:
        """How good one answer is on a continuous scale, for ordering worst-sample galleries
        when the headline is pass/fail (grounding's Acc@0.5) or flat below a threshold (ANLS);
        None: order by the headline."""
        return None

    def gallery_boxes(self, sample: Sample, parsed: Any) -> list[GalleryBox]:
        """Boxes a report draws on the sample's input image: the reference and the answer."""
        return []

    def miss_scores(self, sample: Sample | None = None) -> dict[str, float]:
        return {metric.name: metric.miss_value for metric in self.metrics}


TaskT = TypeVar("TaskT", bound=Task)
SampleT = TypeVar("SampleT")


def load_once(load: Callable[[TaskT], list[SampleT]]) -> Callable[[TaskT], list[SampleT]]:
    """Makes a ``load_samples`` read its dataset once per task object: the runner,
    ``dataset_files`` and the reports each ask for the samples, reading and checking a dataset
    is the slow part, and warnings about its data must be recorded once. A subclass that
    extends a cached ``load_samples`` gets its own cache."""
    attribute = f"_loaded:{load.__qualname__}"

    @functools.wraps(load)
    def cached(self: TaskT) -> list[SampleT]:
        state = vars(self)
        if attribute not in state:
            state[attribute] = load(self)
        return state[attribute]

    return cached


_ROLE_ATTRIBUTES = {"scoring": "scoring_options", "location": "location_options", "set_metric": "set_metric_options"}


def _merge_option_roles(cls: type[Task]) -> None:
    """Roles declared on option fields join the class lists; a listed name that is not an
    option of the class fails here, when the plugin is defined, not as a silent no-op."""
    fields = {f.name for f in dataclasses.fields(cls.Options)}
    declared_roles = option_roles(cls.Options)
    owners: dict[str, str] = {}
    for role, attribute in _ROLE_ATTRIBUTES.items():
        own = tuple(cls.__dict__.get(attribute, ()))
        unknown = [name for name in own if name not in fields]
        if unknown:
            raise TypeError(
                f"{cls.__name__}.{attribute} names {', '.join(map(repr, unknown))}, which "
                f"{'is' if len(unknown) == 1 else 'are'} not an option of {cls.Options.__name__}"
            )
        inherited = () if own else tuple(name for name in getattr(cls, attribute) if name in fields)
        merged = tuple(dict.fromkeys((*own, *inherited, *declared_roles[role])))
        for name in merged:
            if name in owners:
                raise TypeError(f"{cls.__name__}: option {name!r} is both a {owners[name]} and a {role} option")
            owners[name] = role
        setattr(cls, attribute, merged)


TASKS: Registry[type[Task]] = Registry("task", "thbench.tasks", "tasks")
register_task = TASKS.register
