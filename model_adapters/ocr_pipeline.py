"""``ocr-pipeline``: an OCR engine plus fixed rules, the classic OCR-only baseline.

It reads every text line of the image and answers without any learned language model:

* **Where is "WORD"?** — the box of the OCR word closest to WORD (exact match first, then the
  highest string similarity), written as ``[x1, y1, x2, y2]`` in image pixels.
* **Price questions** ("price", "cost", "how much") — the reading that looks like an amount.
* **Number questions** ("what number", "how many") — the largest purely numeric reading.
* **Field and table questions** — the line whose words overlap the question most is taken as a
  label ("Total:", "Pencils"); the answer is the next reading to its right on the same row, or
  the rest of the label's own line after a colon.
* **Anything else** — the most salient text: the line written with the tallest glyphs.

A question only an OCR system could answer is answered well; any question needing world
knowledge or reasoning is not, which is what makes it a useful floor.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

from PIL import Image

from bench.adapter import ModelAdapter, register_adapter
from bench.ocr.base import OCR_ENGINES, OcrEngine, OcrLine, OcrWord, describe_engine
from bench.types import AnswerRequest, RequestKind, polygon_bounds

_GROUNDING = re.compile(r"where is [\"'“‘](.+?)[\"'”’]", re.IGNORECASE)
_PRICE_QUESTION = re.compile(r"\b(price|cost|how much)\b", re.IGNORECASE)
_NUMBER_QUESTION = re.compile(r"\b(what number|which number|how many|house number)\b", re.IGNORECASE)
_AMOUNT = re.compile(r"^[$€£]?\d[\d,]*(\.\d+)?$")
_NUMBER = re.compile(r"^\d+$")
_STOPWORDS = frozenset(
    "what which who whom whose is are was the a an of on in at to this that does do it say says shown show "
    "written there for how much many number name".split()
)
#: OCR results kept per distinct image; questions about one image usually come together.
_CACHE_SIZE = 64


@dataclass(frozen=True)
class OcrPipelineOptions:
    ocr_engine: str = "rapidocr"


@dataclass(frozen=True)
class _Reading:
    text: str
    box: tuple[float, float, float, float]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center_y(self) -> float:
        return (self.box[1] + self.box[3]) / 2


@register_adapter("ocr-pipeline")
class OcrPipelineAdapter(ModelAdapter):
    supported_kinds = frozenset({RequestKind.ANSWER})
    Options = OcrPipelineOptions
    default_batch_size = 8

    def __init__(self, options: OcrPipelineOptions | None = None) -> None:
        super().__init__(options)
        self._engine: OcrEngine | None = None
        self._cache: OrderedDict[str, list[OcrLine]] = OrderedDict()

    def load(self) -> None:
        # The fingerprint may have built the engine already (its version is part of it).
        if self._engine is None:
            self._engine = OCR_ENGINES.get(self.options.ocr_engine)()

    def identity(self) -> dict[str, Any]:
        identity = super().identity()
        engine_type = OCR_ENGINES.get(self.options.ocr_engine)
        identity["ocr"] = describe_engine(engine_type, engine_type.Options(), self._engine, self._ocr)
        return identity

    def describe(self) -> dict[str, Any]:
        return {"ocr": self._ocr().describe()}

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        return [self._answer_one(request) for request in requests]

    def _ocr(self) -> OcrEngine:
        if self._engine is None:
            self.load()
        assert self._engine is not None
        return self._engine

    def _read(self, image: Image.Image) -> list[OcrLine]:
        digest = hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest()
        if digest not in self._cache:
            self._cache[digest] = self._ocr().read_page(image)
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return self._cache[digest]

    def _answer_one(self, request: AnswerRequest) -> str:
        lines = self._read(request.images[0])
        question = request.question or request.prompt
        target = _GROUNDING.search(question)
        if target:
            return locate_word(lines, target.group(1))
        return answer_question(lines, question)


def locate_word(lines: Sequence[OcrLine], target: str) -> str:
    words = [word for line in lines for word in _words(line)]
    if not words:
        return "not found"
    wanted = target.strip().lower()
    best = max(words, key=lambda w: (w.text.strip().lower() == wanted, difflib.SequenceMatcher(None, w.text.lower(), wanted).ratio()))
    x1, y1, x2, y2 = best.box
    return f"[{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}]"


def answer_question(lines: Sequence[OcrLine], question: str) -> str:
    readings = [_Reading(w.text, w.box) for line in lines for w in _words(line)]
    line_readings = [_Reading(line.text, line.box) for line in lines]
    if not line_readings:
        return "unanswerable"
    if _PRICE_QUESTION.search(question):
        amounts = [r for r in readings if _AMOUNT.match(r.text) and any(c in r.text for c in "$€£.")]
        if amounts:
            return max(amounts, key=lambda r: r.height).text
    if _NUMBER_QUESTION.search(question):
        numbers = [r for r in readings if _NUMBER.match(r.text)]
        if numbers:
            return max(numbers, key=lambda r: r.height).text
    value = _field_value(line_readings, question)
    if value:
        return value
    return max(line_readings, key=lambda r: r.height).text


def _field_value(lines: Sequence[_Reading], question: str) -> str | None:
    keywords = {w for w in re.findall(r"[a-z0-9]+", question.lower()) if w not in _STOPWORDS}
    if not keywords:
        return None

    def overlap(reading: _Reading) -> int:
        return len(keywords & set(re.findall(r"[a-z0-9]+", reading.text.lower())))

    label = max(lines, key=overlap)
    if overlap(label) == 0:
        return None
    if ":" in label.text and label.text.split(":", 1)[1].strip():
        return label.text.split(":", 1)[1].strip()
    same_row = [
        r for r in lines
        if r is not label and r.box[0] >= label.box[2] - 2 and abs(r.center_y - label.center_y) < 0.6 * max(label.height, 1.0)
    ]
    if not same_row:
        return None
    return min(same_row, key=lambda r: r.box[0]).text


def _words(line: OcrLine) -> list[OcrWord]:
    """The line's words with their own boxes; when the engine gives none, boxes are shared out
    along the line in proportion to the characters."""
    if line.words:
        return list(line.words)
    parts = line.text.split()
    if len(parts) <= 1:
        return [OcrWord(line.text, line.confidence, line.polygon)]
    x1, y1, x2, y2 = polygon_bounds(line.polygon)
    total = max(len(line.text), 1)
    words = []
    position = 0
    for part in parts:
        start = line.text.index(part, position)
        position = start + len(part)
        left = x1 + (x2 - x1) * start / total
        right = x1 + (x2 - x1) * position / total
        words.append(OcrWord(part, line.confidence, ((left, y1), (right, y1), (right, y2), (left, y2))))
    return words
