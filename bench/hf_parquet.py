"""Benchmarks stored as Hugging Face parquet datasets, read offline.

The lmms-eval copies of the benchmarks (``lmms-lab/textvqa``, ``lmms-lab/DocVQA``, …) are
parquet files with the images inside them as encoded bytes. They are read here with pyarrow
from a local folder or from the Hugging Face hub cache, never over the network (the
``HF_HUB_OFFLINE=1`` behaviour). ``hf_path`` is either

* a folder: a snapshot of the dataset repository (``<folder>/<config>/<split>-*.parquet``) or
  the folder of one configuration (``<folder>/<split>-*.parquet``); or
* a dataset id such as ``lmms-lab/textvqa``, looked up in the hub cache
  (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``) as
  ``datasets--<owner>--<name>/snapshots/<revision of refs/main>/``.

Images are not decoded when samples are listed. Their bytes are copied once, unchanged, into a
cache folder keyed by the parquet files' signatures, one row group at a time, so memory stays
bounded by a row group and the model sees exactly the bytes of the dataset.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from bench.annotation_checks import answer_list
from bench.cache import cache_root
from bench.fingerprint import file_signature, stable_hash
from bench.store import atomic_write
from bench.task import DatasetError

logger = logging.getLogger(__name__)


_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
)


@dataclass(frozen=True)
class HfLayout:
    """Where one benchmark's split lives in its Hugging Face dataset and what it holds."""

    dataset_id: str
    #: Folder of the configuration inside the repository ("data" for the default one).
    config_folder: str
    #: The split's file-name prefix in the repository ("validation", "test").
    split: str
    #: Columns every row must have besides the image.
    columns: tuple[str, ...]
    image_column: str = "image"

    def describe(self) -> str:
        listed = ", ".join((*self.columns, self.image_column))
        return (
            f"the parquet layout of {self.dataset_id}: {self.config_folder}/{self.split}-*.parquet "
            f"with columns {listed} ({self.image_column} = struct<bytes, path> or bytes)"
        )


def default_image_cache() -> Path:
    return cache_root() / "hf-images"


def resolve_root(hf_path: str) -> Path:
    """The local folder behind ``hf_path`` (a folder, or a dataset id in the hub cache)."""
    folder = Path(hf_path).expanduser()
    if folder.is_dir():
        return folder
    if re.fullmatch(r"[\w.\-]+/[\w.\-]+", hf_path):
        snapshot = _cached_snapshot(hf_path)
        if snapshot is not None:
            return snapshot
        raise DatasetError(
            f"dataset {hf_path!r} is not in the Hugging Face cache ({_hub_cache()}) and is not a folder; "
            f"on a machine with network run `huggingface-cli download --repo-type dataset {hf_path}` "
            f"and copy the cache here, or pass hf_path=<folder with the parquet files>"
        )
    raise DatasetError(f"hf_path {hf_path!r} is neither a folder nor a dataset id like owner/name")


def parquet_files(root: Path, layout: HfLayout) -> list[Path]:
    """The split's parquet shards, from a repository snapshot or a configuration folder."""
    patterns = [f"{layout.config_folder}/{layout.split}-*.parquet", f"{layout.split}-*.parquet"]
    for pattern in patterns:
        files = sorted(root.glob(pattern))
        if files:
            return files
    tried = " or ".join(str(root / p) for p in patterns)
    raise DatasetError(f"no parquet files {tried}; expected {layout.describe()}")


def read_rows(files: Sequence[Path], layout: HfLayout) -> list[dict[str, Any]]:
    """All rows without their images, in file order; each row also gets ``_file`` and ``_row``
    (its position in its file) so its image can be found again."""
    rows: list[dict[str, Any]] = []
    for path in files:
        handle = _open(path)
        _check_columns(path, handle.schema_arrow.names, layout)
        table = handle.read(columns=list(layout.columns))
        for index, row in enumerate(table.to_pylist()):
            row["_file"] = path
            row["_row"] = index
            rows.append(row)
    return rows


def extract_images(
    files: Sequence[Path], layout: HfLayout, names: Mapping[tuple[Path, int], str], cache: Path
) -> dict[tuple[Path, int], Path]:
    """Write the image bytes of the rows in ``names`` ((file, row) → file stem) into a cache
    folder; files already there are reused. Returns (file, row) → image path."""
    folder = cache / stable_hash([[p.name, file_signature(p)] for p in files])
    folder.mkdir(parents=True, exist_ok=True)
    existing = {p.stem: p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}
    paths: dict[tuple[Path, int], Path] = {}
    missing: dict[Path, set[int]] = {}
    for (path, row), stem in names.items():
        if stem in existing:
            paths[(path, row)] = existing[stem]
        else:
            missing.setdefault(path, set()).add(row)
    written = 0
    for path, rows in missing.items():
        for row, payload in _image_payloads(path, layout, rows):
            stem = names[(path, row)]
            target = folder / f"{stem}{_extension(payload)}"
            atomic_write(target, payload, durable=False)
            paths[(path, row)] = target
            written += 1
    if written:
        logger.info("wrote %d images from %s into %s", written, layout.dataset_id, folder)
    return paths


def safe_stem(text: str) -> str:
    """A file-name-safe form of a sample id."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def hf_field(row: dict[str, Any], field: str, layout: HfLayout) -> Any:
    value = row.get(field)
    if value is None:
        raise DatasetError(f"{row['_file']}: row {row['_row']} has no value in column {field!r}; expected {layout.describe()}")
    return value


def hf_answers(row: dict[str, Any], field: str, layout: HfLayout) -> tuple[str, ...]:
    value = hf_field(row, field, layout)
    if isinstance(value, list) and not value:
        raise DatasetError(
            f"{row['_file']}: row {row['_row']} column {field!r} holds no answers (a test split?); "
            f"expected {layout.describe()}"
        )
    return answer_list(value, f"{row['_file']}: row {row['_row']} column {field!r}")


# -- internals -----------------------------------------------------------------------------

def _hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = Path(os.environ.get("HF_HOME") or "~/.cache/huggingface").expanduser()
    return home / "hub"


def _cached_snapshot(dataset_id: str) -> Path | None:
    repo = _hub_cache() / f"datasets--{dataset_id.replace('/', '--')}"
    snapshots = repo / "snapshots"
    ref = repo / "refs" / "main"
    if ref.is_file():
        candidate = snapshots / ref.read_text().strip()
        if candidate.is_dir():
            return candidate
    found = sorted(p for p in snapshots.glob("*") if p.is_dir()) if snapshots.is_dir() else []
    return found[0] if len(found) == 1 else None


def _open(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise DatasetError(f"{path} is not a readable parquet file ({error})") from None


def _check_columns(path: Path, names: Sequence[str], layout: HfLayout) -> None:
    missing = [c for c in (*layout.columns, layout.image_column) if c not in names]
    if missing:
        raise DatasetError(
            f"{path} has no column {', '.join(map(repr, missing))} (it has {', '.join(names)}); expected {layout.describe()}"
        )


def _image_payloads(path: Path, layout: HfLayout, rows: set[int]) -> Iterator[tuple[int, bytes]]:
    """(row, encoded image) for the wanted rows, reading one row group at a time."""
    handle = _open(path)
    _check_columns(path, handle.schema_arrow.names, layout)
    offset = 0
    for group in range(handle.num_row_groups):
        size = handle.metadata.row_group(group).num_rows
        wanted = [r for r in rows if offset <= r < offset + size]
        if wanted:
            column = handle.read_row_group(group, columns=[layout.image_column]).column(0)
            for row in sorted(wanted):
                yield row, _image_bytes(column[row - offset].as_py(), path, row, layout)
        offset += size


def _image_bytes(value: Any, path: Path, row: int, layout: HfLayout) -> bytes:
    if isinstance(value, dict):
        value = value.get("bytes")
    if not isinstance(value, (bytes, bytearray)) or not value:
        raise DatasetError(
            f"{path}: row {row} has no image bytes in column {layout.image_column!r}; expected {layout.describe()}"
        )
    return bytes(value)


def _extension(payload: bytes) -> str:
    for magic, extension in _IMAGE_MAGIC:
        if payload.startswith(magic):
            return extension
    if payload[:4] == b"RIFF" and payload[8:12] == b"WEBP":
        return ".webp"
    return ".img"
