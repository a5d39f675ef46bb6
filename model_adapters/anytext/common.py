"""What both AnyText adapters share: the options of AnyText's benchmark script, both request
kinds, one request per call (its N images are sampled together)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from PIL import Image

from bench.adapter import ModelAdapter
from bench.types import EditImageRequest, GenerateImageRequest, RequestKind
from model_adapters.anytext.requests import ADDED_PROMPT, NEGATIVE_PROMPT
from model_adapters.common.torch_options import DtypeName


@dataclass(frozen=True)
class AnyTextSamplingOptions:
    #: The font glyphs are drawn with.
    font_path: Path | None = None
    device: str = "auto"
    dtype: DtypeName = "auto"
    steps: int = 20
    guidance_scale: float = 9.0
    #: Side of the square canvas generation samples on.
    size: int = 512
    added_prompt: str = ADDED_PROMPT
    negative_prompt: str = NEGATIVE_PROMPT


class AnyTextAdapterBase(ModelAdapter):
    supported_kinds = frozenset({RequestKind.GENERATE_IMAGE, RequestKind.EDIT_IMAGE})
    default_batch_size = 1
    options: AnyTextSamplingOptions

    def generate_image(self, requests: Sequence[GenerateImageRequest]) -> list[list[Image.Image]]:
        return [self._generate(request) for request in requests]

    def edit_image(self, requests: Sequence[EditImageRequest]) -> list[list[Image.Image]]:
        return [self._edit(request) for request in requests]

    def _generate(self, request: GenerateImageRequest) -> list[Image.Image]:
        raise NotImplementedError

    def _edit(self, request: EditImageRequest) -> list[Image.Image]:
        raise NotImplementedError

    def _full_prompt(self, prompt: str) -> str:
        """The prompt as the benchmark script sends it: ``added_prompt`` after a comma."""
        return f"{prompt}, {self.options.added_prompt}" if self.options.added_prompt else prompt
