"""Base class for model adapters: one per model family, blind to tasks.

An adapter is built from its options without touching weights, so that the runner can refuse an
impossible task/adapter pair, work out fingerprints and skip finished samples before paying for
a model load; ``load`` does the heavy part only when there is work to do.
"""

from __future__ import annotations

from abc import ABC
from typing import Any, ClassVar, Mapping, Sequence

from PIL import Image

from bench.fingerprint import path_signature, stable_hash
from bench.options import NoOptions, build_options, options_as_dict
from bench.registry import Registry
from bench.types import AnswerRequest, EditImageRequest, GenerateImageRequest, RequestKind


class ModelAdapter(ABC):
    name: ClassVar[str]
    supported_kinds: ClassVar[frozenset[RequestKind]] = frozenset()
    Options: ClassVar[type] = NoOptions
    default_batch_size: ClassVar[int] = 1
    #: The prompt profile tasks use for this model unless the user picks another one.
    prompt_profile: ClassVar[str] = "default"
    #: The option that names the weights (a checkpoint file or a model folder), which reports
    #: show and parse training steps from; ``None`` for a model without weights to choose.
    checkpoint_option: ClassVar[str | None] = None

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "ModelAdapter":
        return cls(build_options(cls.Options, args, owner=f"model {cls.name!r}"))

    def load(self) -> None:
        """Load weights; called once, and only if some request is left to answer."""

    def identity(self) -> dict[str, Any]:
        """What makes this model's outputs what they are: its name, options and the content
        signature of every file or folder its options point to (a checkpoint swapped in place
        under the same path still changes the fingerprint)."""
        options = options_as_dict(self.options)
        files = {}
        for key, value in vars(self.options).items():
            if hasattr(value, "exists") and value.exists():
                files[key] = path_signature(value)
        return {"adapter": self.name, "options": options, "files": files}

    def fingerprint(self) -> str:
        return stable_hash(self.identity())

    def describe(self) -> dict[str, Any]:
        """Runtime facts for the manifest (device, dtype, generation settings)."""
        return {}

    def outputs_vary_with_seed(self) -> bool:
        """Whether these options sample outputs from each request's seed (sampled decoding),
        so that one run's score is one draw: ``thbench run`` then runs several seeds and
        reports their spread unless told otherwise."""
        return False

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        raise NotImplementedError(f"{self.name} does not answer questions")

    def generate_image(self, requests: Sequence[GenerateImageRequest]) -> list[list[Image.Image]]:
        raise NotImplementedError(f"{self.name} does not generate images")

    def edit_image(self, requests: Sequence[EditImageRequest]) -> list[list[Image.Image]]:
        raise NotImplementedError(f"{self.name} does not edit images")


ADAPTERS: Registry[type[ModelAdapter]] = Registry("model", "thbench.adapters", "model_adapters")
register_adapter = ADAPTERS.register
