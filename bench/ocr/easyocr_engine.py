"""EasyOCR (CRAFT detection, CRNN recognition on torch), from a local model folder only.

EasyOCR downloads its weights on first use unless told otherwise; here it is always told
otherwise (``download_enabled=False``), so a run never reaches the network and the weights that
produced a number are the ones in the named folder. Optional: ``pip install 'thbench[easyocr]'``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from bench.ocr.base import OcrEngine, OcrLine, OcrText, register_ocr_engine

DETECTOR_FILE = "craft_mlt_25k.pth"
#: Recogniser file EasyOCR's default ("standard") network picks for a language.
RECOGNISER_FILES = {
    "en": "english_g2.pth",
    "ch_sim": "zh_sim_g2.pth",
    "ja": "japanese_g2.pth",
    "ko": "korean_g2.pth",
    "te": "telugu_g2.pth",
    "kn": "kannada_g2.pth",
}
LATIN_RECOGNISER = "latin_g2.pth"


class EasyOcrUnavailable(ImportError):
    """EasyOCR or its model folder is missing; the message says which and how to fix it."""


@dataclass(frozen=True)
class EasyOcrOptions:
    #: Folder holding the detector and recogniser weights (EasyOCR's ``model_storage_directory``).
    model_dir: Path | None = None
    #: ``+``-joined EasyOCR language codes, e.g. ``en`` or ``ch_sim+en``.
    languages: str = "en"
    gpu: bool = False
    batch_size: int = 16


@register_ocr_engine("easyocr")
class EasyOcrEngine(OcrEngine):
    Options = EasyOcrOptions

    def __init__(self, options: EasyOcrOptions | None = None) -> None:
        super().__init__(options)
        self._languages = [code for code in self.options.languages.split("+") if code]
        self._model_dir = check_model_dir(self.options.model_dir, self._languages)
        try:
            easyocr = importlib.import_module("easyocr")
        except ImportError as error:
            raise EasyOcrUnavailable(
                "OCR engine 'easyocr' needs the easyocr package, which is not installed: "
                "pip install 'thbench[easyocr]' (it brings torchvision; keep your torch with -c constraints.txt)"
            ) from error
        self._package_version = importlib.metadata.version("easyocr")
        self._reader = easyocr.Reader(
            self._languages,
            gpu=self.options.gpu,
            model_storage_directory=str(self._model_dir),
            download_enabled=False,
            verbose=False,
        )

    def read_page(self, image: Image.Image) -> list[OcrLine]:
        results = self._reader.readtext(_rgb(image), detail=1, paragraph=False, batch_size=self.options.batch_size)
        return [OcrLine(str(text), float(confidence), _polygon(box)) for box, text, confidence in results]

    def read_crops(self, crops: Sequence[Image.Image]) -> list[OcrText]:
        texts = []
        for crop in crops:
            grey = np.asarray(crop.convert("L"))
            results = self._reader.recognize(grey, detail=1, paragraph=False, batch_size=self.options.batch_size)
            words = [(str(text), float(confidence)) for _, text, confidence in results]
            text = " ".join(word for word, _ in words)
            confidence = sum(c for _, c in words) / len(words) if words else 0.0
            texts.append(OcrText(text, confidence))
        return texts

    def version(self) -> str:
        weights = sorted(path.name for path in self._model_dir.glob("*.pth"))
        return f"easyocr {self._package_version}, models {', '.join(weights)} in {self._model_dir}"


def required_files(languages: Sequence[str]) -> list[str]:
    files = [DETECTOR_FILE]
    for language in languages:
        name = RECOGNISER_FILES.get(language, LATIN_RECOGNISER)
        if name not in files:
            files.append(name)
    return files


def check_model_dir(model_dir: Path | None, languages: Sequence[str]) -> Path:
    """The model folder, once it holds the detector and the recognisers for ``languages``."""
    files = required_files(languages)
    if model_dir is None:
        raise EasyOcrUnavailable(
            "OCR engine 'easyocr' needs a local model folder: pass --ocr-args model_dir=PATH, a folder "
            f"holding {', '.join(files)} (EasyOCR's model files; it never downloads them here)"
        )
    folder = Path(model_dir).expanduser()
    if not folder.is_dir():
        raise EasyOcrUnavailable(f"EasyOCR model folder {folder} does not exist; it must hold {', '.join(files)}")
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise EasyOcrUnavailable(
            f"EasyOCR model folder {folder} lacks {', '.join(missing)}; copy them from EasyOCR's model "
            "release (or from ~/.EasyOCR/model on a machine where EasyOCR has run)"
        )
    return folder


def _rgb(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB")))


def _polygon(points: Any) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in np.asarray(points, dtype=np.float64).reshape(-1, 2))
