"""Grounding annotations (``tasks.grounding`` JSONL) from word-level OCR ground truth.

Readers, one per source format, each returning the words of one image:

``icdar2015``
    ``gt_img_<n>.txt`` beside ``img_<n>.jpg`` (Challenge 4, Incidental Scene Text): one word
    per line, ``x1,y1,x2,y2,x3,y3,x4,y4,transcription`` (UTF-8, often with a byte-order
    mark); the transcription may itself hold commas; ``###`` marks a don't-care region.
``totaltext``
    ``poly_gt_img<n>.txt`` (or ``gt_img<n>.txt``) beside ``img<n>.jpg``, the txt release of
    Total-Text: ``x: [[x1 x2 ...]], y: [[y1 y2 ...]], ornt: [u'c'], transcriptions: [u'text']``
    per word, a record sometimes wrapped over several lines; ``#`` marks don't care.
``mario``
    MARIO-10M / MARIO-LAION sample folders (TextDiffuser, github.com/microsoft/unilm
    ``textdiffuser``): ``<folder>/ocr.txt`` with one word per line,
    ``WORD x1,y1,x2,y2,x3,y3,x4,y4 confidence``, coordinates in the 512x512 image the release
    asks for, and the image as ``<folder>/image.jpg``. Coordinates are rescaled to the image's
    actual size. TextHarmony trains its "Where is" grounding on these files.

The output folder holds ``annotations.jsonl`` and ``images/``, relative links to the source
images (nothing is copied), so it reads as a dataset whose images lie inside it.

Which words become questions: don't-care regions and words without a letter or digit are
left out, and so is every word that occurs more than once in its image (compared without case),
since "Where is X?" would have more than one right answer.

``convert_main(argv)`` is the command-line entry (``thbench convert grounding``)::

    convert grounding --format icdar2015 --images ch4_test_images \\
        --annotations Challenge4_Test_Task1_GT --output data/grounding-icdar2015
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from PIL import Image

from bench.store import atomic_write
from bench.task import DatasetError
from bench.types import Point, polygon_bounds

logger = logging.getLogger(__name__)

MARIO_FRAME = 512
#: Folder of the output that links to the source images.
IMAGE_LINKS = "images"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", ".gif", ".bmp")


@dataclass(frozen=True)
class Word:
    text: str
    polygon: tuple[Point, ...]
    #: A don't-care region ("###" in ICDAR, "#" in Total-Text).
    ignore: bool = False


@dataclass(frozen=True)
class ImageWords:
    #: Unique per image; sample ids are ``<key>-<word index>``.
    key: str
    image: Path
    words: tuple[Word, ...]


# -- readers ------------------------------------------------------------------------------------

def read_icdar2015(path: Path) -> list[Word]:
    words = []
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(",", 8)
        if len(parts) < 9:
            raise DatasetError(f"{path}:{number}: expected x1,y1,x2,y2,x3,y3,x4,y4,transcription")
        try:
            coordinates = [float(v) for v in parts[:8]]
        except ValueError:
            raise DatasetError(f"{path}:{number}: the first 8 fields must be numbers (x1,y1,...,x4,y4)") from None
        text = parts[8]
        words.append(Word(text, _points(coordinates), ignore=text == "###"))
    return words


_TOTALTEXT_RECORD = re.compile(
    r"x:\s*\[\[(?P<x>[^\]]*)\]\],\s*y:\s*\[\[(?P<y>[^\]]*)\]\],\s*"
    r"ornt:\s*\[u?(?P<oq>['\"])(?P<ornt>.*?)(?P=oq)\],\s*"
    r"transcriptions:\s*\[u?(?P<tq>['\"])(?P<text>.*)(?P=tq)\]\s*$",
    re.DOTALL,
)


def read_totaltext(path: Path) -> list[Word]:
    words = []
    for number, record in _totaltext_records(path):
        match = _TOTALTEXT_RECORD.match(record)
        if not match:
            raise DatasetError(
                f"{path}:{number}: expected x: [[...]], y: [[...]], ornt: [u'c'], transcriptions: [u'text']"
            )
        try:
            xs = [float(v) for v in match["x"].split()]
            ys = [float(v) for v in match["y"].split()]
        except ValueError:
            raise DatasetError(f"{path}:{number}: x and y must be lists of numbers") from None
        if len(xs) != len(ys) or len(xs) < 3:
            raise DatasetError(f"{path}:{number}: x and y must list the same number (>= 3) of coordinates")
        text = match["text"]
        words.append(Word(text, tuple(zip(xs, ys)), ignore=text == "#" or match["ornt"] == "#"))
    return words


def read_mario_ocr(path: Path, image_size: tuple[int, int]) -> list[Word]:
    """Words of a MARIO ``ocr.txt``, rescaled from the 512x512 frame to ``image_size``. The
    word is everything before the last two fields (TextHarmony splits on the first space;
    the two agree for the release's words, which hold no spaces)."""
    sx, sy = image_size[0] / MARIO_FRAME, image_size[1] / MARIO_FRAME
    words = []
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        parts = line.strip().rsplit(" ", 2)
        if len(parts) != 3:
            raise DatasetError(f"{path}:{number}: expected WORD x1,y1,...,x4,y4 confidence")
        text, coordinates, _confidence = parts
        try:
            values = [float(v) for v in coordinates.split(",")]
        except ValueError:
            raise DatasetError(f"{path}:{number}: coordinates must be comma-separated numbers") from None
        if len(values) < 6 or len(values) % 2:
            raise DatasetError(f"{path}:{number}: expected an even number (>= 6) of coordinates")
        words.append(Word(text, tuple((x * sx, y * sy) for x, y in _points(values))))
    return words


# -- collecting images ---------------------------------------------------------------------------

def icdar2015_images(images: Path, annotations: Path) -> list[ImageWords]:
    return _paired(images, annotations, lambda stem: [f"gt_{stem}.txt"], read_icdar2015)


def totaltext_images(images: Path, annotations: Path) -> list[ImageWords]:
    return _paired(images, annotations, lambda stem: [f"poly_gt_{stem}.txt", f"gt_{stem}.txt"], read_totaltext)


def mario_images(root: Path, image_name: str = "image.jpg", index_file: Path | None = None) -> list[ImageWords]:
    """Every ``<folder>/ocr.txt`` under ``root`` whose image exists; ``index_file`` (one
    ``<parent>_<folder>`` key per line, as in ``mario-laion-test-index.txt``) keeps only those."""
    wanted = None
    if index_file is not None:
        wanted = {line.strip() for line in _lines(index_file) if line.strip()}
    found = []
    for ocr in sorted(root.rglob("ocr.txt")):
        folder = ocr.parent
        if wanted is not None and f"{folder.parent.name}_{folder.name}" not in wanted:
            continue
        image = folder / image_name
        if not image.is_file():
            logger.debug("no %s beside %s; skipped", image_name, ocr)
            continue
        key = f"{folder.parent.name}_{folder.name}"
        found.append(ImageWords(key, image, tuple(read_mario_ocr(ocr, _image_size(image)))))
    if not found:
        raise DatasetError(f"no MARIO sample folder with ocr.txt and {image_name} under {root}")
    return found


# -- writing ----------------------------------------------------------------------------------------

def linked_image(item: ImageWords) -> str:
    """Where the output folder refers to an image: a link inside it (``images/<key><suffix>``),
    so that the converted folder is a dataset whose images all lie inside it, without copies."""
    return f"{IMAGE_LINKS}/{item.key}{item.image.suffix}"


def grounding_entries(images: Iterable[ImageWords], min_chars: int = 1) -> list[dict]:
    """JSONL entries for the words worth asking about, each naming its image's link."""
    entries = []
    for item in images:
        usable = [
            (index, word)
            for index, word in enumerate(item.words)
            if not word.ignore and len(word.text.strip()) >= min_chars and any(c.isalnum() for c in word.text)
        ]
        counts: dict[str, int] = {}
        for word in item.words:
            key = word.text.strip().lower()
            counts[key] = counts.get(key, 0) + 1
        size = _image_size(item.image)
        for index, word in usable:
            if counts[word.text.strip().lower()] > 1:
                continue
            entries.append(
                {
                    "id": f"{item.key}-{index}",
                    "image": linked_image(item),
                    "text": word.text.strip(),
                    "box": [round(v, 3) for v in polygon_bounds(word.polygon)],
                    "polygon": [[round(x, 3), round(y, 3)] for x, y in word.polygon],
                    "image_size": list(size),
                }
            )
    return entries


def link_images(images: Iterable[ImageWords], output: Path) -> None:
    """Relative links, so that the source images and the output can move together."""
    for item in images:
        link = output / linked_image(item)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(item.image.absolute(), link.parent.absolute()))


def write_annotations(entries: Sequence[dict], output: Path, name: str = "annotations.jsonl") -> Path:
    path = output / name
    atomic_write(path, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries))
    return path


def convert_main(argv: Sequence[str] | None = None) -> int:
    """``convert grounding``: write ``<output>/annotations.jsonl`` from OCR ground truth."""
    parser = argparse.ArgumentParser(prog="thbench convert grounding", description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", required=True, choices=["icdar2015", "totaltext", "mario"])
    parser.add_argument("--images", type=Path, help="image folder (icdar2015, totaltext)")
    parser.add_argument("--annotations", type=Path, help="ground-truth folder (icdar2015, totaltext); MARIO sample root (mario)")
    parser.add_argument("--output", type=Path, required=True, help="folder for annotations.jsonl (the task's data_dir)")
    parser.add_argument("--image-name", default="image.jpg", help="image file in each MARIO folder")
    parser.add_argument("--index-file", type=Path, help="MARIO: keep only the folders listed (e.g. mario-laion-test-index.txt)")
    parser.add_argument("--min-chars", type=int, default=1, help="shortest word to ask about")
    args = parser.parse_args(argv)
    if args.annotations is None or (args.format != "mario" and args.images is None):
        parser.error("--annotations is required, and --images too for icdar2015 and totaltext")
    if args.format == "icdar2015":
        images = icdar2015_images(args.images, args.annotations)
    elif args.format == "totaltext":
        images = totaltext_images(args.images, args.annotations)
    else:
        images = mario_images(args.annotations, args.image_name, args.index_file)
    entries = grounding_entries(images, args.min_chars)
    link_images(images, args.output)
    path = write_annotations(entries, args.output)
    logger.info("wrote %d questions about %d images to %s", len(entries), len(images), path)
    return 0


# -- helpers -------------------------------------------------------------------------------------------

def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"missing annotation file {path}") from None
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path} is not UTF-8 text ({error})") from None


def _points(values: Sequence[float]) -> tuple[Point, ...]:
    return tuple(zip(values[0::2], values[1::2]))


def _totaltext_records(path: Path) -> list[tuple[int, str]]:
    """Records joined from their lines: a record starts at a line beginning with ``x:``."""
    records: list[tuple[int, str]] = []
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("x:") or not records:
            records.append((number, line.strip()))
        else:
            start, text = records[-1]
            records[-1] = (start, f"{text} {line.strip()}")
    return records


def _paired(images: Path, annotations: Path, names: Callable[[str], list[str]], read: Callable[[Path], list[Word]]) -> list[ImageWords]:
    if not images.is_dir():
        raise DatasetError(f"missing image folder {images}")
    if not annotations.is_dir():
        raise DatasetError(f"missing ground-truth folder {annotations}")
    found = []
    for image in sorted(p for p in images.iterdir() if p.suffix in _IMAGE_SUFFIXES):
        candidates = [annotations / name for name in names(image.stem)]
        gt = next((c for c in candidates if c.is_file()), None)
        if gt is None:
            raise DatasetError(f"no ground truth for {image}: looked for {', '.join(map(str, candidates))}")
        found.append(ImageWords(image.stem, image, tuple(read(gt))))
    if not found:
        raise DatasetError(f"no images ({', '.join(_IMAGE_SUFFIXES)}) in {images}")
    return found


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except (FileNotFoundError, OSError) as error:
        raise DatasetError(f"cannot read image {path} ({error})") from None
