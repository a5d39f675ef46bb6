"""Plugins for the harness benchmarks: a synthetic answer task held in memory, a model that
answers at once and one that spends fixed CPU work per request. Loaded by path by the
benchmark scripts and by the ``thbench`` processes they start."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bench.adapter import ADAPTERS, ModelAdapter
from bench.task import TASKS, MetricSpec, Task
from bench.types import AnswerRequest, RequestKind, Response, ScoredSample


@dataclass(frozen=True)
class CountOptions:
    samples: int = 1000


@dataclass(frozen=True)
class CountSample:
    id: str
    answer: str


class CountTask(Task):
    """``samples`` questions "say N", held in memory: no dataset file to read."""

    kind = RequestKind.ANSWER
    Options = CountOptions
    metrics = (MetricSpec("exact", "answer equals N"),)

    def load_samples(self) -> list[CountSample]:
        return [CountSample(f"q{i}", str(i)) for i in range(self.options.samples)]

    def dataset_files(self):
        return Path("."), [], []

    def build_request(self, sample: CountSample, key: str) -> AnswerRequest:
        return AnswerRequest(key=key, prompt=f"say {sample.answer}", images=(), question=sample.answer)

    def score(self, sample: CountSample, response: Response) -> ScoredSample:
        return ScoredSample(parsed=response.text, scores={"exact": float(response.text == sample.answer)})


class InstantAdapter(ModelAdapter):
    """Answers every request with its question, at once."""

    supported_kinds = frozenset({RequestKind.ANSWER})
    default_batch_size = 64

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        return [request.question for request in requests]


@dataclass(frozen=True)
class BusyOptions:
    #: SHA-256 iterations per request (about 1 µs each) before answering.
    iterations: int = 50_000


class BusyAdapter(ModelAdapter):
    """Answers like ``InstantAdapter`` after fixed single-threaded CPU work (iterated hashing)."""

    supported_kinds = frozenset({RequestKind.ANSWER})
    Options = BusyOptions

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        answers = []
        for request in requests:
            digest = request.prompt.encode()
            for _ in range(self.options.iterations):
                digest = hashlib.sha256(digest).digest()
            answers.append(request.question)
        return answers


def register() -> None:
    TASKS.add("bench-count", CountTask)
    ADAPTERS.add("bench-instant", InstantAdapter)
    ADAPTERS.add("bench-busy", BusyAdapter)


#: A script that runs ``thbench`` with these plugins, for ``str.format(plugins=path)``.
ENTRY_SCRIPT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("synthetic_plugins", {plugins!r})
module = importlib.util.module_from_spec(spec); sys.modules["synthetic_plugins"] = module
spec.loader.exec_module(module); module.register()
from bench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def write_entry_script(path: Path) -> Path:
    path.write_text(ENTRY_SCRIPT.format(plugins=str(Path(__file__).resolve())))
    return path
