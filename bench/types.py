"""The vocabulary shared by tasks and model adapters.

Tasks build requests, adapters answer them; neither knows the other. Three request kinds cover
everything thbench measures: reading text (``answer``), writing it into a new image
(``generate_image``) and writing it into an existing image (``edit_image``).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence, Union

from PIL import Image

from bench.images import ImageSource, open_image

#: Marks where the image goes inside a prompt. Adapters that place image tokens inline (e.g.
#: TextHarmony) substitute it; others remove it and pass the image the way their model expects.
IMAGE_PLACEHOLDER = "<image>"

Point = tuple[float, float]
Polygon = tuple[Point, ...]


class RequestKind(str, enum.Enum):
    ANSWER = "answer"
    GENERATE_IMAGE = "generate_image"
    EDIT_IMAGE = "edit_image"

    def __str__(self) -> str:
        return self.value

    @property
    def method(self) -> str:
        """Name of the ``ModelAdapter`` method that answers this kind."""
        return self.value


class _RequestBehaviour:
    """What the runner needs to know of a request kind, kept with the kind rather than in
    switches over kinds: its input files, what of it reaches the model besides those files, and
    whether it is answered with images."""

    #: Answered with images (stored in the run folder and scored as stored), else with text.
    produces_images: ClassVar[bool] = False
    #: Fields holding input images: fingerprinted by content, not by path.
    input_fields: ClassVar[tuple[str, ...]] = ()

    def input_sources(self) -> list[ImageSource]:
        return []

    def with_seed(self, seed: int) -> "Request":
        """A copy with ``seed`` set; the runner does this for every sample, and
        ``dataclasses.replace`` (which re-validates every field) costs more than the rest of a
        sample's bookkeeping."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        object.__setattr__(copy, "seed", seed)
        return copy  # type: ignore[return-value]

    def with_inputs_loaded(self) -> "Request":
        """The request with its input files opened, so that an unreadable file fails this
        sample and nothing else."""
        return self  # type: ignore[return-value]

    def fingerprint_fields(self) -> dict[str, Any]:
        """Every field that reaches the model except the key and the input images (the kind
        included, so that fingerprints of stored records stay what they were)."""
        excluded = ("key", *self.input_fields)
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in excluded}  # type: ignore[arg-type]

    @property
    def expected_images(self) -> int:
        return int(getattr(self, "num_images", 0))


@dataclass(frozen=True)
class AnswerRequest(_RequestBehaviour):
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

    input_fields: ClassVar[tuple[str, ...]] = ("images",)

    def input_sources(self) -> list[ImageSource]:
        return list(self.images)

    def with_inputs_loaded(self) -> "AnswerRequest":
        if not self.images:
            return self
        return dataclasses.replace(self, images=tuple(open_image(image) for image in self.images))

    def fingerprint_fields(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "question": self.question, "max_new_tokens": self.max_new_tokens, "seed": self.seed,
                "kind": self.kind}


@dataclass(frozen=True)
class GenerateImageRequest(_RequestBehaviour):
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

    produces_images: ClassVar[bool] = True


@dataclass(frozen=True)
class EditImageRequest(_RequestBehaviour):
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

    produces_images: ClassVar[bool] = True
    input_fields: ClassVar[tuple[str, ...]] = ("image", "mask")

    def input_sources(self) -> list[ImageSource]:
        return [self.image] + ([self.mask] if self.mask is not None else [])

    def with_inputs_loaded(self) -> "EditImageRequest":
        mask = None if self.mask is None else open_image(self.mask, mode="L")
        return dataclasses.replace(self, image=open_image(self.image), mask=mask)


Request = Union[AnswerRequest, GenerateImageRequest, EditImageRequest]


@dataclass(frozen=True)
class Response:
    """What an adapter produced for one request: text for ``answer``, images otherwise."""

    text: str | None = None
    images: tuple[Image.Image, ...] = ()


@dataclass(frozen=True)
class GeneratedImages:
    """Images an adapter returns together with the fact that the model replaced some of them
    (a pipeline's safety checker blacking an image out): such an output is scored as it is,
    and the sample is flagged ``refused`` so that a low score is not read as the model's miss."""

    images: tuple[Image.Image, ...]
    #: Why the output was replaced (None: it was not).
    refused: str | None = None


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
