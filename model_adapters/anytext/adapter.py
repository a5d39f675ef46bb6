"""``anytext``: AnyText (Tuo et al., ICLR 2024) from its released checkpoint, run by thbench's
own implementation (no code from the model folder runs).

Files, as the release and its ModelScope folder lay them out:

``checkpoint``
    ``anytext_v1.1.ckpt`` (or v1.0): SD1.5's UNet and VAE, the text-control network with its
    auxiliary latent module, CLIP's text model, the line projection and the OCR recogniser.
``config``
    ``models_yaml/anytext_sd15.yaml``; default: beside the checkpoint or one folder up.
``clip``
    ``clip-vit-large-patch14/``: CLIP's tokenizer files and text-model ``config.json`` (the
    weights come from the checkpoint); default: beside the checkpoint.
``font_path``
    the font the glyphs are drawn with (the release's ``font/Arial_Unicode.ttf``); default:
    ``font/Arial_Unicode.ttf`` beside the checkpoint.

A request becomes AnyText's inputs as ``requests`` describes (prompt with ``*`` placeholders, one
glyph line, glyph canvas and position mask per text line), and its N images are sampled together
as the release's ``process`` samples them (``model``): the prompt with ``, `` and ``added_prompt``
appended against ``negative_prompt``, DDIM with ``steps`` (20) and ``guidance_scale`` (9), from
one CPU generator seeded with the request's seed, as the release seeds once per call. Outputs
are resized to the request's size (generation) or the source image's (editing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from PIL import Image

from bench.adapter import register_adapter
from bench.options import OptionError
from bench.types import EditImageRequest, GenerateImageRequest
from model_adapters.anytext.checkpoint import ReleaseFiles
from model_adapters.anytext.common import AnyTextAdapterBase, AnyTextSamplingOptions
from model_adapters.anytext.glyphs import load_font
from model_adapters.anytext.requests import (
    canvas_polygons,
    edit_canvas,
    limited,
    placeholder_prompt,
    render,
    stacked_rows,
)
from model_adapters.common.images import open_image, resized
from model_adapters.common.torch_options import check_device, resolve_device, resolve_dtype

if TYPE_CHECKING:
    from model_adapters.anytext.model import AnyTextModel

#: The release's font, where its ModelScope folder keeps it.
RELEASE_FONT = Path("font") / "Arial_Unicode.ttf"


@dataclass(frozen=True)
class AnyTextOptions(AnyTextSamplingOptions):
    checkpoint: Path | None = None
    config: Path | None = None
    clip: Path | None = None
    #: The control residuals' weight (the release's ``strength``).
    strength: float = 1.0
    max_chars: int = 20
    max_lines: int = 20
    #: Spread a short text over its position with spaces (the benchmark script's glyphs do).
    add_space: bool = True


@register_adapter("anytext")
class AnyTextAdapter(AnyTextAdapterBase):
    """AnyText: SD1.5 with a text-control network and OCR-embedded glyph lines in the prompt."""

    Options = AnyTextOptions
    checkpoint_option = "checkpoint"
    #: AnyText-benchmark then sends AnyText's own prompts (caption, phrase, one ``*`` per line).
    prompt_profile = "anytext"

    def __init__(self, options: AnyTextOptions | None = None) -> None:
        super().__init__(options)
        options = self.options
        if options.checkpoint is None:
            raise OptionError(f"model {self.name!r} needs --model-args checkpoint=PATH/anytext_v1.1.ckpt (AnyText's released checkpoint)")
        self._files = ReleaseFiles.locate(options.checkpoint, options.config, options.clip)
        self._font = load_font(options.font_path or options.checkpoint.parent / RELEASE_FONT)
        check_device(options.device)
        if options.size <= 0 or options.size % 64:
            raise OptionError(f"model {self.name!r} option 'size' must be a positive multiple of 64, got {options.size}")
        if options.steps <= 0 or options.max_chars <= 0 or options.max_lines <= 0:
            raise OptionError(f"model {self.name!r} options 'steps', 'max_chars' and 'max_lines' must be positive")
        self._model: AnyTextModel | None = None
        self._dtype: Any = None

    def load(self) -> None:
        from model_adapters.anytext.model import AnyTextModel

        device = resolve_device(self.options.device)
        self._dtype = resolve_dtype(self.options.dtype, device, accelerator_default="float16")
        self._model = AnyTextModel.load(self._files, device, self._dtype)

    def describe(self) -> dict[str, Any]:
        return {
            "device": str(self._model.device) if self._model else None,
            "dtype": str(self._dtype).removeprefix("torch.") if self._dtype else None,
            "files": {"checkpoint": str(self._files.checkpoint), "config": str(self._files.config), "clip": str(self._files.clip)},
            "font": Path(self._font.path).name,
            "sampler": "DDIM (eta 0)",
        }

    def _generate(self, request: GenerateImageRequest) -> list[Image.Image]:
        size = self.options.size
        if request.positions and len(request.positions) == len(request.texts):
            layout = limited(request.texts, request.positions, self.options.max_chars, self.options.max_lines)
            polygons = canvas_polygons(layout.polygons, (request.width, request.height), (size, size))
        else:
            layout = limited(request.texts, stacked_rows(len(request.texts), size), self.options.max_chars, self.options.max_lines)
            polygons = canvas_polygons(layout.polygons, (size, size), (size, size))
        images = self._sample(request.prompt, layout.texts, polygons, (size, size), None, request.seed, request.num_images)
        return [resized(image, (request.width, request.height)) for image in images]

    def _edit(self, request: EditImageRequest) -> list[Image.Image]:
        source = open_image(request.image)
        canvas = edit_canvas(np.asarray(source.convert("RGB")))
        size = (canvas.shape[1], canvas.shape[0])
        layout = limited(request.texts, request.polygons, self.options.max_chars, self.options.max_lines)
        polygons = canvas_polygons(layout.polygons, source.size, size)
        images = self._sample(request.prompt, layout.texts, polygons, size, canvas, request.seed, request.num_images)
        return [resized(image, source.size) for image in images]

    def _sample(self, caption: str, texts: Sequence[str], polygons: Sequence[np.ndarray], size: tuple[int, int],
                source: np.ndarray | None, seed: int, count: int) -> list[Image.Image]:
        from model_adapters.anytext.model import Sampling

        assert self._model is not None, "load() first"
        prompt = self._full_prompt(placeholder_prompt(caption, texts))
        lines = render(self._font, texts, polygons, size, add_space=self.options.add_space)
        settings = Sampling(self.options.steps, self.options.guidance_scale, self.options.strength)
        _, pixels = self._model.sample(lines, prompt, self.options.negative_prompt, source, seed, count, settings)
        return [Image.fromarray(image) for image in pixels]
