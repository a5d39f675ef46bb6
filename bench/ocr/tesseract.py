"""Tesseract, through its command-line program (Debian package ``tesseract-ocr``).

No Python binding is needed: images go through temporary PNG files and results come back as
Tesseract's TSV. A batch of line crops is one process reading a list of files, one page per
crop, so start-up is paid once per batch.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from PIL import Image

from bench.ocr.base import OcrEngine, OcrLine, OcrText, OcrWord, register_ocr_engine

INSTALL_HINT = "install it with `apt-get install tesseract-ocr` (Debian/Ubuntu) or `brew install tesseract`"


class TesseractUnavailable(FileNotFoundError):
    """The ``tesseract`` program is not on the machine."""


@dataclass(frozen=True)
class TesseractOptions:
    #: Language data, ``+``-joined as Tesseract takes it (``eng``, ``eng+chi_sim``).
    lang: str = "eng"
    #: Page segmentation for whole images; 11 (sparse text) finds scattered words best.
    page_psm: int = 11
    #: Page segmentation for line crops; 7 treats the image as one text line.
    line_psm: int = 7
    #: 1: LSTM recogniser only; 3: Tesseract's default choice.
    oem: int = 1
    binary: str = "tesseract"
    timeout_s: float = 120.0


@register_ocr_engine("tesseract")
class TesseractEngine(OcrEngine):
    Options = TesseractOptions

    def __init__(self, options: TesseractOptions | None = None) -> None:
        super().__init__(options)
        found = shutil.which(self.options.binary)
        if found is None:
            raise TesseractUnavailable(f"OCR engine 'tesseract': program {self.options.binary!r} not found on PATH; {INSTALL_HINT}")
        self._binary = found
        self._version = self._run(["--version"]).splitlines()[0].strip()
        available = set(self._run(["--list-langs"]).splitlines()[1:])
        missing = [lang for lang in self.options.lang.split("+") if lang not in available]
        if missing:
            raise TesseractUnavailable(
                f"OCR engine 'tesseract' has no language data for {', '.join(missing)} "
                f"(installed: {', '.join(sorted(available)) or 'none'}); install e.g. "
                f"`apt-get install {' '.join('tesseract-ocr-' + lang.replace('_', '-').lower() for lang in missing)}`"
            )

    def read_page(self, image: Image.Image) -> list[OcrLine]:
        with tempfile.TemporaryDirectory(prefix="thbench-tesseract-") as folder:
            path = Path(folder) / "page.png"
            image.convert("RGB").save(path)
            rows = self._recognise(path, self.options.page_psm)
        return _lines(rows)

    def read_crops(self, crops: Sequence[Image.Image]) -> list[OcrText]:
        if not crops:
            return []
        with tempfile.TemporaryDirectory(prefix="thbench-tesseract-") as folder:
            paths = []
            for index, crop in enumerate(crops):
                path = Path(folder) / f"{index:06d}.png"
                crop.convert("RGB").save(path)
                paths.append(path)
            listing = Path(folder) / "pages.txt"
            listing.write_text("".join(f"{path}\n" for path in paths), encoding="utf-8")
            rows = self._recognise(listing, self.options.line_psm)
        by_page: dict[int, list[dict[str, str]]] = defaultdict(list)
        for row in rows:
            by_page[int(row["page_num"])].append(row)
        results = []
        for page in range(1, len(crops) + 1):
            words = _words(by_page.get(page, []))
            text = " ".join(word.text for word in words)
            confidence = sum(word.confidence for word in words) / len(words) if words else 0.0
            results.append(OcrText(text, confidence))
        return results

    def version(self) -> str:
        return f"{self._version}, lang {self.options.lang}"

    def _recognise(self, source: Path, psm: int) -> list[dict[str, str]]:
        output = self._run([str(source), "stdout", "-l", self.options.lang, "--oem", str(self.options.oem), "--psm", str(psm), "tsv"])
        return list(csv.DictReader(io.StringIO(output), delimiter="\t", quoting=csv.QUOTE_NONE))

    def _run(self, arguments: list[str]) -> str:
        completed = subprocess.run(
            [self._binary, *arguments], capture_output=True, text=True, timeout=self.options.timeout_s, check=False
        )
        if completed.returncode != 0:
            raise RuntimeError(f"tesseract {' '.join(arguments)} failed ({completed.returncode}): {completed.stderr.strip()}")
        return completed.stdout


def _words(rows: Sequence[dict[str, str]]) -> list[OcrWord]:
    words = []
    for row in rows:
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text:
            continue
        left, top, width, height = (float(row[key]) for key in ("left", "top", "width", "height"))
        polygon = ((left, top), (left + width, top), (left + width, top + height), (left, top + height))
        words.append(OcrWord(text, max(float(row["conf"]), 0.0) / 100.0, polygon))
    return words


def _lines(rows: Sequence[dict[str, str]]) -> list[OcrLine]:
    """Words grouped by Tesseract's (block, paragraph, line), in its reading order."""
    grouped: dict[tuple[str, str, str, str], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        grouped[(row["page_num"], row["block_num"], row["par_num"], row["line_num"])].append(row)
    lines = []
    for line_rows in grouped.values():
        words = _words(line_rows)
        if not words:
            continue
        xs = [x for word in words for x, _ in word.polygon]
        ys = [y for word in words for _, y in word.polygon]
        polygon = ((min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys)))
        confidence = sum(word.confidence for word in words) / len(words)
        lines.append(OcrLine(" ".join(word.text for word in words), confidence, polygon, tuple(words)))
    return lines
