"""The run store: everything a run produced, on disk, safe against crashes and many writers.

Layout of ``results/runs/<run_id>/``::

    store.json                      the folder's format version
    lock.json                       the invocation using the folder (see bench.run_lock)
    predictions/<task>/<writer>.jsonl   records, one file per writing process, append-only
    predictions/<task>.jsonl        records of folders written before writer files (read as is)
    images/<task>/…                 generated images, written whole then renamed into place
    selections/<task>/<config>.json which records each task configuration was scored from
    invocations/<invocation>.json   one per invocation: command, versions, data, counts; never
                                    rewritten by another invocation
    manifest.json                   the merged view of invocations/, for people and old readers
    scores.json                     aggregates per task configuration, with 95% intervals

Every process appends to its own record files, so writers never contend and a crash can tear at
most the last line of a file that nobody will append to again: readers skip a line without its
newline. Of the records of one slot (sample key + request fingerprint) the one with the highest
``(rev, writer)`` counts, which depends neither on the order files are read nor on clocks.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Literal, Sequence

from PIL import Image

from bench.faults import storage
from bench.records import RECORD_FORMAT, PredictionRecord, SampleError

__all__ = ["PredictionRecord", "SampleError", "RunStore", "TaskRecords", "RecordWriter", "StoreFormatError",
           "CorruptStoreError", "new_writer_id", "atomic_write"]

logger = logging.getLogger(__name__)

FORMAT_FILE = "store.json"
#: Records older than this many seconds may still sit in the page cache when the machine
#: (not the process) dies; a batch that takes longer is synced after itself.
DEFAULT_SYNC_INTERVAL_S = 0.5
Slot = tuple[str, str]


class StoreFormatError(RuntimeError):
    """The folder was written by a thbench whose format this one cannot read safely."""


class CorruptStoreError(ValueError):
    """A store file is not what thbench wrote; the message names it and how to recover."""


def new_writer_id() -> str:
    """Unique per process and sortable by start time; names the process's record files."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())[:32]
    return f"{stamp}-{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class TaskRecords:
    """The current records of one task, merged over every record file."""

    by_slot: dict[Slot, PredictionRecord] = field(default_factory=dict)
    #: Readable lines read, including superseded ones (drives compaction).
    lines: int = 0
    unreadable: int = 0
    files: list[Path] = field(default_factory=list)

    def add(self, record: PredictionRecord) -> None:
        self.lines += 1
        current = self.by_slot.get(record.slot)
        if current is None or record.order >= current.order:
            self.by_slot[record.slot] = record

    def latest_by_key(self) -> dict[str, PredictionRecord]:
        """One record per sample key, for folders that predate selections (then each key has
        one slot in practice) and for tools that do not care which configuration answered."""
        latest: dict[str, PredictionRecord] = {}
        for record in self.by_slot.values():
            current = latest.get(record.key)
            if current is None or record.order >= current.order:
                latest[record.key] = record
        return latest

    def select(self, slots: Iterable[Slot]) -> dict[str, PredictionRecord]:
        return {slot[0]: self.by_slot[slot] for slot in slots if slot in self.by_slot}


class RecordWriter:
    """Appends one process's records, syncing them to disk under a group-commit policy: after
    a write when ``sync_interval_s`` has passed since the last sync, and on ``sync``/``close``.
    Every batch is written to the OS at once, so killing the process loses nothing written;
    only a crash of the machine can lose the last ``sync_interval_s`` (or the last batch).
    Safe to share between threads: scores of one task arrive while the next task is planned."""

    def __init__(self, store: "RunStore", writer_id: str, sync_interval_s: float = DEFAULT_SYNC_INTERVAL_S) -> None:
        self.store = store
        self.writer_id = writer_id
        self.sync_interval_s = sync_interval_s
        self._handles: dict[str, BinaryIO] = {}
        self._dirty: set[str] = set()
        self._last_sync = time.monotonic()
        self._lock = threading.RLock()

    def append(self, task: str, records: Sequence[PredictionRecord]) -> None:
        if not records:
            return
        path = self.store.writer_path(task, self.writer_id)
        payload = "".join(record.to_json() + "\n" for record in records).encode("utf-8")
        with self._lock, storage(path):
            handle = self._handles.get(task)
            if handle is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = self._handles[task] = open(path, "ab")
            handle.write(payload)
            handle.flush()
            self._dirty.add(task)
            if time.monotonic() - self._last_sync >= self.sync_interval_s:
                self.sync()

    def sync(self) -> None:
        with self._lock:
            for task in sorted(self._dirty):
                with storage(self.store.writer_path(task, self.writer_id)):
                    os.fsync(self._handles[task].fileno())
            self._dirty.clear()
            self._last_sync = time.monotonic()

    def close(self) -> None:
        with self._lock:
            try:
                self.sync()
            finally:
                for handle in self._handles.values():
                    try:
                        handle.close()
                    except OSError:
                        pass
                self._handles.clear()


class RunStore:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.manifest_path = self.run_dir / "manifest.json"
        self.scores_path = self.run_dir / "scores.json"
        self.format_path = self.run_dir / FORMAT_FILE
        self.predictions_dir = self.run_dir / "predictions"
        self.images_dir = self.run_dir / "images"
        self.selections_dir = self.run_dir / "selections"
        self.invocations_dir = self.run_dir / "invocations"

    # -- format -------------------------------------------------------------------------------
    def check_format(self) -> None:
        """Refuse, before anything is written, a folder of a newer major format."""
        data = _read_json(self.format_path)
        if not data:
            return
        major = int(str(data.get("format", "1.0")).split(".")[0])
        if major > RECORD_FORMAT[0]:
            raise StoreFormatError(
                f"{self.run_dir} was written by a newer thbench (store format {data.get('format')}, written by "
                f"thbench {data.get('written_by', '?')}); this thbench reads format {RECORD_FORMAT[0]}.x. Upgrade thbench "
                "to use this folder; it was not modified"
            )

    def mark_format(self, thbench_version: str) -> None:
        data = _read_json(self.format_path)
        current = f"{RECORD_FORMAT[0]}.{RECORD_FORMAT[1]}"
        if data.get("format") != current:
            atomic_write(self.format_path, json.dumps({"format": current, "written_by": thbench_version}) + "\n")

    # -- records ------------------------------------------------------------------------------
    def legacy_predictions_path(self, task: str) -> Path:
        return self.predictions_dir / f"{task}.jsonl"

    def writer_path(self, task: str, writer_id: str) -> Path:
        return self.predictions_dir / task / f"{writer_id}.jsonl"

    def record_files(self, task: str) -> list[Path]:
        files = sorted((self.predictions_dir / task).glob("*.jsonl"))
        legacy = self.legacy_predictions_path(task)
        return ([legacy] if legacy.is_file() else []) + files

    def tasks_with_records(self) -> list[str]:
        if not self.predictions_dir.is_dir():
            return []
        names = {p.stem for p in self.predictions_dir.glob("*.jsonl")}
        names |= {p.name for p in self.predictions_dir.iterdir() if p.is_dir()}
        return sorted(names)

    def read_records(self, task: str) -> TaskRecords:
        merged = TaskRecords()
        for path in self.record_files(task):
            _read_record_file(path, merged)
            merged.files.append(path)
        return merged

    def read_predictions(self, task: str) -> dict[str, PredictionRecord]:
        """Newest record per sample key over all configurations (see ``TaskRecords``)."""
        return self.read_records(task).latest_by_key()

    def open_writer(self, writer_id: str, sync_interval_s: float = DEFAULT_SYNC_INTERVAL_S) -> RecordWriter:
        return RecordWriter(self, writer_id, sync_interval_s)

    def compact(self, task: str, writer_id: str) -> None:
        """Merge every record file of ``task`` into one holding only current records (unknown
        fields kept). Only safe while no other process writes the task: the caller holds the
        folder's lock alone. A crash midway leaves duplicates of equal order, which read the
        same."""
        records = self.read_records(task)
        if records.unreadable:
            logger.warning("%s: %d unreadable record lines; not compacting, so that nothing is lost", task, records.unreadable)
            return
        target = self.writer_path(task, f"{writer_id}-compacted")
        with storage(target):
            atomic_write(target, "".join(record.to_json() + "\n" for record in records.by_slot.values()))
            for path in records.files:
                if path != target:
                    path.unlink()

    # -- images -------------------------------------------------------------------------------
    def save_images(self, task: str, record: PredictionRecord, images: Iterable[Image.Image],
                    image_format: Literal["png", "jpeg"]) -> list[str]:
        """Each image is written under a temporary name, synced, then renamed: a crash leaves no
        truncated image under a name a record could point to."""
        folder = self.images_dir / task
        names = []
        suffix = "png" if image_format == "png" else "jpg"
        # Per revision and writer: two writers of one slot (overlapping shards, a recompute
        # after a crash) never overwrite the images the other's record points to.
        stem = f"{record.key}_{record.request_fingerprint[:8]}_{record.rev}{record.writer[-6:]}"
        with storage(folder):
            folder.mkdir(parents=True, exist_ok=True)
            for index, image in enumerate(images):
                path = folder / f"{stem}_{index}.{suffix}"
                encoded = io.BytesIO()
                if image_format == "png":
                    image.save(encoded, format="PNG")
                else:
                    image.convert("RGB").save(encoded, format="JPEG", quality=95)
                atomic_write(path, encoded.getvalue())
                names.append(str(path.relative_to(self.run_dir)))
        return names

    def remove_stale_temporaries(self) -> int:
        """Temporary files left by processes that died mid-write; call only while no other
        writer can be active."""
        removed = 0
        for path in self.run_dir.rglob(".*.tmp"):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- selections ---------------------------------------------------------------------------
    def selection_path(self, task: str, configuration: str) -> Path:
        return self.selections_dir / task / f"{configuration}.json"

    def write_selection(self, task: str, configuration: str, slots: Sequence[Slot]) -> None:
        atomic_write(self.selection_path(task, configuration), json.dumps({"slots": [list(s) for s in slots]}) + "\n")

    def read_selection(self, task: str, configuration: str) -> list[Slot] | None:
        data = _read_json(self.selection_path(task, configuration))
        if not data:
            return None
        return [(str(key), str(fingerprint)) for key, fingerprint in data.get("slots", [])]

    # -- invocations, manifest and scores -----------------------------------------------------
    def write_invocation(self, invocation_id: str, invocation: dict[str, Any]) -> None:
        atomic_write(self.invocations_dir / f"{invocation_id}.json", _dump(invocation))

    def read_invocations(self) -> list[dict[str, Any]]:
        """Every invocation's own record, oldest first (by start time, then id)."""
        found = []
        for path in sorted(self.invocations_dir.glob("*.json")) if self.invocations_dir.is_dir() else []:
            try:
                found.append(_read_json(path))
            except CorruptStoreError as error:
                logger.warning("%s", error)
        return sorted(found, key=lambda item: (str(item.get("started_at", "")), str(item.get("invocation", ""))))

    def read_manifest(self) -> dict[str, Any]:
        return _read_json(self.manifest_path)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write(self.manifest_path, _dump(manifest))

    def read_scores(self) -> dict[str, Any]:
        return _read_json(self.scores_path)

    def write_scores(self, scores: dict[str, Any]) -> None:
        atomic_write(self.scores_path, _dump(scores))


def _read_record_file(path: Path, merged: TaskRecords) -> None:
    """Add the file's readable records to ``merged``; a last line without its newline was torn
    by a crash of its writer (who never appends to it again) and is skipped."""
    with path.open("rb") as handle:
        data = handle.read()
    lines = data.split(b"\n")
    complete = lines[:-1]  # the part after the last newline is empty or a torn line
    if lines[-1]:
        logger.info("%s: skipping a torn last line left by an interrupted writer", path)
    loads, from_dict = json.loads, PredictionRecord.from_dict
    for number, raw_line in enumerate(complete, start=1):
        if not raw_line.strip():
            continue
        try:
            merged.add(from_dict(loads(raw_line)))
        except (ValueError, TypeError, KeyError) as error:
            merged.unreadable += 1
            logger.warning("%s:%d: skipping an unreadable record (%s)", path, number, error)


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except ValueError as error:
        raise CorruptStoreError(
            f"{path} is not valid JSON ({error}); restore it from a backup or delete it (thbench rebuilds "
            "manifest.json and scores.json on the next run)"
        ) from None
    if not isinstance(data, dict):
        raise CorruptStoreError(f"{path} holds {type(data).__name__}, not a JSON object; delete it to let thbench rebuild it")
    return data


def atomic_write(path: Path, content: str | bytes, durable: bool = True) -> None:
    """Replace ``path`` whole: readers see the old or the new content, never a mix; honours
    the umask like any other file the user creates. ``durable`` also makes the new content
    survive a machine crash (fsync of the file and its folder), which caches can skip."""
    payload = content.encode("utf-8") if isinstance(content, str) else content
    with storage(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(payload)
                if durable:
                    stream.flush()
                    os.fsync(stream.fileno())
            os.chmod(temporary, 0o666 & ~_UMASK)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        if durable:
            _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` survive a machine crash (POSIX needs the folder synced)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not possible on this platform
    try:
        os.fsync(handle)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the rename is then as durable as they make it
    finally:
        os.close(handle)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Read once at import, before any thread of thbench's exists (reading it means setting it).
_UMASK = _read_umask()
