"""``textdiffuser2``: TextDiffuser-2 (Chen et al., ECCV 2024) from its released folders.

Reads three local folders, in the release's layout:

``model``
    the fine-tuned model (``JingyeChen22/textdiffuser2-full-ft``): ``unet/`` and
    ``text_encoder/`` (its embedding table already holds the added tokens).
``base``
    Stable Diffusion 1.5 (``runwayml/stable-diffusion-v1-5``), whose ``tokenizer/``, ``vae/`` and
    ``scheduler/`` the release uses unchanged; ``model`` itself when unset.
``planner``
    the layout planner (``JingyeChen22/textdiffuser2_layout_planner``): a causal LM folder with
    its sentencepiece ``tokenizer.model``; needed unless ``layout=given``.

Each request is one prompt: the layout is planned from the caption (``layout=planner``), or
taken from the request's text positions (``layout=given``), or, by default (``auto``), taken
from the positions when the request has them (AnyText-benchmark) and planned otherwise
(MARIO-Eval). The caption and layout become the release's prompt ids (``tokens``), and its N
images are sampled together (``sampler``) at ``size`` (512) and resized to the request's size.
Defaults are those of the release's ``inference_textdiffuser2_t2i_full.sh``: 20 steps, guidance
7.5, planner temperature 0.7. The release seeds from the clock once per run; here the planner
and the image sampler are each seeded with the request's seed, so that a request's output does
not depend on the batch size or on the other requests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from PIL import Image

from bench.adapter import ModelAdapter, register_adapter
from bench.options import OptionError
from bench.types import GenerateImageRequest, RequestKind
from model_adapters.common.folders import ModelFolderError, require_model_folder
from model_adapters.common.images import resized
from model_adapters.common.torch_options import DtypeName, check_device, resolve_device, resolve_dtype
from model_adapters.textdiffuser2.layout import LayoutLine, layout_from_polygons, parse_layout
from model_adapters.textdiffuser2.planner import LayoutPlanner, PlannerSettings
from model_adapters.textdiffuser2.sampler import LATENT_FACTOR, ImageModel, SamplingSettings, to_pil
from model_adapters.textdiffuser2.tokens import PromptTokenizer

logger = logging.getLogger(__name__)

MODEL_LAYOUT = "the TextDiffuser-2 folder (textdiffuser2-full-ft) with unet/ and text_encoder/"
BASE_LAYOUT = "a Stable Diffusion 1.5 folder with tokenizer/, vae/ and scheduler/"
PLANNER_LAYOUT = "the layout planner folder (textdiffuser2_layout_planner): config.json, weights, tokenizer.model"


@dataclass(frozen=True)
class TextDiffuser2Options:
    model: Path | None = None
    base: Path | None = None
    planner: Path | None = None
    layout: Literal["auto", "planner", "given"] = "auto"
    device: str = "auto"
    dtype: DtypeName = "auto"
    steps: int = 20
    guidance_scale: float = 7.5
    #: Side of the square the model samples at; outputs are resized to the request's size.
    size: int = 512
    planner_temperature: float = 0.7
    planner_max_new_tokens: int = 512


@register_adapter("textdiffuser2")
class TextDiffuser2Adapter(ModelAdapter):
    """TextDiffuser-2: layout planner, then SD1.5 fine-tuned on coordinate and character tokens."""

    supported_kinds = frozenset({RequestKind.GENERATE_IMAGE})
    Options = TextDiffuser2Options
    checkpoint_option = "model"
    default_batch_size = 1

    def __init__(self, options: TextDiffuser2Options | None = None) -> None:
        super().__init__(options)
        options = self.options
        model = require_model_folder(options.model, self.name, ("unet/config.json", "text_encoder/config.json"), MODEL_LAYOUT)
        base = options.base or model
        require_model_folder(base, self.name, ("tokenizer/vocab.json", "tokenizer/merges.txt", "vae/config.json",
                                               "scheduler/scheduler_config.json"), BASE_LAYOUT)
        if options.layout != "given":
            if options.planner is None:
                raise OptionError(
                    f"model {self.name!r} plans text layouts with its layout planner: give --model-args planner=/path "
                    f"({PLANNER_LAYOUT}), or layout=given to use only the tasks' text positions"
                )
            require_model_folder(options.planner, self.name, ("config.json", "tokenizer.model"), PLANNER_LAYOUT)
        check_device(options.device)
        if options.size <= 0 or options.size % LATENT_FACTOR:
            raise OptionError(f"model {self.name!r} option 'size' must be a positive multiple of {LATENT_FACTOR}, got {options.size}")
        if options.steps <= 0 or options.planner_max_new_tokens <= 0:
            raise OptionError(f"model {self.name!r} options 'steps' and 'planner_max_new_tokens' must be positive")
        self._base = base
        self._tokenizer: PromptTokenizer | None = None
        self._images: ImageModel | None = None
        self._planner: LayoutPlanner | None = None

    def load(self) -> None:
        device = resolve_device(self.options.device)
        dtype = resolve_dtype(self.options.dtype, device, accelerator_default="float16")
        tokenizer = PromptTokenizer.from_folder(self._base / "tokenizer")
        images = ImageModel.load(self.options.model, self._base, device, dtype)
        if images.vocabulary_size != tokenizer.length:
            raise ModelFolderError(
                f"{self.options.model / 'text_encoder'} has {images.vocabulary_size} token embeddings, but the tokenizer of "
                f"{self._base} extended by TextDiffuser-2's tokens has {tokenizer.length}: the text encoder and tokenizer "
                "do not belong together (base must be the SD1.5 folder the model was fine-tuned from)"
            )
        if self.options.layout != "given":
            settings = PlannerSettings(self.options.planner_temperature, self.options.planner_max_new_tokens)
            self._planner = LayoutPlanner.load(self.options.planner, device, dtype, settings)
        self._tokenizer, self._images = tokenizer, images

    def describe(self) -> dict[str, Any]:
        images = self._images
        return {
            "device": str(images.device) if images else None,
            "dtype": str(images.dtype).removeprefix("torch.") if images else None,
            "scheduler_class": "DDPMScheduler",
            "settings": {"steps": self.options.steps, "guidance_scale": self.options.guidance_scale, "size": self.options.size},
            "planner_sampling": self._planner.sampling() if self._planner else None,
            "tokenizer_length": self._tokenizer.length if self._tokenizer else None,
        }

    def generate_image(self, requests: Sequence[GenerateImageRequest]) -> list[list[Image.Image]]:
        return [self._generate(request) for request in requests]

    def layout(self, request: GenerateImageRequest) -> list[LayoutLine]:
        """The request's text layout on the 128 grid: its positions, or the planner's answer."""
        use_positions = self.options.layout == "given" or (self.options.layout == "auto" and request.positions)
        if use_positions:
            if not request.positions:
                raise ValueError("the request gives no text positions, and layout=given plans none; use layout=auto")
            return layout_from_polygons(request.texts, request.positions, (request.width, request.height))
        assert self._planner is not None
        _, answer = self._planner.plan(request.prompt, request.seed)
        logger.debug("planned layout for %r: %r", request.prompt, answer)
        return parse_layout(answer)

    def _generate(self, request: GenerateImageRequest) -> list[Image.Image]:
        assert self._tokenizer is not None and self._images is not None
        prompt = self._tokenizer.prompt_ids(request.prompt, self.layout(request))
        settings = SamplingSettings(self.options.steps, self.options.guidance_scale, self.options.size)
        latents = self._images.sample_latents(prompt, self._tokenizer.unconditional_ids(), request.num_images, request.seed, settings)
        return [resized(image, (request.width, request.height)) for image in to_pil(self._images.decode(latents))]
