"""The run store: everything a run produced, on disk, safe against crashes.

Layout of ``results/runs/<run_id>/``::

    manifest.json             what ran: versions, adapter, tasks, fingerprints, times, counts
    predictions/<task>.jsonl  one line per sample, appended and fsync'd after every batch
    images/<task>/…           generated images
    scores.json               aggregates with confidence intervals

Predictions are append-only while a run is going: a ``kill -9`` loses at most the batch in
flight and leaves at worst a torn last line, which the next run cuts off and recomputes.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from PIL import Image

from bench.images import open_image

logger = logging.getLogger(__name__)


@dataclass
class SampleError:
    type: str
    message: str
    #: Where it happened: ``input`` (unreadable image), ``model`` or ``score``.
    stage: str


@dataclass
class PredictionRecord:
    key: str
    id: str
    request_fingerprint: str
    scoring_fingerprint: str
    seed: int
    prompt: str
    raw: str | None = None
    images: list[str] = field(default_factory=list)
    parsed: Any = None
    scores: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    error: SampleError | None = None
    elapsed_s: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"), default=_json_default)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PredictionRecord":
        data = dict(data)
        if data.get("error") is not None:
            data["error"] = SampleError(**data["error"])
        return cls(**data)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a prediction record")


class RunStore:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.manifest_path = self.run_dir / "manifest.json"
        self.scores_path = self.run_dir / "scores.json"
        self.predictions_dir = self.run_dir / "predictions"
        self.images_dir = self.run_dir / "images"

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    # -- predictions ------------------------------------------------------------------------
    def predictions_path(self, task: str) -> Path:
        return self.predictions_dir / f"{task}.jsonl"

    def read_predictions(self, task: str, repair: bool = True) -> dict[str, PredictionRecord]:
        """Latest record per key. A torn last line (a crash mid-write) is skipped and, with
        ``repair``, cut off the file so that later appends start on a clean line; its sample
        is then recomputed. Readers that are not the runner pass ``repair=False``: a run still
        writing may be about to finish that line."""
        path = self.predictions_path(task)
        if not path.is_file():
            return {}
        records: dict[str, PredictionRecord] = {}
        good_end = 0
        with path.open("rb") as handle:
            data = handle.read()
        position = 0
        for raw_line in data.splitlines(keepends=True):
            line_end = position + len(raw_line)
            position = line_end
            if not raw_line.endswith(b"\n"):
                break
            try:
                record = PredictionRecord.from_dict(json.loads(raw_line))
            except (ValueError, TypeError) as error:
                logger.warning("%s: skipping an unreadable line at byte %d (%s)", path, line_end - len(raw_line), error)
                good_end = line_end
                continue
            records[record.key] = record
            good_end = line_end
        if good_end < len(data) and repair:
            logger.warning("%s: cutting a torn last line left by an interrupted run", path)
            with path.open("r+b") as handle:
                handle.truncate(good_end)
                os.fsync(handle.fileno())
        return records

    def append_predictions(self, task: str, records: Iterable[PredictionRecord]) -> None:
        path = self.predictions_path(task)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = "".join(record.to_json() + "\n" for record in records)
        if not payload:
            return
        with path.open("a", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())

    def compact_predictions(self, task: str) -> None:
        """Rewrite the file atomically with one line per sample key (the latest). Samples of
        other task configurations stay: going back to one reuses them."""
        records = self.read_predictions(task)
        path = self.predictions_path(task)
        if not path.is_file():
            return
        _atomic_write(path, "".join(record.to_json() + "\n" for record in records.values()))

    # -- images -----------------------------------------------------------------------------
    def save_images(self, task: str, key: str, images: Iterable[Image.Image], image_format: Literal["png", "jpeg"]) -> list[str]:
        folder = self.images_dir / task
        folder.mkdir(parents=True, exist_ok=True)
        names = []
        suffix = "png" if image_format == "png" else "jpg"
        for index, image in enumerate(images):
            path = folder / f"{key}_{index}.{suffix}"
            if image_format == "png":
                image.save(path, format="PNG")
            else:
                image.convert("RGB").save(path, format="JPEG", quality=95)
            names.append(str(path.relative_to(self.run_dir)))
        return names

    def open_image(self, relative: str) -> Image.Image:
        return open_image(self.run_dir / relative)

    # -- manifest and scores ------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        return _read_json(self.manifest_path)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        _atomic_write(self.manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n")

    def read_scores(self) -> dict[str, Any]:
        return _read_json(self.scores_path)

    def write_scores(self, scores: dict[str, Any]) -> None:
        _atomic_write(self.scores_path, json.dumps(scores, indent=2, ensure_ascii=False) + "\n")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
