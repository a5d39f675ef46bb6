"""``textharmony`` and ``textharmony-tiny``: TextHarmony answering thbench's three request kinds.

``textharmony`` loads the release checkpoint (single file, split parts, shards or safetensors)
and Vicuna's tokenizer from local paths. ``textharmony-tiny`` is the same code at toy size with
seeded random weights and a byte tokenizer: it exercises every path in seconds on a CPU.

``mm-interleaved`` and ``mm-interleaved-tiny`` do the same for MM-Interleaved, the pre-trained
model TextHarmony fine-tunes: the same architecture without Slide-LoRA or the ViT's LoRA, so
the pair measures what TextHarmony's fine-tuning adds to a unified model. It answers every
request kind with TextHarmony's prompts. ``gate=`` (TextHarmony only) picks the Slide-LoRA
routing, see ``gate_modes``.

Seeds: by default the release's (text sampling seeded 32, image ``i`` of a prompt seeded
42 + i), so every prompt is generated as the release would; ``seeds=request`` uses the
harness's per-sample seed instead.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from PIL import Image

from bench.adapter import ModelAdapter, register_adapter
from bench.options import OptionError
from bench.types import AnswerRequest, EditImageRequest, GenerateImageRequest, RequestKind
from model_adapters.common.folders import ModelFolderError
from model_adapters.common.geometry import polygon_mask
from model_adapters.common.images import open_image, resized
from model_adapters.common.prompts import prompt_parts
from model_adapters.common.torch_options import DtypeName, check_device, resolve_device, resolve_dtype

from .gate_modes import GateMode
from .tokenizer import require_tokenizer_files
from .weight_files import locate_checkpoint

if TYPE_CHECKING:  # the modeling code (torch, diffusers) is imported by ``load`` only
    from .model import TextHarmonyModel
    from .pipeline import TextHarmonyPipeline
    from .prompts import Segment
    from .tokenizer import TextTokenizer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MMInterleavedOptions:
    #: pytorch_model.bin, its split parts (give the .bin path or the folder), a shard folder or
    #: a safetensors checkpoint made by ``thbench convert textharmony``.
    checkpoint: Path | None = None
    #: Local lmsys/vicuna-13b-v1.3 (both models start from it): its tokenizer is required; its
    #: weights fill keys the checkpoint lacks, as do those of the two folders below.
    vicuna: Path | None = None
    clip: Path | None = None
    #: stabilityai/stable-diffusion-2-base (TextHarmony) or -2-1-base (MM-Interleaved).
    sd2: Path | None = None
    device: str = "auto"
    dtype: DtypeName = "auto"
    generation: Literal["greedy", "release"] = "greedy"
    seeds: Literal["release", "request"] = "release"
    guidance_scale: float = 7.5
    steps: int = 30
    allow_partial: bool = False


@dataclass(frozen=True)
class MMInterleavedTinyOptions:
    seed: int = 0
    generation: Literal["greedy", "release"] = "greedy"
    seeds: Literal["release", "request"] = "release"
    steps: int = 4


@dataclass(frozen=True)
class TextHarmonyOptions(MMInterleavedOptions):
    #: Slide-LoRA routing: the release's (``routed``) or an ablation (``gate_modes``).
    gate: GateMode = "routed"


@dataclass(frozen=True)
class TinyOptions(MMInterleavedTinyOptions):
    #: As ``TextHarmonyOptions.gate``.
    gate: GateMode = "routed"


class _TextHarmonyBase(ModelAdapter):
    supported_kinds = frozenset({RequestKind.ANSWER, RequestKind.GENERATE_IMAGE, RequestKind.EDIT_IMAGE})
    default_batch_size = 4
    prompt_profile = "textharmony"

    pipeline: TextHarmonyPipeline | None = None

    def _pipeline(self, model: TextHarmonyModel, tokenizer: TextTokenizer, **sampling: Any) -> TextHarmonyPipeline:
        """The pipeline around a loaded model, with this adapter's decoding and routing options;
        ``sampling``: ``ImageSampling`` fields."""
        from .gate_modes import gate_policy
        from .generation import PROFILES
        from .image_sampling import ImageSampling
        from .pipeline import TextHarmonyPipeline

        return TextHarmonyPipeline(
            model,
            tokenizer,
            gate=gate_policy(getattr(self.options, "gate", "routed"), model.config.slide_lora),
            text_profile=PROFILES[self.options.generation],
            image_settings=ImageSampling(**sampling),
        )

    def _ready(self) -> TextHarmonyPipeline:
        if self.pipeline is None:
            self.load()
        return self.pipeline

    def outputs_vary_with_seed(self) -> bool:
        # With the release's fixed seeds every run draws the same; per-request seeds differ.
        return self.options.generation == "release" and self.options.seeds == "request"

    def describe(self) -> dict[str, Any]:
        described = {"seeds": self.options.seeds}
        if self.pipeline is not None:
            described.update(self.pipeline.describe())
        return described

    # ------------------------------------------------------------------ answer

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        pipeline = self._ready()
        answers: dict[str, str] = {}

        def group(request: AnswerRequest) -> tuple[int, int]:
            seed = request.seed if self.options.seeds == "request" else pipeline.text_profile.seed
            return request.max_new_tokens, seed

        for (max_new_tokens, seed), members in groupby(sorted(requests, key=group), key=group):
            members = list(members)
            seeded = dataclasses.replace(pipeline, text_profile=dataclasses.replace(pipeline.text_profile, seed=seed))
            prompts = [self._segments(pipeline, r) for r in members]
            for request, text in zip(members, seeded.answer(prompts, max_new_tokens)):
                answers[request.key] = text
        return [answers[r.key] for r in requests]

    @staticmethod
    def _segments(pipeline: TextHarmonyPipeline, request: AnswerRequest) -> list[Segment]:
        """The prompt with each ``<image>`` replaced by the next image; images without a
        placeholder go first."""
        images = iter([pipeline.image_input(open_image(i)) for i in request.images])
        return [next(images) if part is None else part for part in prompt_parts(request.prompt, len(request.images))]

    # ------------------------------------------------------------------ images

    def _seeds(self, pipeline: TextHarmonyPipeline, request) -> list[int]:
        if self.options.seeds == "request":
            return [request.seed + i for i in range(request.num_images)]
        return pipeline.release_seeds(request.num_images)

    def generate_image(self, requests: Sequence[GenerateImageRequest]) -> list[list[Image.Image]]:
        """One request at a time: batched matrix products round differently from unbatched
        ones, and the diffusion loop turns that rounding into different pixels, so images
        would depend on the batch size. Diffusion dominates the cost, so little is lost."""
        pipeline = self._ready()
        results = []
        for request in requests:
            images = pipeline.generate_images([request.prompt], [self._seeds(pipeline, request)])[0]
            results.append([resized(image, (request.width, request.height)) for image in images])
        return results

    def edit_image(self, requests: Sequence[EditImageRequest]) -> list[list[Image.Image]]:
        """The release's edit prompt names one word; several texts are joined by spaces. The
        result is resized back to the input image's size. One request at a time, as in
        :meth:`generate_image`."""
        pipeline = self._ready()
        results = []
        for request in requests:
            image = open_image(request.image)
            mask = open_image(request.mask, "L") if request.mask is not None else polygon_mask(image.size, request.polygons)
            edited = pipeline.edit_images([image], [mask], [" ".join(request.texts)], [self._seeds(pipeline, request)])[0]
            results.append([resized(result, image.size) for result in edited])
        return results


class _CheckpointAdapter(_TextHarmonyBase):
    """A released checkpoint of configuration ``config_name``."""

    config_name = "release"
    checkpoint_option = "checkpoint"

    def __init__(self, options: MMInterleavedOptions | None = None) -> None:
        super().__init__(options)
        _check_paths(self.name, self.options)
        check_device(self.options.device)

    def load(self) -> None:
        from .base_components import BaseComponents
        from .checkpoint import load_model
        from .tokenizer import VicunaTokenizer

        options = self.options
        device = resolve_device(options.device)
        dtype = resolve_dtype(options.dtype, device)
        base = BaseComponents(vicuna=options.vicuna, clip=options.clip, sd2=options.sd2)
        model, self.report = load_model(
            options.checkpoint, self.config_name, device=device, dtype=dtype, allow_partial=options.allow_partial, base=base
        )
        self.pipeline = self._pipeline(
            model,
            VicunaTokenizer(options.vicuna, model.config.tokens),
            guidance_scale=options.guidance_scale,
            num_inference_steps=options.steps,
        )
        logger.info(self.report.summary())

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        if self.pipeline is not None:
            described["checkpoint"] = self.report.summary()
        return described


def _check_paths(adapter: str, options: MMInterleavedOptions) -> None:
    """Every local path the load reads, checked before anything loads."""
    if options.checkpoint is None or options.vicuna is None:
        raise OptionError(
            f"{adapter} needs checkpoint=PATH (pytorch_model.bin, its .binaa/.binab/.binac parts, or a "
            "converted folder) and vicuna=PATH (local lmsys/vicuna-13b-v1.3, for the tokenizer)"
        )
    locate_checkpoint(options.checkpoint)
    require_tokenizer_files(options.vicuna)
    folders = [("clip", options.clip)]
    if options.sd2 is not None:
        folders += [("sd2", options.sd2 / "unet"), ("sd2", options.sd2 / "vae")]
    for option, folder in folders:
        if folder is not None and not folder.is_dir():
            raise ModelFolderError(f"folder {folder} does not exist (model {adapter!r} option {option})")


class _TinyAdapter(_TextHarmonyBase):
    """Toy size, seeded random weights: for testing the harness and this adapter."""

    config_name = "tiny"

    def load(self) -> None:
        from .build import build_model
        from .tokenizer import ByteTokenizer

        model = build_model(self.config_name, device="cpu", seed=self.options.seed)
        self.pipeline = self._pipeline(model, ByteTokenizer(model.config.tokens), num_inference_steps=self.options.steps)


@register_adapter("textharmony")
class TextHarmonyAdapter(_CheckpointAdapter):
    """TextHarmony from its released checkpoint, with the Slide-LoRA routing of ``gate``."""

    Options = TextHarmonyOptions


@register_adapter("textharmony-tiny")
class TinyTextHarmonyAdapter(_TinyAdapter):
    """TextHarmony at toy size with seeded random weights: every code path in seconds on a CPU."""

    Options = TinyOptions


@register_adapter("mm-interleaved")
class MMInterleavedAdapter(_CheckpointAdapter):
    """MM-Interleaved (TextHarmony's base model, without Slide-LoRA) from its released checkpoint."""

    Options = MMInterleavedOptions
    config_name = "mm-interleaved"


@register_adapter("mm-interleaved-tiny")
class TinyMMInterleavedAdapter(_TinyAdapter):
    """MM-Interleaved's layout at toy size with seeded random weights."""

    Options = MMInterleavedTinyOptions
    config_name = "mm-interleaved-tiny"
