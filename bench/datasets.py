"""Reading a benchmark's files: every loader's errors name the file, the entry, the field and
the layout that was expected, so that a wrong download is fixed without reading code.

Values inside entries (answers, boxes, polygons, image paths) are checked by
``bench.annotation_checks``; this module finds and parses the files around them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from bench.annotation_checks import answer_list
from bench.task import DatasetError


def read_json(path: Path, layout: str) -> Any:
    """Parse an annotation file, naming the file and the expected layout when that fails."""
    if not path.is_file():
        raise DatasetError(f"missing annotation file {path}; expected {layout}")
    try:
        with path.open(encoding="utf-8-sig") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path} is not valid JSON ({error}); expected {layout}") from None


def require(record: Any, field: str, path: Path, index: int | str, layout: str) -> Any:
    if not isinstance(record, dict) or field not in record or record[field] is None:
        raise DatasetError(f"{path}: entry {index} has no field {field!r}; expected {layout}")
    return record[field]


def require_answers(record: Any, field: str, path: Path, index: int | str, layout: str) -> tuple[str, ...]:
    """A non-empty list of answer strings (test splits ship without answers: say so)."""
    if isinstance(record, dict) and field not in record:
        raise DatasetError(
            f"{path}: entry {index} has no field {field!r}, as in a test split whose answers are not "
            f"public; use a split with answers. Expected {layout}"
        )
    return answer_list(require(record, field, path, index, layout), f"{path}: entry {index} field {field!r}")


def first_existing(candidates: Sequence[Path], what: str, layout: str) -> Path:
    """The first candidate that exists; the error lists every place that was looked at."""
    for candidate in candidates:
        if candidate.exists():
            return candidate
    listed = ", ".join(str(c) for c in candidates)
    raise DatasetError(f"missing {what}: looked for {listed}; expected {layout}")


def require_folder(folder: Path, layout: str) -> Path:
    if not folder.is_dir():
        raise DatasetError(f"missing image folder {folder}; expected {layout}")
    return folder


def image_root(candidates: Sequence[Path], first_image: str, layout: str) -> Path:
    """The folder that the annotation's relative image paths start from: the first candidate
    holding the first sample's image (releases and their mirrors put the json in different
    places relative to the images)."""
    for candidate in candidates:
        if (candidate / first_image).is_file():
            return candidate
    listed = ", ".join(str(c / first_image) for c in candidates)
    raise DatasetError(f"missing images: looked for {listed}; expected {layout}")


def refuse_duplicate_ids(ids: Iterable[tuple[str, str]], what: str = "sample id") -> None:
    """Refuse an id met twice: two samples with one id would share one stored prediction.

    ``ids`` are (id, where) pairs; ``where`` names the file or line the id was read from and
    starts the message, ``what`` names the id (``"sample id"``, or ``"id"`` after a line number).
    """
    seen: set[str] = set()
    for sample_id, where in ids:
        if sample_id in seen:
            raise DatasetError(f"{where}: {what} {sample_id!r} occurs twice; ids must be unique")
        seen.add(sample_id)


def common_root(paths: Iterable[Path]) -> Path:
    """The deepest folder holding every path (dataset fingerprints name files relative to it)."""
    absolute = [os.path.abspath(p) for p in paths]
    root = Path(os.path.commonpath(absolute)) if absolute else Path(".")
    return root.parent if any(Path(p) == root and Path(p).is_file() for p in absolute) else root


def absolute_path(path: Path) -> Path:
    """Absolute and normalised (``..`` resolved without following links)."""
    return Path(os.path.abspath(path))
