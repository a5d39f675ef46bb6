"""``anytext-diffusers``: AnyText (Tuo et al., ICLR 2024) as a diffusers pipeline with its own code.

The released checkpoint itself runs natively under ``anytext`` (``adapter.py``); this adapter is
for a diffusers-format port.

AnyText writes given text lines at given positions: glyphs are rendered from the texts and
positions, read by an OCR encoder into the prompt embedding, and fed to a ControlNet-like
auxiliary branch. Its releases are the ModelScope pipeline (github tyxsspa/AnyText,
``inference.py``) and a community diffusers port (diffusers
``examples/research_projects/anytext``); thbench loads the latter kind: a local diffusers folder
whose pipeline class lives in a Python file inside the folder. Loading runs that file, so the
adapter refuses to start without ``trust_remote_code=true``.

Folder
    ``model_index.json`` and the component subfolders (``pipeline.save_pretrained(path)``), plus
    the pipeline code: either the file named by ``model_index.json``'s ``_class_name``
    (``["anytext", "AnyTextPipeline"]`` means ``anytext.py``) or the file given by the
    ``custom_pipeline`` option. ``font_path``, when set, is passed to ``from_pretrained`` (the
    community port renders glyphs with it).

Call (one per request; every argument is passed by keyword)::

    pipeline(prompt=str, mode="generate" | "edit",
             draw_pos=uint8 array (size, size, 3): 255 inside each text line's region, 0 outside,
             ori_image=uint8 RGB array (size, size, 3) for "edit", None for "generate",
             num_inference_steps=int, guidance_scale=float, negative_prompt=str,
             num_images_per_prompt=N, generator=[N CPU torch.Generator], height=size, width=size)
    -> an object whose ``images`` (or whose first element) is N images (PIL, or arrays in
       [0, 1] or uint8)

The text lines are the double-quoted strings of ``prompt``, in order, and the i-th one belongs
to the i-th region of ``draw_pos`` in AnyText's reading order: regions sorted by the row band
of their centroid (bands of 102 px from the top), then by the column band, ties in raster order. This is how both
released pipelines pair texts with positions, so the adapter writes the texts into the prompt
in that order: a caption whose double-quoted strings are exactly the request's texts keeps its
wording with the strings reordered; otherwise its double quotes are dropped and
``, with "t1" "t2" ... written on it`` is appended. Each region is its request polygon scaled to
``size`` × ``size``; a generation request without positions gets one full-width row per text,
stacked from the top. ``added_prompt`` is appended to the prompt after a comma and
``negative_prompt`` passed as is; both default to the strings of AnyText's benchmark script
(``eval/anytext_singleGPU.py``), as do ``steps`` (20), ``guidance_scale`` (9.0) and ``size``
(512). Outputs are resized to the request's size (generation) or the source image's (editing).
Image i of a request is drawn from a CPU generator seeded ``request.seed + i``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from bench.adapter import register_adapter
from bench.options import OptionError
from bench.types import EditImageRequest, GenerateImageRequest, Polygon
from model_adapters.anytext.common import AnyTextAdapterBase, AnyTextSamplingOptions
from model_adapters.anytext.requests import quoted_prompt, stacked_rows
from model_adapters.common.diffusers_loading import describe_pipeline, load_local_pipeline
from model_adapters.common.folders import ModelFolderError, require_model_folder, require_trusted_code
from model_adapters.common.generators import image_generators
from model_adapters.common.geometry import polygon_mask, scale_polygon
from model_adapters.common.images import open_image, resized
from model_adapters.common.torch_options import check_device

FOLDER_LAYOUT = "a diffusers folder (model_index.json, components) with the AnyText pipeline code in it"
#: Row and column band, in pixels of the pipeline's canvas, by which AnyText orders positions.
READING_BAND = 102


@dataclass(frozen=True)
class AnyTextDiffusersOptions(AnyTextSamplingOptions):
    model: Path | None = None
    #: The pipeline code in the folder runs at load time; required, and recorded in the manifest.
    trust_remote_code: bool = False
    #: Pipeline code file in the folder, when ``model_index.json`` does not name one.
    custom_pipeline: str | None = None


@register_adapter("anytext-diffusers")
class AnyTextDiffusersAdapter(AnyTextAdapterBase):
    Options = AnyTextDiffusersOptions
    checkpoint_option = "model"

    def __init__(self, options: AnyTextDiffusersOptions | None = None) -> None:
        super().__init__(options)
        folder = require_model_folder(self.options.model, self.name, ("model_index.json",), FOLDER_LAYOUT)
        self._code = pipeline_code(folder, self.options.custom_pipeline)
        require_trusted_code(self.options.trust_remote_code, self.name, [self._code])
        check_device(self.options.device)
        if self.options.size <= 0 or self.options.size % 8:
            raise OptionError(f"model {self.name!r} option 'size' must be a positive multiple of 8, got {self.options.size}")
        if self.options.font_path is not None and not self.options.font_path.is_file():
            raise ModelFolderError(f"font file {self.options.font_path} does not exist (model {self.name!r} option font_path)")
        self._pipeline: Any = None
        self._device: Any = None
        self._dtype: Any = None

    def load(self) -> None:
        from diffusers import DiffusionPipeline

        extra = {"font_path": str(self.options.font_path)} if self.options.font_path is not None else {}
        custom = str(self._code) if self.options.custom_pipeline is not None else None
        self._pipeline, self._device, self._dtype = load_local_pipeline(
            DiffusionPipeline, self.options.model, self.options.device, self.options.dtype,
            custom_pipeline=custom, trust_remote_code=True, **extra,
        )

    def describe(self) -> dict[str, Any]:
        return {**describe_pipeline(self._pipeline, self._device, self._dtype), "pipeline_code": str(self._code)}

    def _generate(self, request: GenerateImageRequest) -> list[Image.Image]:
        size = self.options.size
        if request.positions and len(request.positions) == len(request.texts):
            polygons = [scale_polygon(p, (request.width, request.height), (size, size)) for p in request.positions]
        else:
            polygons = stacked_rows(len(request.texts), size)
        images = self._call("generate", request.prompt, request.texts, polygons, None, request.seed, request.num_images)
        return [resized(image, (request.width, request.height)) for image in images]

    def _edit(self, request: EditImageRequest) -> list[Image.Image]:
        size = self.options.size
        source = open_image(request.image)
        polygons = [scale_polygon(p, source.size, (size, size)) for p in request.polygons]
        canvas = np.asarray(resized(source, (size, size)))
        images = self._call("edit", request.prompt, request.texts, polygons, canvas, request.seed, request.num_images)
        return [resized(image, source.size) for image in images]

    def _call(self, mode: str, caption: str, texts: Sequence[str], polygons: Sequence[Polygon],
              source: np.ndarray | None, seed: int, count: int) -> list[Image.Image]:
        if len(texts) != len(polygons):
            raise ValueError(f"{len(texts)} texts for {len(polygons)} positions")
        size = self.options.size
        ordered = sorted(zip(texts, polygons), key=lambda pair: reading_order_key(pair[1], size))
        prompt = self._full_prompt(quoted_prompt(caption, [text for text, _ in ordered]))
        positions = np.asarray(polygon_mask((size, size), [polygon for _, polygon in ordered]))
        result = self._pipeline(
            prompt=prompt,
            mode=mode,
            draw_pos=np.repeat(positions[..., None], 3, axis=2),
            ori_image=source,
            num_inference_steps=self.options.steps,
            guidance_scale=self.options.guidance_scale,
            negative_prompt=self.options.negative_prompt,
            num_images_per_prompt=count,
            generator=image_generators(seed, count),
            height=size,
            width=size,
        )
        images = result.images if hasattr(result, "images") else result[0]
        return [_as_pil(image) for image in images]


def pipeline_code(folder: Path, custom_pipeline: str | None) -> Path:
    """The Python file holding the pipeline class: the option's, else the one that
    ``model_index.json`` names by ``"_class_name": [module, class]``."""
    if custom_pipeline is not None:
        path = folder / (custom_pipeline if custom_pipeline.endswith(".py") else f"{custom_pipeline}.py")
        if not path.is_file():
            raise ModelFolderError(f"pipeline code {path} does not exist (option custom_pipeline)")
        return path
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    class_name = index.get("_class_name")
    if isinstance(class_name, list) and class_name and (folder / f"{class_name[0]}.py").is_file():
        return folder / f"{class_name[0]}.py"
    raise ModelFolderError(
        f"{folder} holds no AnyText pipeline code: model_index.json's _class_name is {class_name!r}; set it to "
        '["<module>", "<PipelineClass>"] with <module>.py in the folder, or name the file with --model-args custom_pipeline=FILE.py'
    )


def reading_order_key(polygon: Polygon, size: int) -> tuple[int, int, int, int]:
    """AnyText's position order: the row band of the region's centroid, then its column band,
    then (a tie within one band cell) the order OpenCV labels regions in, raster order of their
    first pixel. Everything is measured on the filled region on the ``size`` canvas, as the
    pipelines measure it on ``draw_pos``.
    """
    mask = np.asarray(polygon_mask((size, size), [polygon]))
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        raise ValueError(f"text position {polygon} covers no pixel of the {size}×{size} canvas")
    cx, cy = float(xs.mean()), float(ys.mean())
    return int(cy // READING_BAND), int(cx // READING_BAND), int(ys[0]), int(xs[0])


def _as_pil(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
    return Image.fromarray(array).convert("RGB")
