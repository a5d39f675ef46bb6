"""Predictions made by other tools, read in the formats those tools write, matched to a task's
sample ids.

Each reader returns one entry per sample id: ``{"output": text}`` for answer tasks or
``{"images": [paths]}`` for generation tasks (paths relative to ``Predictions.image_root``),
optionally with the ``error`` a thbench record carried. Formats:

- ``thbench``: thbench record files, or ``{"id", "output"|"images"}`` per line (JSON Lines);
- ``evalai``: the EvalAI TextVQA/VQA submission, ``[{"question_id", "answer"}]`` (also ST-VQA's);
- ``rrc``: the RRC DocVQA/InfoVQA submission, ``[{"questionId", "answer"}]``;
- ``chartqa``: ``[{"imgname", "query", "prediction"}]``, matched by image name and question;
- ``lmms-eval``: ``--log_samples`` output, one ``{"doc_id", "doc", "filtered_resps"}`` per line
  (or a JSON file with a ``logs`` list), matched by the task's id field inside ``doc``;
- ``vlmevalkit``: a result ``.xlsx``/``.tsv`` with ``index`` and ``prediction`` columns,
  matched by ``index`` as sample id, else by row order checked against the ``question`` column;
- ``anytext-images``: the folder AnyText's evaluation scripts write, ``<stem>_<i>.jpg`` per item;
- ``mario-images``: the folder TextDiffuser's MARIO-Eval scripts read,
  ``<subset>/images_<i>/<index>_<i>.jpg`` (or ``.png``).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from bench.jsonl import iter_json_lines
from bench.records import UNSCORED
from bench.task import Task

FORMATS = ("auto", "thbench", "evalai", "rrc", "chartqa", "lmms-eval", "vlmevalkit", "anytext-images", "mario-images")
IMAGE_SUFFIXES = (".jpg", ".png")


class PredictionFormatError(ValueError):
    """The predictions cannot be read in the format asked for (or any format, for ``auto``)."""


@dataclass(frozen=True)
class Predictions:
    by_id: dict[str, dict[str, Any]]
    #: Where the entries' image paths start.
    image_root: Path
    format: str


def read_predictions(path: Path, task: Task, format: str = "auto") -> Predictions:
    if not path.exists():
        raise FileNotFoundError(f"no predictions at {path}")
    chosen = detect_format(path) if format == "auto" else format
    if chosen not in _READERS:
        raise PredictionFormatError(f"unknown predictions format {format!r}; known: {', '.join(FORMATS)}")
    if path.is_dir() != (chosen in ("anytext-images", "mario-images")):
        kind = "a folder" if path.is_dir() else "a file"
        raise PredictionFormatError(f"{path} is {kind}, which the {chosen} format is not")
    by_id = _READERS[chosen](path, task)
    return Predictions(by_id, _image_root(path), chosen)


def detect_format(path: Path) -> str:
    """The format of ``path``, from its layout and its first entries."""
    if path.is_dir():
        if any(child.is_dir() and any(child.glob("images_*")) for child in path.iterdir()):
            return "mario-images"
        if any(_numbered_image(child.name) for child in path.iterdir()):
            return "anytext-images"
        raise PredictionFormatError(
            f"{path} is a folder but neither AnyText's (<name>_<i>.jpg) nor MARIO-Eval's "
            "(<subset>/images_<i>/<index>_<i>.jpg) layout of generated images"
        )
    if path.suffix.lower() in (".xlsx", ".tsv"):
        return "vlmevalkit"
    content = _json_or_none(path)
    if isinstance(content, dict) and isinstance(content.get("logs"), list):
        return "lmms-eval"
    if content is None or isinstance(content, dict):  # JSON Lines (one line is also one document)
        first = next(iter_json_lines(path), (0, None))[1]
        return "lmms-eval" if isinstance(first, dict) and "doc_id" in first else "thbench"
    if isinstance(content, list) and content and isinstance(content[0], dict):
        keys = set(content[0])
        for name, needed in (("rrc", {"questionId", "answer"}), ("evalai", {"question_id", "answer"}),
                             ("chartqa", {"imgname", "query", "prediction"})):
            if needed <= keys:
                return name
        if "id" in keys:
            return "thbench"
    raise PredictionFormatError(f"cannot tell the format of {path}; name it with --format ({', '.join(FORMATS[1:])})")


# -- readers ---------------------------------------------------------------------------------------

def _thbench(path: Path, task: Task) -> dict[str, dict[str, Any]]:
    content = _json_or_none(path)
    if isinstance(content, list):
        entries: list[tuple[str, Any]] = [(f"{path}: entry {i}", e) for i, e in enumerate(content)]
    else:
        entries = [(f"{path}:{number}", entry) for number, entry in iter_json_lines(path)]
    by_id: dict[str, dict[str, Any]] = {}
    unscored: set[str] = set()
    for where, entry in entries:
        sample_id = entry.get("id", entry.get("sample_id")) if isinstance(entry, dict) else None
        if sample_id is None:
            raise PredictionFormatError(f'{where} has no "id"; each line needs the sample id it answers')
        _check_entry(entry, where)
        sample_id = str(sample_id)
        # A run writes a sample's record when its images are stored and again with its scores:
        # the first counts only when the second never came (the run stopped in between).
        if entry.get("scoring_fingerprint") == UNSCORED:
            if sample_id in by_id:
                continue
            unscored.add(sample_id)
        elif sample_id in unscored:
            unscored.discard(sample_id)
            del by_id[sample_id]
        _add(by_id, sample_id, entry, where)
    return by_id


def _answer_list(id_field: str) -> Callable[[Path, Task], dict[str, dict[str, Any]]]:
    def read(path: Path, task: Task) -> dict[str, dict[str, Any]]:
        by_id: dict[str, dict[str, Any]] = {}
        for index, entry in enumerate(_json_list(path)):
            where = f"{path}: entry {index}"
            if not isinstance(entry, dict) or id_field not in entry or "answer" not in entry:
                raise PredictionFormatError(f'{where} needs "{id_field}" and "answer"')
            _add(by_id, str(entry[id_field]), {"output": _text(entry["answer"], where, "answer")}, where)
        return by_id

    return read


def _chartqa(path: Path, task: Task) -> dict[str, dict[str, Any]]:
    index = _unique_index(task, lambda sample: (Path(str(sample.image)).name, str(sample.question)), "image name and question")
    by_id: dict[str, dict[str, Any]] = {}
    for number, entry in enumerate(_json_list(path)):
        where = f"{path}: entry {number}"
        if not isinstance(entry, dict) or not {"imgname", "query", "prediction"} <= set(entry):
            raise PredictionFormatError(f'{where} needs "imgname", "query" and "prediction"')
        key = (str(entry["imgname"]), str(entry["query"]))
        _add(by_id, index.get(key, f"{key[0]} / {key[1]}"), {"output": _text(entry["prediction"], where, "prediction")}, where)
    return by_id


def _lmms_eval(path: Path, task: Task) -> dict[str, dict[str, Any]]:
    content = _json_or_none(path)
    if isinstance(content, dict) and isinstance(content.get("logs"), list):
        entries: list[tuple[str, Any]] = [(f"{path}: log {i}", e) for i, e in enumerate(content["logs"])]
    else:
        entries = [(f"{path}:{number}", entry) for number, entry in iter_json_lines(path)]
    id_field = getattr(task, "hf_id_column", None)
    by_question = None
    by_id: dict[str, dict[str, Any]] = {}
    for where, entry in entries:
        if not isinstance(entry, dict) or "doc" not in entry or not ({"filtered_resps", "resps"} & set(entry)):
            raise PredictionFormatError(f'{where} is not an lmms-eval logged sample ("doc_id", "doc", "filtered_resps")')
        doc = entry["doc"] if isinstance(entry["doc"], dict) else {}
        if id_field and doc.get(id_field) is not None:
            sample_id = str(doc[id_field])
        elif "question" in doc:
            by_question = by_question or _unique_index(task, lambda sample: str(sample.question), "question")
            sample_id = by_question.get(str(doc["question"]), f"question {doc['question']!r}")
        else:
            raise PredictionFormatError(f"{where}: its doc has neither {id_field or 'an id field'!r} nor 'question' to match a sample by")
        response = _first_text(entry.get("filtered_resps", entry.get("resps")))
        if response is None:
            raise PredictionFormatError(f"{where}: filtered_resps holds no text answer")
        _add(by_id, sample_id, {"output": response}, where)
    return by_id


def _vlmevalkit(path: Path, task: Task) -> dict[str, dict[str, Any]]:
    rows = _table_rows(path)
    if not rows or not {"index", "prediction"} <= set(rows[0]):
        raise PredictionFormatError(f"{path} needs the columns 'index' and 'prediction' (a VLMEvalKit result file)")
    samples = list(task.load_samples())
    ids = {str(sample.id) for sample in samples}
    indexes = [_cell(row["index"]) for row in rows]
    if not set(indexes) & ids:
        indexes = _ids_by_order(path, rows, samples)
    by_id: dict[str, dict[str, Any]] = {}
    for number, (sample_id, row) in enumerate(zip(indexes, rows), start=2):
        prediction = row["prediction"]
        _add(by_id, sample_id, {"output": "" if prediction is None else _cell(prediction)}, f"{path}: row {number}")
    return by_id


def _anytext_images(path: Path, task: Task) -> dict[str, dict[str, Any]]:
    by_stem: dict[str, list[tuple[int, str]]] = {}
    for child in path.iterdir():
        match = _numbered_image(child.name)
        if match:
            by_stem.setdefault(match[0], []).append((match[1], child.name))
    by_id: dict[str, dict[str, Any]] = {}
    for sample in task.load_samples():
        # The release names images after the part of ``img_name`` before its first dot.
        found = sorted(by_stem.pop(str(sample.id).split(".")[0], []))
        if found:
            by_id[str(sample.id)] = {"images": [name for _, name in found]}
    for stem in sorted(by_stem):
        by_id[f"{stem} (images {', '.join(name for _, name in by_stem[stem])})"] = {"images": []}
    return by_id


def _mario_images(path: Path, task: Task) -> dict[str, dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for subset in sorted(child for child in path.iterdir() if child.is_dir()):
        seeds = sorted((int(folder.name.split("_")[1]), folder) for folder in subset.glob("images_*")
                       if folder.is_dir() and folder.name.split("_")[1].isdigit())
        for seed, folder in seeds:
            for image in sorted(folder.iterdir()):
                match = re.fullmatch(rf"(\d+)_{seed}(\.jpg|\.png)", image.name)
                if match:
                    entry = by_id.setdefault(f"{subset.name}/{int(match[1])}", {"images": []})
                    entry["images"].append(str(image.relative_to(path)))
    return by_id


_READERS: dict[str, Callable[[Path, Task], dict[str, dict[str, Any]]]] = {
    "thbench": _thbench,
    "evalai": _answer_list("question_id"),
    "rrc": _answer_list("questionId"),
    "chartqa": _chartqa,
    "lmms-eval": _lmms_eval,
    "vlmevalkit": _vlmevalkit,
    "anytext-images": _anytext_images,
    "mario-images": _mario_images,
}


# -- helpers ----------------------------------------------------------------------------------------

def _image_root(path: Path) -> Path:
    """thbench's own record files (``predictions/<task>/<writer>.jsonl``, or
    ``predictions/<task>.jsonl`` in folders of the earlier layout) store image paths relative
    to the run folder; image folders hold their own paths."""
    if path.is_dir():
        return path
    if path.parent.name == "predictions":
        return path.parent.parent
    if path.parent.parent.name == "predictions":
        return path.parent.parent.parent
    return path.parent


def _json_or_none(path: Path) -> Any:
    """The file's JSON value, or None when it is not one JSON document (JSON Lines)."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            return json.load(handle)
    except json.JSONDecodeError:
        return None
    except RecursionError:
        raise PredictionFormatError(f"{path} nests its values too deeply to be read") from None
    except UnicodeDecodeError as error:
        raise PredictionFormatError(f"{path} is not UTF-8 text ({error})") from None


def _json_list(path: Path) -> list[Any]:
    content = _json_or_none(path)
    if not isinstance(content, list):
        raise PredictionFormatError(f"{path} is not a JSON list of predictions")
    return content


def _check_entry(entry: Mapping[str, Any], where: str) -> None:
    if "output" in entry and entry["output"] is not None and not isinstance(entry["output"], str):
        raise PredictionFormatError(f'{where}: "output" must be a string, got {type(entry["output"]).__name__}')
    images = entry.get("images", [])
    if not isinstance(images, list) or not all(isinstance(image, str) for image in images):
        raise PredictionFormatError(f'{where}: "images" must be a list of file paths')


def _text(value: Any, where: str, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise PredictionFormatError(f'{where}: "{field}" must be a string, got {type(value).__name__}')


def _first_text(value: Any) -> str | None:
    """lmms-eval keeps each response as a list (per filter, per repeat): the first string."""
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _add(by_id: dict[str, dict[str, Any]], sample_id: str, entry: dict[str, Any], where: str) -> None:
    if sample_id in by_id:
        raise PredictionFormatError(f"{where} answers sample {sample_id!r} a second time; each sample needs one prediction")
    by_id[sample_id] = entry


def _unique_index(task: Task, key: Callable[[Any], Any], what: str) -> dict[Any, str]:
    index: dict[Any, str] = {}
    for sample in task.load_samples():
        value = key(sample)
        if value in index:
            raise PredictionFormatError(f"two samples of {task.name} share the {what} {value!r}; these predictions cannot tell them apart")
        index[value] = str(sample.id)
    return index


def _numbered_image(name: str) -> tuple[str, int] | None:
    match = re.fullmatch(r"(.+)_(\d+)(\.jpg|\.png)", name)
    return (match[1], int(match[2])) if match else None


def _table_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".tsv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle, delimiter="\t"))
    import pandas as pd

    try:
        frame = pd.read_excel(path, dtype=object)
    except ImportError as error:
        raise ImportError(f"reading {path} needs openpyxl (pip install openpyxl), or save the sheet as .tsv") from error
    return [{str(k): (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def _cell(value: Any) -> str:
    """A table cell as text; integral floats (spreadsheets store ids as numbers) without '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _ids_by_order(path: Path, rows: Sequence[Mapping[str, Any]], samples: Sequence[Any]) -> list[str]:
    """VLMEvalKit numbers rows in the dataset's order; trusted only when the questions agree."""
    if len(rows) != len(samples) or "question" not in rows[0]:
        raise PredictionFormatError(
            f"{path}: no 'index' is a sample id of the task, and the rows cannot be matched by order "
            f"({len(rows)} rows, {len(samples)} samples{'' if 'question' in rows[0] else ', no question column'})"
        )
    for number, (row, sample) in enumerate(zip(rows, samples), start=2):
        if str(row["question"]).strip() != str(sample.question).strip():
            raise PredictionFormatError(
                f"{path}: row {number} asks {row['question']!r} where sample {sample.id!r} asks {sample.question!r}; "
                "the rows are not in the dataset's order"
            )
    return [str(sample.id) for sample in samples]
