"""RapidOCR (PP-OCR detection and recognition on onnxruntime), the default engine.

Its models ship inside the wheel, so it works offline on a fresh machine.
"""

from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from PIL import Image

from bench.ocr.base import OcrEngine, OcrLine, OcrText, OcrWord, register_ocr_engine


@dataclass(frozen=True)
class RapidOcrOptions:
    #: ``max`` caps the longer side at ``det_limit_side_len``: fast on large images and
    #: accurate for the large glyphs of generated images.
    det_limit_type: str = "max"
    det_limit_side_len: int = 960
    use_angle_cls: bool = False
    #: Line crops per recogniser call; RapidOCR's own default. Lines of one call are padded to
    #: the widest, so on whole pages the batch could change a reading (line crops are all one
    #: size): it stays at six. One at a time did only 5-10% more per CPU second
    #: (``benchmarks/ocr_engine_settings.py``); 16 and 32 were slower (0.7x, 0.6x).
    rec_batch_size: int = 6
    #: onnxruntime's intra-op threads (-1: every core); speed only, identical readings. One
    #: thread read 2.2x the line crops and 1.8x the pages per CPU second of -1 on two cores
    #: (``benchmarks/ocr_engine_settings.py``), and the scoring pool runs one engine per core.
    threads: int = 1


@register_ocr_engine("rapidocr")
class RapidOcrEngine(OcrEngine):
    Options = RapidOcrOptions
    runtime_options = ("threads",)
    thread_option = "threads"

    def __init__(self, options: RapidOcrOptions | None = None) -> None:
        super().__init__(options)
        from rapidocr import RapidOCR

        self._engine = RapidOCR(
            params={
                "Global.log_level": "warning",
                "Global.use_cls": self.options.use_angle_cls,
                "Det.limit_type": self.options.det_limit_type,
                "Det.limit_side_len": self.options.det_limit_side_len,
                "Rec.rec_batch_num": self.options.rec_batch_size,
                "EngineConfig.onnxruntime.intra_op_num_threads": self.options.threads,
            }
        )
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)

    def read_page(self, image: Image.Image) -> list[OcrLine]:
        result = self._engine(_to_array(image), return_word_box=True)
        if result.txts is None:
            return []
        lines = []
        for index, (text, confidence) in enumerate(zip(result.txts, result.scores)):
            polygon = _polygon(result.boxes[index])
            words = ()
            if result.word_results and index < len(result.word_results) and result.word_results[index]:
                words = tuple(
                    OcrWord(str(word), float(score), _polygon(points))
                    for word, score, points in result.word_results[index]
                )
            lines.append(OcrLine(str(text), float(confidence), polygon, words))
        return lines

    def read_crops(self, crops: Sequence[Image.Image]) -> list[OcrText]:
        if not crops:
            return []
        from rapidocr.ch_ppocr_rec import TextRecInput

        output = self._recognizer()(TextRecInput(img=[_to_array(crop) for crop in crops]))
        return [OcrText(str(text), float(score)) for text, score in zip(output.txts, output.scores)]

    def _recognizer(self) -> Any:
        """The recognition stage alone; RapidOCR builds it on first use (3.x), or up front (older)."""
        load = getattr(self._engine, "_load_rec_model", None)
        return load() if load is not None else self._engine.text_rec

    @classmethod
    def description_token(cls, options: RapidOcrOptions) -> Any:
        # The bundled models are fixed by the package versions and the options.
        return {"rapidocr": importlib.metadata.version("rapidocr"), "onnxruntime": importlib.metadata.version("onnxruntime")}

    def version(self) -> str:
        return (
            f"rapidocr {importlib.metadata.version('rapidocr')}, "
            f"onnxruntime {importlib.metadata.version('onnxruntime')}, "
            f"det {_model_name(self._engine.cfg.Det)}, rec {_model_name(self._engine.cfg.Rec)}"
        )


def _model_name(section: Any) -> str:
    if section.get("model_path"):
        return str(section["model_path"])
    return "-".join(str(getattr(section[k], "value", section[k])) for k in ("ocr_version", "model_type", "lang_type"))


def _to_array(image: Image.Image) -> np.ndarray:
    """RapidOCR expects BGR arrays (OpenCV order)."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def _polygon(points: Any) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in np.asarray(points).reshape(-1, 2))
