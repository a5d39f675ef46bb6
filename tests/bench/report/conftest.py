"""Fixtures for report tests: small real runs made by the real runner.

Two toy tasks and two test-only adapters, registered for the session:

* ``report-say`` (answer): "say N" over small rendered images; ``correct`` is 1 when the answer
  is N. The ``report-oracle`` adapter answers N, except on a fixed ``wrong_fraction`` of the
  samples (chosen by a hash of the question, the same in every run: the "degraded adapter"),
  on a ``noise`` fraction drawn from the request's seed (different for each run seed), and it
  can append ``inject`` to every answer (markup that must never execute in a report).
* ``report-lines`` (generate_image): each sample asks for 1-3 lines; the ``report-painter``
  adapter paints images whose red level says how many lines are right, so that the task's
  derived ``line_accuracy`` (mean hits / mean lines, a ratio like AnyText's Sen.ACC) differs
  from the mean of per-sample ratios.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import select
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bench.adapter import ADAPTERS, ModelAdapter
from bench.context import TaskContext
from bench.runner import RunConfig, run
from bench.task import TASKS, MetricSpec, Task
from bench.types import AnswerRequest, GenerateImageRequest, RequestKind, Response, ScoredSample

SAY_SAMPLES = 60
LINE_SAMPLES = 30


# -- tasks ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SayOptions:
    data_dir: Path | None = None


@dataclass(frozen=True)
class SaySample:
    id: str
    image: Path
    question: str
    answers: tuple[str, ...]


class SayTask(Task):
    kind = RequestKind.ANSWER
    description = "report tests: say the number"
    Options = SayOptions
    metrics = (
        MetricSpec("correct", "answer equals the number"),
        MetricSpec("length", "characters in the answer", higher_is_better=False, percent=False),
    )

    @property
    def data_dir(self) -> Path:
        return self.options.data_dir or self.context.data_root / "report-say"

    def load_samples(self) -> list[SaySample]:
        entries = json.loads((self.data_dir / "questions.json").read_text(encoding="utf-8"))
        return [SaySample(e["id"], self.data_dir / e["image"], e["question"], tuple(e["answers"])) for e in entries]

    def dataset_files(self):
        return self.data_dir, [self.data_dir / "questions.json"], sorted((self.data_dir / "images").glob("*"))

    def build_request(self, sample: SaySample, key: str) -> AnswerRequest:
        return AnswerRequest(key=key, prompt=f"<image>{sample.question}", images=(sample.image,), question=sample.question)

    def score(self, sample: SaySample, response: Response) -> ScoredSample:
        text = (response.text or "").strip()
        return ScoredSample(parsed=text, scores={"correct": float(text in sample.answers), "length": float(len(text))})


@dataclass(frozen=True)
class LinesOptions:
    data_dir: Path | None = None
    num_images: int = 2


@dataclass(frozen=True)
class LinesSample:
    id: str
    prompt: str
    texts: tuple[str, ...]


class LinesTask(Task):
    kind = RequestKind.GENERATE_IMAGE
    description = "report tests: lines read right, over all lines"
    Options = LinesOptions
    metrics = (
        MetricSpec("hits", "lines right, per item", percent=False, shown=False),
        MetricSpec("lines", "lines asked, per item", percent=False, shown=False),
    )
    derived = (MetricSpec("line_accuracy", "lines right over all lines"),)
    primary_metric = "line_accuracy"

    def load_samples(self) -> list[LinesSample]:
        words = ["Open", "Cafe", "Books", "Sale", "Exit", "Park"]
        return [
            LinesSample(f"l{i}", f"a sign that reads {' and '.join(words[(i + j) % 6] for j in range(1 + i % 3))}",
                        tuple(words[(i + j) % 6] for j in range(1 + i % 3)))
            for i in range(LINE_SAMPLES)
        ]

    def dataset_files(self):
        return Path("."), [], []

    def build_request(self, sample: LinesSample, key: str) -> GenerateImageRequest:
        return GenerateImageRequest(key=key, prompt=sample.prompt, texts=sample.texts, num_images=self.options.num_images, width=48, height=32)

    def score(self, sample: LinesSample, response: Response) -> ScoredSample:
        lines = len(sample.texts)
        hits = [round(float(np.asarray(image)[:, :, 0].mean()) / 255 * lines) for image in response.images]
        return ScoredSample(parsed=[[f"hits={h}"] for h in hits],
                            scores={"hits": float(np.mean(hits)), "lines": float(lines)})

    def derive(self, means: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"line_accuracy": means["hits"] / np.maximum(means["lines"], 1e-12)}


# -- adapters ------------------------------------------------------------------------------------

def fixed_choice(text: str, fraction: float) -> bool:
    """The same samples in every run: a hash of the question, not the run seed."""
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 1000 < fraction * 1000


@dataclass(frozen=True)
class OracleOptions:
    wrong_fraction: float = 0.0
    noise: float = 0.0
    inject: str = ""
    #: Names a training checkpoint (for sweeps); not a file.
    checkpoint: str = ""


class OracleAdapter(ModelAdapter):
    supported_kinds = frozenset({RequestKind.ANSWER})
    Options = OracleOptions
    default_batch_size = 16
    checkpoint_option = "checkpoint"

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        answers = []
        for request in requests:
            number = int(request.question.split()[-1])
            wrong = fixed_choice(request.question, self.options.wrong_fraction)
            wrong = wrong or random.Random(request.seed).random() < self.options.noise
            answers.append(str(number + 1000 if wrong else number) + self.options.inject)
        return answers


@dataclass(frozen=True)
class PainterOptions:
    wrong_fraction: float = 0.0


class LinePainterAdapter(ModelAdapter):
    """Red 255 when every line is right; red 0 on the degraded samples (no line right)."""

    supported_kinds = frozenset({RequestKind.GENERATE_IMAGE})
    Options = PainterOptions
    default_batch_size = 8

    def generate_image(self, requests: Sequence[GenerateImageRequest]) -> list[list[Image.Image]]:
        outputs = []
        for request in requests:
            red = 0 if fixed_choice(request.prompt + "|" + str(len(request.texts)), self.options.wrong_fraction) else 255
            images = []
            for index in range(request.num_images):
                image = Image.new("RGB", (request.width, request.height), (red, 40 + 50 * index, 90))
                ImageDraw.Draw(image).text((2, 10), request.texts[0][:6], fill=(255, 255, 255))
                images.append(image)
            outputs.append(images)
        return outputs


TASKS.add("report-say", SayTask)
TASKS.add("report-lines", LinesTask)
ADAPTERS.add("report-oracle", OracleAdapter)
ADAPTERS.add("report-painter", LinePainterAdapter)


# -- data and runs -------------------------------------------------------------------------------

def write_say_dataset(folder: Path, count: int = SAY_SAMPLES) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(count):
        name = f"images/{index:03d}.png"
        image = Image.new("RGB", (40, 24), (255, 255, 255))
        ImageDraw.Draw(image).text((4, 6), str(index), fill=(0, 0, 0))
        image.save(folder / name)
        entries.append({"id": f"q{index}", "image": name, "question": f"say {index}", "answers": [str(index)]})
    (folder / "questions.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def say_dataset():
    """The dataset writer, for tests that need a variant of the data."""
    return write_say_dataset


@pytest.fixture(scope="session")
def report_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-data")
    write_say_dataset(root / "report-say")
    return root


class RunFactory:
    """Makes real runs (runner, store, manifest) in a session folder, once per configuration."""

    def __init__(self, root: Path, data_root: Path) -> None:
        self.root = root
        self.data_root = data_root
        self.made: dict[str, Path] = {}

    def __call__(self, name: str, model: str = "report-oracle", tasks: Sequence[str] = ("report-say",),
                 model_args: dict[str, str] | None = None, seed: int = 0, limit: int | None = None,
                 data_root: Path | None = None, task_args: dict[str, dict[str, Any]] | None = None) -> Path:
        if name not in self.made:
            config = RunConfig(
                model=model, tasks=list(tasks), model_args=model_args or {}, task_args=task_args or {},
                context=TaskContext(data_root=data_root or self.data_root), limit=limit,
                run_dir=self.root / name, seed=seed, progress=False,
            )
            self.made[name] = run(config).run_dir
        return self.made[name]


@pytest.fixture(scope="session")
def make_run(tmp_path_factory: pytest.TempPathFactory, report_data: Path) -> RunFactory:
    return RunFactory(tmp_path_factory.mktemp("report-runs"), report_data)


@pytest.fixture(scope="session")
def starter_runs(tmp_path_factory: pytest.TempPathFactory, starter_data: Path) -> dict[str, Path]:
    """Real starter runs, small: the OCR baseline on two understanding tasks and the glyph
    renderer on editing (one image per item)."""
    root = tmp_path_factory.mktemp("starter-runs")
    context = TaskContext(data_root=starter_data)
    ocr = run(RunConfig(model="ocr-pipeline", tasks=["starter-textvqa", "starter-grounding"], context=context, limit=4,
                        run_dir=root / "ocr", progress=False))
    glyph = run(RunConfig(model="glyph-render", tasks=["starter-edit"], context=context, limit=3,
                          task_args={"starter-edit": {"num_images": "1"}}, run_dir=root / "glyph", progress=False))
    return {"ocr": ocr.run_dir, "glyph": glyph.run_dir, "data": starter_data}


# -- headless Chromium ---------------------------------------------------------------------------

def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
    JSON messages separated by NUL bytes on file descriptors 3 and 4), so no websocket library
    and no network port are needed."""

    def __init__(self, binary: str, profile: Path) -> None:
        commands_read, self._commands = os.pipe()
        self._events, events_write = os.pipe()

        def wire_descriptors() -> None:
            os.dup2(commands_read, 3)
            os.dup2(events_write, 4)

        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "--window-size=1280,1600", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_descriptors, pass_fds=(3, 4),
        )
        os.close(commands_read)
        os.close(events_write)
        self._buffer = b""
        self._next_id = 0
        self._pending: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=True)

    def call(self, method: str, params: dict[str, Any] | None = None, session: bool = False, timeout: float = 30.0) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._pending.append(reply)

    def wait_for(self, event: str, timeout: float = 30.0) -> dict[str, Any]:
        for index, message in enumerate(self._pending):
            if message.get("method") == event:
                return self._pending.pop(index)
        while True:
            message = self._receive(timeout)
            if message.get("method") == event:
                return message
            self._pending.append(message)

    def open(self, url: str) -> None:
        self._pending.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _receive(self, timeout: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._events], [], [], timeout)
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._events, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._events)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory):
    binary = chromium_binary()
    if binary is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the browser checks of the HTML report need it")
    browser = Chromium(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the screenshot test needs it")
    return binary
