"""``diffusers-t2i`` and ``diffusers-inpaint``: any diffusers pipeline saved in a local folder.

The folder is what ``pipeline.save_pretrained(path)`` writes (``model_index.json`` and one
subfolder per component). Text-to-image folders are read with ``DiffusionPipeline``, inpainting
folders with ``AutoPipelineForInpainting``; nothing is downloaded.

Every request is one pipeline call producing its N images, image i drawn from its own CPU
generator seeded ``request.seed + i``. Requests are never merged into one call: a merged call
changes the shapes the network computes on, and with them the last bits of the pixels, so
outputs would depend on the batch size. ``steps``, ``guidance_scale`` and ``scheduler`` left
unset keep the pipeline's own defaults, which the manifest records.

Editing requests give an image, the polygons to rewrite and optionally a mask; without a mask
the polygons are filled to make one. The pipeline works at ``height``/``width`` when set, else
at the request's size (generation) or the source image's (editing), rounded down to a multiple
of 8. Generated images come out at the size asked for: the ``height``/``width`` options when
set, else the request's; edited images come out at the source size, so that the task finds the
text where it asked for it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from PIL import Image

from bench.adapter import ModelAdapter, register_adapter
from bench.options import OptionError, option
from bench.types import EditImageRequest, GeneratedImages, GenerateImageRequest, RequestKind
from model_adapters.common.diffusers_loading import describe_pipeline, load_local_pipeline, scheduler_class
from model_adapters.common.folders import require_model_folder
from model_adapters.common.generators import image_generators
from model_adapters.common.geometry import polygon_mask
from model_adapters.common.images import open_image, resized
from model_adapters.common.torch_options import DtypeName, check_device

FOLDER_LAYOUT = "a diffusers pipeline folder written by pipeline.save_pretrained(path)"
#: Pixel sizes must divide by this (the VAE downsamples by 8 in Stable Diffusion and kin).
SIZE_MULTIPLE = 8


@dataclass(frozen=True)
class DiffusersOptions:
    model: Path | None = None
    device: str = "auto"
    dtype: DtypeName = "auto"
    #: A diffusers scheduler class, with or without the ``Scheduler`` suffix (DDIM,
    #: DPMSolverMultistep, EulerDiscrete, ...), built from the pipeline's scheduler config.
    scheduler: str | None = None
    steps: int | None = option(None, minimum=1)
    guidance_scale: float | None = None
    negative_prompt: str = ""
    #: Working size; the request's (or the source image's) when unset.
    height: int | None = None
    width: int | None = None
    #: ``on`` keeps the folder's safety checker (an image it blacks out is scored as it is and
    #: its sample is flagged ``refused``); ``off`` removes it, as text-rendering evaluations do.
    safety_checker: Literal["on", "off"] = "on"


@dataclass(frozen=True)
class DiffusersInpaintOptions(DiffusersOptions):
    #: How far the masked area is noised (1.0: repainted from pure noise).
    strength: float | None = None


class _DiffusersAdapter(ModelAdapter):
    default_batch_size = 4
    checkpoint_option = "model"

    def __init__(self, options: DiffusersOptions | None = None) -> None:
        super().__init__(options)
        require_model_folder(self.options.model, self.name, ("model_index.json",), FOLDER_LAYOUT)
        check_device(self.options.device)
        for key in ("height", "width"):
            value = getattr(self.options, key)
            if value is not None and (value <= 0 or value % SIZE_MULTIPLE):
                raise OptionError(f"model {self.name!r} option {key!r} must be a positive multiple of {SIZE_MULTIPLE}, got {value}")
        if self.options.scheduler is not None:
            scheduler_class(self.options.scheduler)
        self._pipeline: Any = None
        self._device: Any = None
        self._dtype: Any = None

    def _load_pipeline(self, loader: Any) -> None:
        removed = {"safety_checker": None, "requires_safety_checker": False} if self.options.safety_checker == "off" else {}
        self._pipeline, self._device, self._dtype = load_local_pipeline(
            loader, self.options.model, self.options.device, self.options.dtype, scheduler=self.options.scheduler, **removed
        )

    def describe(self) -> dict[str, Any]:
        return {
            **describe_pipeline(self._pipeline, self._device, self._dtype),
            "safety_checker": type(getattr(self._pipeline, "safety_checker", None)).__name__,
            "settings": {**_call_defaults(self._pipeline), **self._settings()},
        }

    def _settings(self) -> dict[str, Any]:
        """The call arguments set by options; unset ones keep the pipeline's defaults."""
        settings: dict[str, Any] = {}
        if self.options.steps is not None:
            settings["num_inference_steps"] = self.options.steps
        if self.options.guidance_scale is not None:
            settings["guidance_scale"] = self.options.guidance_scale
        if self.options.negative_prompt:
            settings["negative_prompt"] = self.options.negative_prompt
        return settings


@register_adapter("diffusers-t2i")
class DiffusersTextToImageAdapter(_DiffusersAdapter):
    """Any diffusers text-to-image pipeline saved in a local folder."""

    supported_kinds = frozenset({RequestKind.GENERATE_IMAGE})
    Options = DiffusersOptions

    def load(self) -> None:
        from diffusers import DiffusionPipeline

        self._load_pipeline(DiffusionPipeline)

    def generate_image(self, requests: Sequence[GenerateImageRequest]) -> list[GeneratedImages]:
        return [self._generate(request) for request in requests]

    def _generate(self, request: GenerateImageRequest) -> GeneratedImages:
        size = (self.options.width or request.width, self.options.height or request.height)
        result = self._pipeline(
            prompt=request.prompt,
            height=_floor_multiple(size[1]),
            width=_floor_multiple(size[0]),
            num_images_per_prompt=request.num_images,
            generator=image_generators(request.seed, request.num_images),
            output_type="pil",
            **self._settings(),
        )
        return _checked(result, [resized(image, size) for image in result.images])


@register_adapter("diffusers-inpaint")
class DiffusersInpaintAdapter(_DiffusersAdapter):
    """Any diffusers inpainting pipeline saved in a local folder; the mask comes from the text polygons."""

    supported_kinds = frozenset({RequestKind.EDIT_IMAGE})
    Options = DiffusersInpaintOptions

    def load(self) -> None:
        from diffusers import AutoPipelineForInpainting

        self._load_pipeline(AutoPipelineForInpainting)

    def _settings(self) -> dict[str, Any]:
        settings = super()._settings()
        if self.options.strength is not None:
            settings["strength"] = self.options.strength
        return settings

    def edit_image(self, requests: Sequence[EditImageRequest]) -> list[GeneratedImages]:
        return [self._edit(request) for request in requests]

    def _edit(self, request: EditImageRequest) -> GeneratedImages:
        source = open_image(request.image)
        mask = open_image(request.mask, "L") if request.mask is not None else polygon_mask(source.size, request.polygons)
        width = self.options.width or _floor_multiple(source.width)
        height = self.options.height or _floor_multiple(source.height)
        result = self._pipeline(
            prompt=request.prompt,
            image=source.resize((width, height), Image.Resampling.BICUBIC),
            mask_image=mask.resize((width, height), Image.Resampling.BILINEAR),
            height=height,
            width=width,
            num_images_per_prompt=request.num_images,
            generator=image_generators(request.seed, request.num_images),
            output_type="pil",
            **self._settings(),
        )
        return _checked(result, [resized(image, source.size) for image in result.images])


def _checked(result: Any, images: list[Image.Image]) -> GeneratedImages:
    """The images with the safety checker's verdict: which of them it replaced, if any."""
    flags = getattr(result, "nsfw_content_detected", None) or []
    replaced = [str(index) for index, flagged in enumerate(flags) if flagged]
    refused = f"the pipeline's safety checker replaced image {', '.join(replaced)} of {len(images)}" if replaced else None
    return GeneratedImages(tuple(images), refused)


def _call_defaults(pipeline: Any) -> dict[str, Any]:
    """The pipeline's own defaults for the settings the options can override, for the manifest."""
    parameters = inspect.signature(type(pipeline).__call__).parameters
    names = ("num_inference_steps", "guidance_scale", "strength")
    return {name: parameters[name].default for name in names if name in parameters}


def _floor_multiple(value: int) -> int:
    return max(SIZE_MULTIPLE, value - value % SIZE_MULTIPLE)
