"""One small interface over OCR engines, used to score generated images and by OCR baselines.

Published generation numbers were measured with particular recognisers (AnyText: a ModelScope
ConvNeXt model; MARIO-Eval: MaskTextSpotterV3), so the engine, its version and its settings are
recorded in every manifest: a number is only comparable to one read by the same engine.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

from PIL import Image

from bench.cache import cache_root
from bench.faults import HarnessFault
from bench.fingerprint import stable_hash
from bench.options import NoOptions, options_as_dict
from bench.registry import Registry
from bench.store import atomic_write
from bench.types import Polygon, polygon_bounds


@dataclass(frozen=True)
class OcrText:
    text: str
    confidence: float


@dataclass(frozen=True)
class OcrWord:
    text: str
    confidence: float
    polygon: Polygon

    @property
    def box(self) -> tuple[float, float, float, float]:
        return polygon_bounds(self.polygon)


@dataclass(frozen=True)
class OcrLine:
    """A detected text line and, where the engine can tell, its words with their own boxes."""

    text: str
    confidence: float
    polygon: Polygon
    words: tuple[OcrWord, ...] = ()

    @property
    def box(self) -> tuple[float, float, float, float]:
        return polygon_bounds(self.polygon)


class OcrEngine(ABC):
    name: ClassVar[str]
    Options: ClassVar[type] = NoOptions
    #: Options that change only how fast the engine reads, never what it reads: left out of
    #: ``describe()``, so that they do not change the fingerprint of anything scored.
    runtime_options: ClassVar[tuple[str, ...]] = ()
    #: The option that sets the engine's intra-op threads, if it has one; scoring workers set
    #: it to 1 unless the user chose a value.
    thread_option: ClassVar[str | None] = None

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def read_page(self, image: Image.Image) -> list[OcrLine]:
        """Detect and recognise every text line of a whole image, in reading order."""

    @abstractmethod
    def read_crops(self, crops: Sequence[Image.Image]) -> list[OcrText]:
        """Recognise pre-cropped single-line images, batched where the engine allows."""

    @abstractmethod
    def version(self) -> str:
        """Version of the engine and of its models, as far as they can be known."""

    def describe(self) -> dict[str, Any]:
        options = {name: value for name, value in options_as_dict(self.options).items() if name not in self.runtime_options}
        return {"engine": self.name, "version": self.version(), "options": options}

    @classmethod
    def description_token(cls, options: Any) -> Any:
        """What, beside the options, decides ``describe()`` — e.g. package versions — when it
        can be known without building the engine; ``None`` when it cannot. With a token, a
        run that has nothing left to read need not build the engine to fingerprint scoring."""
        return None


def describe_engine(engine_type: type[OcrEngine], options: Any, built: OcrEngine | None,
                    build: Callable[[], OcrEngine]) -> dict[str, Any]:
    """``describe()`` of the engine these settings make: from ``built`` if there is one, else
    from a cache keyed by the settings and the engine's ``description_token`` (building the
    engine once to fill it), else by building it."""
    if built is not None:
        return built.describe()
    token = engine_type.description_token(options)
    if token is None:
        return build().describe()
    # The runtime options are part of the key: descriptions cached before an option became one
    # still list it.
    key = stable_hash([engine_type.name, options_as_dict(options), token, list(engine_type.runtime_options)])
    path = cache_root() / "ocr" / f"{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        description = build().describe()
    try:
        atomic_write(path, json.dumps(description))
    except (OSError, HarnessFault):
        pass  # a cache that cannot be written only costs time
    return description


OCR_ENGINES: Registry[type[OcrEngine]] = Registry("ocr engine", "thbench.ocr_engines", "bench.ocr", listing="ocr")
register_ocr_engine = OCR_ENGINES.register
