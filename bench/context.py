"""Resources a task may need that do not belong to it: where data lives, which OCR engine reads
generated images, where optional scoring weights are. Built once per run by the runner."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.ocr.base import OCR_ENGINES, OcrEngine, describe_engine
from bench.options import build_options

DATA_ENV = "THBENCH_DATA"
#: Where the FID Inception weights are when ``--fid-weights`` is not given.
FID_WEIGHTS_ENV = "THBENCH_FID_WEIGHTS"


def default_data_root() -> Path:
    """``$THBENCH_DATA``, else ``./data``: one folder holding every benchmark's files."""
    return Path(os.environ.get(DATA_ENV) or "data").expanduser()


@dataclass
class TaskContext:
    data_root: Path = field(default_factory=default_data_root)
    #: Profile asked for on the command line; ``None`` lets each task use the adapter's default.
    prompt_profile: str | None = None
    adapter_prompt_profile: str = "default"
    ocr_engine: str = "rapidocr"
    ocr_options: dict[str, Any] = field(default_factory=dict)
    fid_weights: Path | None = None
    clip_model: Path | None = None
    #: Generated images are scored as stored; JPEG reproduces scripts that saved JPEGs (it
    #: changes FID), PNG keeps the model's pixels.
    image_format: Literal["png", "jpeg"] = "png"
    #: Where Inception and CLIP features for set metrics are computed; ``None``: the device
    #: the model ran on (``adapter_device``), else the CPU.
    metrics_device: str | None = None
    #: The loaded model's device, as its adapter reports it; set by the runner.
    adapter_device: str | None = None
    _ocr: OcrEngine | None = field(default=None, init=False, repr=False)

    @property
    def feature_device(self) -> str:
        return self.metrics_device or self.adapter_device or "cpu"

    def ocr(self) -> OcrEngine:
        if self._ocr is None:
            engine_type, options = self._ocr_settings()
            self._ocr = engine_type(options)
        return self._ocr

    def ocr_description(self) -> dict[str, Any]:
        """The engine's ``describe()`` without building it where the engine allows (see
        ``describe_engine``), so that fingerprinting a finished run builds no OCR engine."""
        engine_type, options = self._ocr_settings()
        return describe_engine(engine_type, options, self._ocr, self.ocr)

    def for_scoring_worker(self) -> "TaskContext":
        """This context for a scoring worker: its own engine, on one intra-op thread unless
        the user set the engine's thread count."""
        engine_type = OCR_ENGINES.get(self.ocr_engine)
        options = dict(self.ocr_options)
        if engine_type.thread_option is not None:
            options.setdefault(engine_type.thread_option, 1)
        return dataclasses.replace(self, ocr_options=options)

    def __getstate__(self) -> dict[str, Any]:
        """Sent to scoring workers without the engine: each builds its own."""
        return {**self.__dict__, "_ocr": None}

    def _ocr_settings(self) -> tuple[type[OcrEngine], Any]:
        engine_type = OCR_ENGINES.get(self.ocr_engine)
        return engine_type, build_options(engine_type.Options, self.ocr_options, owner=f"OCR engine {self.ocr_engine!r}")


def data_root_hint(data_root: Path, folder: str) -> str:
    """What to pass instead when ``--data-dir`` misses a task's ``folder``: the folder itself
    (one level too low) or a folder above the root (one level too high); empty when neither."""
    if (data_root / folder).exists():
        return ""
    if data_root.is_file():
        return f"; --data-dir {data_root} is a file: it should be the folder that holds {folder}/ and the other benchmarks"
    if data_root.name == Path(folder).name:
        return f"; --data-dir points at the {folder} folder itself: pass the folder that holds it, --data-dir {data_root.parent}"
    below = sorted(path.parent for path in data_root.glob(f"*/{folder}") if path.is_dir())
    if below:
        return f"; --data-dir {data_root} is one level too high: pass --data-dir {below[0]}, which holds {folder}/"
    return ""
