"""``hf-vlm``: any transformers image-text-to-text model saved in a local folder.

The folder is what ``model.save_pretrained(path)`` and ``processor.save_pretrained(path)``
write (LLaVA, Qwen2-VL, Idefics, InternVL-HF, ...); it is read with ``AutoProcessor`` and
``AutoModelForImageTextToText`` and nothing is downloaded.

Prompts arrive formatted by the task's prompt profile, with ``<image>`` where each image goes.
When the processor (or its tokenizer) carries a chat template, the prompt becomes one user turn
whose content alternates image and text parts in that order, and the template adds the
assistant prefix; without a template, each ``<image>`` is replaced by the processor's own image
token. Decoding is greedy. Requests are batched with left padding; a batch generates up to its
largest ``max_new_tokens`` and each answer is cut to its own limit, which is what greedy
decoding with that limit would have produced. Padding is masked out, so answers do not depend
on the batch; on a GPU in half precision, kernels chosen by batch shape can still round a
near-tie differently, and ``--batch-size 1`` is then the exact reference.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from bench.adapter import ModelAdapter, register_adapter
from bench.types import AnswerRequest, RequestKind
from model_adapters.common.folders import python_files, require_model_folder, require_trusted_code
from model_adapters.common.images import open_image
from model_adapters.common.prompts import prompt_parts
from model_adapters.common.torch_options import DtypeName, check_device, resolve_device, resolve_dtype

FOLDER_LAYOUT = "a folder written by model.save_pretrained(path) and processor.save_pretrained(path)"


@dataclass(frozen=True)
class HfVlmOptions:
    model: Path | None = None
    device: str = "auto"
    dtype: DtypeName = "auto"
    #: Wrap the prompt in the model's chat template when the folder has one.
    chat_template: bool = True
    #: Replaces the requests' ``max_new_tokens`` when set.
    max_new_tokens: int | None = None
    #: Some architectures ship their modeling code in the folder; it runs only when allowed.
    trust_remote_code: bool = False


@register_adapter("hf-vlm")
class HfVlmAdapter(ModelAdapter):
    supported_kinds = frozenset({RequestKind.ANSWER})
    Options = HfVlmOptions
    default_batch_size = 8
    prompt_profile = "chat"
    checkpoint_option = "model"

    def __init__(self, options: HfVlmOptions | None = None) -> None:
        super().__init__(options)
        folder = require_model_folder(self.options.model, self.name, ("config.json",), FOLDER_LAYOUT)
        check_device(self.options.device)
        if _declares_remote_code(folder):
            require_trusted_code(self.options.trust_remote_code, self.name, python_files(folder))
        self._model: Any = None
        self._processor: Any = None
        self._device: Any = None
        self._dtype: Any = None

    def load(self) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self._device = resolve_device(self.options.device)
        self._dtype = resolve_dtype(self.options.dtype, self._device)
        common = {"local_files_only": True, "trust_remote_code": self.options.trust_remote_code}
        self._processor = AutoProcessor.from_pretrained(self.options.model, **common)
        self._processor.tokenizer.padding_side = "left"
        self._model = AutoModelForImageTextToText.from_pretrained(self.options.model, dtype=self._dtype, **common)
        self._model.to(self._device).eval()

    def describe(self) -> dict[str, Any]:
        return {
            "device": str(self._device),
            "dtype": str(self._dtype).removeprefix("torch."),
            "model_class": type(self._model).__name__,
            "processor_class": type(self._processor).__name__,
            "chat_template": self._uses_chat_template(),
            "decoding": "greedy",
        }

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        import torch

        limits = [self.options.max_new_tokens or request.max_new_tokens for request in requests]
        texts = [self._model_text(request) for request in requests]
        images = [[open_image(image) for image in request.images] for request in requests]
        inputs = self._processor(text=texts, images=images if any(images) else None, padding=True, return_tensors="pt")
        inputs = inputs.to(device=self._device, dtype=self._dtype)  # casts only the floating-point inputs
        with torch.inference_mode():
            output = self._model.generate(**inputs, generation_config=self._greedy(max(limits)))
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        tokenizer = self._processor.tokenizer
        return [tokenizer.decode(row[:limit], skip_special_tokens=True).strip() for row, limit in zip(new_tokens, limits)]

    def _greedy(self, max_new_tokens: int) -> Any:
        """The model's own generation settings (its end tokens above all) with sampling off."""
        config = copy.deepcopy(self._model.generation_config)
        config.update(do_sample=False, num_beams=1, temperature=None, top_p=None, top_k=None, max_new_tokens=max_new_tokens)
        if config.pad_token_id is None:
            config.pad_token_id = self._processor.tokenizer.pad_token_id
        return config

    def _uses_chat_template(self) -> bool:
        if not self.options.chat_template or self._processor is None:
            return False
        return bool(getattr(self._processor, "chat_template", None) or getattr(self._processor.tokenizer, "chat_template", None))

    def _model_text(self, request: AnswerRequest) -> str:
        parts = prompt_parts(request.prompt, len(request.images))
        if self._uses_chat_template():
            messages = [{"role": "user", "content": chat_content(parts)}]
            return self._processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        image_token = getattr(self._processor, "image_token", None)
        if image_token is None:
            raise ValueError(
                f"{self.options.model} has neither a chat template nor a processor image token, so there is no way "
                "to place the image in the prompt; save a chat template with the processor"
            )
        return "".join(image_token if part is None else part for part in parts)


def chat_content(parts: Sequence[str | None]) -> list[dict[str, str]]:
    """A chat message's typed content: image parts, and the non-blank text parts stripped
    (marks usually sit on their own line)."""
    content = []
    for part in parts:
        if part is None:
            content.append({"type": "image"})
        elif part.strip():
            content.append({"type": "text", "text": part.strip()})
    return content


def _declares_remote_code(folder: Path) -> bool:
    """Whether loading would import Python from the folder: an ``auto_map`` in its configs."""
    for name in ("config.json", "processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        path = folder / name
        if path.is_file():
            try:
                if "auto_map" in json.loads(path.read_text(encoding="utf-8")):
                    return True
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
    return False
