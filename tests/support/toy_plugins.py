"""Toy task and adapters for testing the harness itself.

The task asks "say N" about small images; the adapter answers N (or something else, on demand),
can fail on chosen prompts, can add seeded noise, and logs every key it answers to a file, so
tests can tell whether a model call happened at all.
"""

from __future__ import annotations

import errno
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from bench.adapter import ADAPTERS, ModelAdapter
from bench.task import TASKS, MetricSpec, Task
from bench.types import AnswerRequest, GenerateImageRequest, RequestKind, Response, ScoredSample


def write_toy_dataset(folder: Path, count: int = 12, broken: Sequence[int] = ()) -> Path:
    """``count`` questions over small images; images listed in ``broken`` are not images."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(count):
        name = f"images/{index:03d}.png"
        if index in broken:
            (folder / name).write_bytes(b"this is not a png")
        else:
            Image.new("RGB", (8, 8), (index * 20 % 256, 0, 0)).save(folder / name)
        entries.append({"id": f"q{index}", "question": f"say {index}", "answer": str(index), "image": name})
    (folder / "questions.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


@dataclass(frozen=True)
class ToyOptions:
    data_dir: Path | None = None
    #: Appended to every prompt: changing it must invalidate stored predictions.
    suffix: str = ""
    #: Scoring only: compare case-insensitively after stripping this character.
    strip: str = ""


@dataclass(frozen=True)
class ToySample:
    id: str
    question: str
    answer: str
    image: Path


class ToyTask(Task):
    kind = RequestKind.ANSWER
    description = "toy: say the number"
    Options = ToyOptions
    scoring_options = ("strip",)
    metrics = (MetricSpec("exact", "answer equals the number"), MetricSpec("length", "answer length", percent=False))

    @property
    def data_dir(self) -> Path:
        return self.options.data_dir or self.context.data_root / "toy"

    def load_samples(self) -> list[ToySample]:
        entries = json.loads((self.data_dir / "questions.json").read_text())
        return [ToySample(e["id"], e["question"], e["answer"], self.data_dir / e["image"]) for e in entries]

    def dataset_files(self):
        return self.data_dir, [self.data_dir / "questions.json"], sorted((self.data_dir / "images").glob("*"))

    def build_request(self, sample: ToySample, key: str) -> AnswerRequest:
        return AnswerRequest(key=key, prompt=f"<image>{sample.question}{self.options.suffix}", images=(sample.image,), question=sample.question)

    def score(self, sample: ToySample, response: Response) -> ScoredSample:
        text = (response.text or "").strip().strip(self.options.strip) if self.options.strip else (response.text or "").strip()
        return ScoredSample(parsed=text, scores={"exact": float(text == sample.answer), "length": float(len(text))})


@dataclass(frozen=True)
class EchoOptions:
    #: Comma-separated questions on which the adapter raises.
    fail_on: str = ""
    #: Append digits drawn from the request's seed (tests seeding).
    noisy: bool = False
    #: Answer wrongly on every n-th number (0: never).
    wrong_every: int = 0
    delay_s: float = 0.0
    log_file: str = ""
    #: A file standing for weights: its content is part of the adapter's fingerprint.
    checkpoint: Path | None = None


class EchoAdapter(ModelAdapter):
    """Answers "say N" with N."""

    supported_kinds = frozenset({RequestKind.ANSWER})
    Options = EchoOptions
    default_batch_size = 4

    def __init__(self, options: EchoOptions | None = None) -> None:
        super().__init__(options)
        self.loads = 0

    def load(self) -> None:
        self.loads += 1

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        failing = {q for q in self.options.fail_on.split(",") if q}
        answers = []
        for request in requests:
            assert isinstance(request.images[0], Image.Image), "the runner passes loaded images"
            if request.question in failing:
                self.fail(request)
            number = int(request.question.split()[-1])
            answer = str(number + 1 if self.options.wrong_every and number % self.options.wrong_every == 0 else number)
            if self.options.noisy:
                answer += f"-{random.Random(request.seed).randint(0, 10**6)}"
            answers.append(answer)
        if self.options.delay_s:
            time.sleep(self.options.delay_s * len(requests))
        if self.options.log_file:
            with open(self.options.log_file, "a", encoding="utf-8") as log:
                log.writelines(f"{r.key}\n" for r in requests)
        return answers


    def fail(self, request: AnswerRequest) -> None:
        raise RuntimeError(f"cannot answer {request.question!r}")


@dataclass(frozen=True)
class PlacedEchoOptions(EchoOptions):
    #: Recorded only (the echo runs anywhere), as real adapters' device option is.
    device: str = "auto"


class PlacedEchoAdapter(EchoAdapter):
    """``test-echo`` with a ``device`` option, as real adapters have."""

    Options = PlacedEchoOptions


@dataclass(frozen=True)
class OsErrorOptions(EchoOptions):
    #: The errno of the ``OSError`` raised on ``fail_on`` questions (28: a full disk).
    fail_errno: int = 28


class OsErrorAdapter(EchoAdapter):
    """``test-echo`` whose failures are OSErrors, as a model meeting a full disk raises."""

    Options = OsErrorOptions

    def fail(self, request: AnswerRequest) -> None:
        raise OSError(self.options.fail_errno, os.strerror(self.options.fail_errno))


@dataclass(frozen=True)
class ToyPaintOptions:
    data_dir: Path | None = None
    #: Side of the requested images.
    size: int = 16
    #: Set metrics only: added to the set-level score.
    offset: float = 0.0
    #: How many samples the task has.
    count: int = 5
    #: Scoring only: seconds each sample's scoring takes (slow OCR, for the scoring pool).
    score_delay_s: float = 0.0
    #: Scoring only: the scorer meets a full disk on this sample (by index; -1: never).
    score_disk_full_at: int = -1


class ToyPaintTask(Task):
    """Asks for images; scores how red they are, so a stored image's pixels matter."""

    kind = RequestKind.GENERATE_IMAGE
    Options = ToyPaintOptions
    set_metric_options = ("offset",)
    scoring_options = ("score_delay_s", "score_disk_full_at")
    metrics = (MetricSpec("redness", "mean red channel / 255"),)
    #: How often set metrics were computed, across instances (tests read it).
    set_metric_calls = 0

    def load_samples(self) -> list[ToySample]:
        return [ToySample(f"p{i}", f"paint {i}", "", Path()) for i in range(self.options.count)]

    def dataset_files(self):
        return Path("."), [], []

    def build_request(self, sample: ToySample, key: str) -> GenerateImageRequest:
        size = self.options.size
        return GenerateImageRequest(key=key, prompt=sample.question, num_images=2, width=size, height=size)

    def score(self, sample: ToySample, response: Response) -> ScoredSample:
        time.sleep(self.options.score_delay_s)
        if sample.id == f"p{self.options.score_disk_full_at}":
            raise OSError(errno.ENOSPC, "No space left on device")
        reds = [float(np.asarray(image)[:, :, 0].mean()) / 255 for image in response.images]
        return ScoredSample(parsed=None, scores={"redness": sum(reds) / len(reds)})

    def set_metrics(self, samples, image_paths):
        type(self).set_metric_calls += 1
        count = sum(len(paths) for paths in image_paths)
        return {"images_plus_offset": {"value": count + self.options.offset}}


class SecondToyPaintTask(ToyPaintTask):
    """The same task under a second name, for runs of two image tasks."""


@dataclass(frozen=True)
class PainterOptions:
    #: Seeded pixel noise instead of a flat colour: images that do not compress (disk tests).
    noise: bool = False


class PainterAdapter(ModelAdapter):
    """Paints each image in a colour drawn from its seed."""

    supported_kinds = frozenset({RequestKind.GENERATE_IMAGE})
    Options = PainterOptions

    def generate_image(self, requests: Sequence[GenerateImageRequest]) -> list[list[Image.Image]]:
        outputs = []
        for request in requests:
            images = []
            for index in range(request.num_images):
                rng = random.Random(request.seed + index)
                size = (request.width, request.height)
                if self.options.noise:
                    pixels = np.random.default_rng(request.seed + index).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                    images.append(Image.fromarray(pixels))
                else:
                    images.append(Image.new("RGB", size, tuple(rng.randint(0, 255) for _ in range(3))))
            outputs.append(images)
        return outputs


def register() -> None:
    """Idempotent, so that every test module may call it."""
    for name, task in (("toy-say", ToyTask), ("toy-paint", ToyPaintTask), ("toy-paint-b", SecondToyPaintTask)):
        TASKS.add(name, task)
    adapters = (("test-echo", EchoAdapter), ("test-echo-oserror", OsErrorAdapter), ("test-echo-placed", PlacedEchoAdapter),
                ("test-painter", PainterAdapter))
    for name, adapter in adapters:
        ADAPTERS.add(name, adapter)
