"""``docowl``: mPLUG-DocOwl 1.5, native, from its released folder.

The folder is the release as published: ``config.json`` (``model_type`` ``mplug_docowl``), the
weights (safetensors or PyTorch ``.bin``, sharded or not) and LLaMA's ``tokenizer.model`` with
``tokenizer_config.json``; no Python file of the release is imported
(``model_adapters.mplug_docowl`` re-implements it, checked against the released code in
``tests/model_adapters/docowl``).

Requests are answered as the release's ``docowl_infer.py`` (``DocOwlInfer.inference``) does:
the image cut with ``grid_9`` anchors plus the global view, each crop announced by its textual
indicator in the user turn, the ``mplug_owl2`` conversation, greedy decoding until ``</s>``, the
new tokens decoded with their special tokens, stripped, and ``</s>`` removed. One image per
request at most (the release's processor gives every image mark the crops of all images).
Each row's positions are its own, so batch size changes no answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from bench.adapter import register_adapter
from bench.types import AnswerRequest
from model_adapters.common.images import open_image
from model_adapters.common.native_adapter import NativeAnswerAdapter
from model_adapters.common.prompts import prompt_parts
from model_adapters.common.torch_options import DtypeName

FOLDER_LAYOUT = "a DocOwl 1.5 release folder (config.json, model*.safetensors or pytorch_model*.bin, tokenizer.model)"


@dataclass(frozen=True)
class DocOwlOptions:
    model: Path | None = None
    device: str = "auto"
    #: ``auto``: float32 on CPU, float16 (the dtype ``DocOwlInfer`` loads) on a GPU.
    dtype: DtypeName = "auto"
    #: Replaces the requests' ``max_new_tokens`` when set.
    max_new_tokens: int | None = None
    #: The release's ``add_global_img``: the whole image as a first crop. On in its benchmark
    #: evaluation; its text localization evaluation (DocLocal4K) turns it off.
    global_view: bool = True


@register_adapter("docowl")
class DocOwlAdapter(NativeAnswerAdapter):
    Options = DocOwlOptions
    default_batch_size = 4
    prompt_profile = "docowl"
    required_files = ("config.json", "tokenizer.model")
    folder_layout = FOLDER_LAYOUT
    accelerator_dtype = "float16"
    implementation = "model_adapters.mplug_docowl"

    def check_folder(self, folder: Path) -> None:
        from model_adapters.mplug_docowl.config import DocOwlConfig

        DocOwlConfig.from_folder(folder)

    def read(self, folder: Path, dtype: Any, device: Any) -> tuple[Any, Any]:
        from model_adapters.mplug_docowl.model import DocOwlModel
        from model_adapters.mplug_docowl.tokenizer import LlamaTokenizer

        tokenizer = LlamaTokenizer.from_folder(folder)
        model = DocOwlModel.from_folder(folder, dtype, device)
        if tokenizer.size > model.config.vocab_size:
            raise ValueError(f"{folder}: tokenizer.model has {tokenizer.size} pieces, the weights "
                             f"{model.config.vocab_size} rows; the tokenizer does not belong to these weights")
        return tokenizer, model

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "cropping": "grid_9 anchors" + (" + global view" if self.options.global_view else "") + ", textual crop indicators",
            "template": "mplug_owl2",
            "decoding": "greedy until </s>, KV cache; special tokens decoded, text stripped, </s> removed",
        }

    def prompt(self, request: AnswerRequest) -> Any:
        """The request as the release would tokenize it: ids and the image's crops."""
        from model_adapters.mplug_docowl.generation import IMAGE_INDEX, Prompt
        from model_adapters.mplug_docowl.images import conversation, crop, user_turn
        from model_adapters.mplug_docowl.tokenizer import encode_prompt

        if len(request.images) > 1:
            raise ValueError(f"DocOwl 1.5 reads one image per prompt; request {request.key!r} has {len(request.images)}")
        size = self._model.config.vision.image_size
        crops = [crop(open_image(image), size, self.options.global_view) for image in request.images]
        text = conversation(user_turn(prompt_parts(request.prompt, len(request.images)), crops))
        return Prompt(tuple(encode_prompt(self._tokenizer, text, IMAGE_INDEX)), tuple(crops))

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        from model_adapters.mplug_docowl.generation import greedy

        limits = self.token_limits(requests)
        generation = greedy(self._model, [self.prompt(r) for r in requests], max(limits), end_id=self._tokenizer.eos_id)
        return [self.text(tokens[:limit]) for tokens, limit in zip(generation.tokens, limits)]

    def text(self, tokens: list[int]) -> str:
        """The release's answer: the new tokens decoded, stripped, ``</s>`` removed."""
        return self._tokenizer.decode(tokens).strip().replace("</s>", "")
