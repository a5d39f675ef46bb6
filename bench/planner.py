"""What a run has to do for each sample, decided from the stored records alone.

Pure: no files, no model. For every sample the plan says one of

* **reuse**: a current record answers the same request and was scored the same way;
* **rescore**: it answers the same request but was scored otherwise (or scoring failed): score
  the stored output again, without the model;
* **compute**: nothing stored answers this request (or it failed and ``retry_errors`` is set).

A record answers "the same request" when its request fingerprint (prompt, every generation
setting, the model's fingerprint, the content of the input files) equals the new one, so a plan
never depends on which process or configuration wrote the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from bench.records import PredictionRecord
from bench.types import Request

Slot = tuple[str, str]


@dataclass(frozen=True)
class PlannedSample:
    sample: Any
    key: str
    request: Request
    request_fingerprint: str

    @property
    def slot(self) -> Slot:
        return (self.key, self.request_fingerprint)


@dataclass
class Plan:
    compute: list[PlannedSample] = field(default_factory=list)
    rescore: list[tuple[PlannedSample, PredictionRecord]] = field(default_factory=list)
    reuse: dict[str, PredictionRecord] = field(default_factory=dict)

    @property
    def has_model_work(self) -> bool:
        return bool(self.compute)


def make_plan(samples: Sequence[PlannedSample], current: Mapping[Slot, PredictionRecord], scoring_fingerprint: str,
              retry_errors: bool = False, outputs_present: Callable[[PredictionRecord], bool] = lambda record: True) -> Plan:
    """``outputs_present`` says whether a record's stored images are all there; one whose
    images are gone can be neither reused nor scored again, so it is computed anew."""
    plan = Plan()
    for planned in samples:
        previous = current.get(planned.slot)
        if previous is None or (previous.images and not outputs_present(previous)):
            plan.compute.append(planned)
        elif previous.error is not None and previous.error.stage != "score":
            if retry_errors:
                plan.compute.append(planned)
            else:
                plan.reuse[planned.key] = previous
        elif previous.error is not None or previous.scoring_fingerprint != scoring_fingerprint:
            plan.rescore.append((planned, previous))
        else:
            plan.reuse[planned.key] = previous
    return plan
