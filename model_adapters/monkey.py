"""``monkey``: Monkey (Qwen-VL with windowed high-resolution input), native, from its released folder.

The folder is the release as published: ``config.json``, the weights (safetensors or
PyTorch ``.bin``, sharded or not) and ``qwen.tiktoken``; its Python files are never imported
(``model_adapters.qwen_vl`` re-implements them, checked against the released code in
``tests/model_adapters/qwen_vl``).

Prompts arrive with ``<image>`` marks (images the prompt does not place go first); each mark
becomes the image's span of features between ``<img>`` and ``</img>``. Decoding follows the
release's ``eval/evaluate_vqa.py``: greedy, ``min_new_tokens=1``, the end-of-document token as
end and padding, left-padded batches, the new tokens decoded and stripped. A prompt holding
``<ref>`` is a grounding prompt, decoded as Qwen-VL's ``eval_mm/evaluate_grounding.py`` does
(at least 10 new tokens), and with ``special_tokens=auto`` its answer keeps the region tags
(``<ref>``, ``<box>``, ``<quad>`` and their ends, nothing else); any other prompt is decoded
without special tokens, as the VQA evaluation does. Each row's positions are its own,
so batch size changes no answer (the release's batched ``generate`` shifts positions by the
padding).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

from bench.adapter import register_adapter
from bench.types import AnswerRequest
from model_adapters.common.images import open_image
from model_adapters.common.native_adapter import NativeAnswerAdapter
from model_adapters.common.prompts import prompt_parts
from model_adapters.common.torch_options import DtypeName

FOLDER_LAYOUT = "a Monkey release folder (config.json, model*.safetensors or pytorch_model*.bin, qwen.tiktoken)"
GROUNDING_MARK = "<ref>"
#: ``min_new_tokens`` of Qwen-VL's grounding evaluation; Monkey's VQA evaluation uses 1.
GROUNDING_MIN_NEW_TOKENS = 10
_RELEASE_NAMES = {"monkey": "Monkey", "textmonkey": "TextMonkey"}


@dataclass(frozen=True)
class MonkeyOptions:
    model: Path | None = None
    device: str = "auto"
    #: ``auto``: float32 on CPU, bfloat16 (the release's dtype) on a GPU.
    dtype: DtypeName = "auto"
    #: Replaces the requests' ``max_new_tokens`` when set.
    max_new_tokens: int | None = None
    #: ``auto``: keep the region tags for grounding prompts (``<ref>`` in the prompt), drop all
    #: special tokens otherwise; ``skip``: always drop them (the VQA evaluation); ``keep``: keep
    #: every special token but the end-of-document padding.
    special_tokens: Literal["auto", "skip", "keep"] = "auto"


@register_adapter("monkey")
class MonkeyAdapter(NativeAnswerAdapter):
    Options = MonkeyOptions
    default_batch_size = 8
    prompt_profile = "monkey"
    required_files = ("config.json", "qwen.tiktoken")
    folder_layout = FOLDER_LAYOUT
    implementation = "model_adapters.qwen_vl"
    #: The ``variant`` of ``QwenVLConfig`` this adapter runs; a folder of the other is refused.
    variant: ClassVar[str] = "monkey"

    def check_folder(self, folder: Path) -> None:
        from model_adapters.qwen_vl.config import QwenVLConfig, QwenVLConfigError

        variant = QwenVLConfig.from_folder(folder).variant
        if variant != self.variant:
            raise QwenVLConfigError(
                f"{folder} is a {_RELEASE_NAMES[variant]} release (config.json); run it with --model {variant}, "
                f"not --model {self.name}, so that its vision encoder, prompts and decoding are its own"
            )

    def read(self, folder: Path, dtype: Any, device: Any) -> tuple[Any, Any]:
        from model_adapters.qwen_vl.model import MonkeyModel
        from model_adapters.qwen_vl.tokenizer import QwenTokenizer

        tokenizer = QwenTokenizer.from_folder(folder)
        model = MonkeyModel.from_folder(folder, dtype, device)
        configured = model.config.visual.image_start_id
        if configured != tokenizer.ids.image_start:
            raise ValueError(
                f"{folder}: config.json says <img> is id {configured}, qwen.tiktoken makes it "
                f"{tokenizer.ids.image_start}; the tokenizer file does not belong to these weights"
            )
        return tokenizer, model

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "image_token_span": self._model.image_token_span if self._model is not None else None,
            "decoding": self.decoding,
            "special_tokens": self.options.special_tokens,
        }

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        from model_adapters.qwen_vl.generation import Prompt, greedy
        from model_adapters.qwen_vl.tokenizer import encode_with_images

        limits = self.token_limits(requests)
        prompts = [
            Prompt(
                ids=tuple(encode_with_images(self._tokenizer, prompt_parts(r.prompt, len(r.images)), self._model.image_token_span)),
                images=tuple(open_image(image) for image in r.images),
            )
            for r in requests
        ]
        ids = self._tokenizer.ids
        minimum = [self.min_new_tokens(r.prompt) for r in requests]
        generation = greedy(self._model, prompts, max(limits), end_id=ids.end_of_text, image_start=ids.image_start,
                            min_new_tokens=minimum)
        return [self._decode(tokens[:limit], request.prompt) for tokens, limit, request in zip(generation.tokens, limits, requests)]

    decoding: ClassVar[str] = (f"greedy, min_new_tokens=1 ({GROUNDING_MIN_NEW_TOKENS} for <ref> grounding prompts), "
                               "end-of-document token as end and padding, KV cache")

    @staticmethod
    def min_new_tokens(prompt: str) -> int:
        return GROUNDING_MIN_NEW_TOKENS if GROUNDING_MARK in prompt else 1

    @staticmethod
    def answers_with_regions(prompt: str) -> bool:
        """Whether ``special_tokens=auto`` keeps the region tags in this prompt's answer."""
        return GROUNDING_MARK in prompt

    def _decode(self, tokens: list[int], prompt: str) -> str:
        ids = self._tokenizer.ids
        mode = self.options.special_tokens
        if mode == "auto":
            mode = "regions" if self.answers_with_regions(prompt) else "skip"
        if mode == "keep":
            keep = None
            tokens = [t for t in tokens if t != ids.end_of_text]
        else:
            keep = ids.regions if mode == "regions" else frozenset()
        return self._tokenizer.decode(tokens, keep_special=keep).strip()
