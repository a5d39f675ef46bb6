"""The vocabulary shared by tasks and model adapters.

Tasks build requests, adapters answer them; neither knows the other. Three request kinds cover
everything thbench measures: reading text (``answer``), writing it into a new image
(``generate_image``) and writing it into an existing image (``edit_image``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from PIL import Image

#: Marks where the image goes inside a prompt. Adapters that place image tokens inline (e.g.
#: TextHarmony) substitute it; others remove it and pass the image the way their model expects.
IMAGE_PLACEHOLDER = "<image>"

ImageSource = Union[Path, Image.Image]
Point = tuple[float, float]
Polygon = tuple[Point, ...]


class RequestKind(str, enum.Enum):
    ANSWER = "answer"
    GENERATE_IMAGE = "generate_image"
    EDIT_IMAGE = "edit_image"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class AnswerRequest:
    """Image(s) plus a prompt, answered with text.

    ``prompt`` is already formatted by the task's prompt profile; ``question`` is the bare
    question, for adapters (such as the OCR-only baseline) that reason about it directly.
    """

    key: str
    prompt: str
    images: tuple[ImageSource, ...]
    question: str = ""
    max_new_tokens: int = 32
    seed: int = 0
    kind: RequestKind = field(default=RequestKind.ANSWER, init=False)


@dataclass(frozen=True)
class GenerateImageRequest:
    """A text-to-image prompt.

    ``texts`` lists the strings the image should show (the quoted keywords of a MARIO prompt,
    the lines of an AnyText item) and ``positions`` optionally gives one polygon per text, for
    models that take a glyph layout; models that read only the prompt ignore both.
    """

    key: str
    prompt: str
    texts: tuple[str, ...] = ()
    positions: tuple[Polygon, ...] = ()
    num_images: int = 1
    width: int = 512
    height: int = 512
    seed: int = 0
    kind: RequestKind = field(default=RequestKind.GENERATE_IMAGE, init=False)


@dataclass(frozen=True)
class EditImageRequest:
    """Replace the text inside ``polygons`` of ``image`` with ``texts`` (one text per polygon).

    ``mask`` is white where the model may paint; it is derived from the polygons when the task
    does not provide one.
    """

    key: str
    prompt: str
    image: ImageSource
    polygons: tuple[Polygon, ...]
    texts: tuple[str, ...]
    mask: ImageSource | None = None
    num_images: int = 1
    seed: int = 0
    kind: RequestKind = field(default=RequestKind.EDIT_IMAGE, init=False)


Request = Union[AnswerRequest, GenerateImageRequest, EditImageRequest]


@dataclass(frozen=True)
class Response:
    """What an adapter produced for one request: text for ``answer``, images otherwise."""

    text: str | None = None
    images: tuple[Image.Image, ...] = ()


@dataclass(frozen=True)
class ScoredSample:
    """A task's verdict on one response.

    ``parsed`` is what the task extracted from the raw output (the answer string, a box, the
    OCR reading of a generated image) and is stored beside the raw output so that a surprising
    score can be traced to either the model or the parser.
    """

    parsed: Any
    scores: Mapping[str, float]
    details: Mapping[str, Any] = field(default_factory=dict)


def polygon_bounds(polygon: Sequence[Point]) -> tuple[float, float, float, float]:
    xs = [float(p[0]) for p in polygon]
    ys = [float(p[1]) for p in polygon]
    return min(xs), min(ys), max(xs), max(ys)
