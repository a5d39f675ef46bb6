"""``monkey``: Monkey and TextMonkey (Qwen-VL based), with the model's own code from its folder.

The folder is a Monkey/TextMonkey release as published (``config.json`` with an ``auto_map``,
``modeling_*.py``, ``tokenization_qwen.py``, ``qwen.tiktoken``, weights). Loading imports that
Python code, so the adapter refuses to start without ``trust_remote_code=true``. The released
code needs packages thbench does not (tiktoken, torchvision, matplotlib, einops) and was
written for transformers 4.32; both are the folder's business.

Qwen-VL models read images by *path*: the tokenizer turns ``<img>PATH</img>`` into the path's
bytes padded to a fixed span, and the model opens the file during its forward pass. Each
request image is therefore written losslessly (PNG, named by content) to a private temporary
folder, and every ``<image>`` mark of the prompt becomes ``<img>PATH</img>`` (images the prompt
does not place are put first).

Generation and decoding follow the released evaluation scripts (``eval/evaluate_vqa.py`` for
Monkey, ``eval/evaluate_vqa_doc.py`` for TextMonkey): left padding with the end-of-document
token as padding, greedy search (one beam, ``min_new_tokens=1``), the new tokens decoded
without special tokens and stripped; TextMonkey's ``IMG_TOKEN_SPAN`` comes from
``config.visual["n_queries"]``, as those scripts set it. Grounding answers need the ``<ref>``
and ``<box>`` tags that decoding drops: ``special_tokens=keep`` decodes them as the TextMonkey
demo (``demo_textmonkey.py``) does, removing only the end-of-text padding.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from PIL import Image

from bench.adapter import ModelAdapter, register_adapter
from bench.types import AnswerRequest, RequestKind
from model_adapters.common.folders import python_files, require_model_folder, require_trusted_code
from model_adapters.common.images import open_image
from model_adapters.common.prompts import prompt_parts
from model_adapters.common.torch_options import DtypeName, check_device, resolve_device, resolve_dtype

FOLDER_LAYOUT = "a Monkey or TextMonkey release folder (config.json with auto_map, modeling and tokenizer code, weights)"
END_OF_TEXT = "<|endoftext|>"


@dataclass(frozen=True)
class MonkeyOptions:
    model: Path | None = None
    #: The folder's Python code runs at load time; required, and recorded in the manifest.
    trust_remote_code: bool = False
    device: str = "auto"
    dtype: DtypeName = "auto"
    #: Replaces the requests' ``max_new_tokens`` when set.
    max_new_tokens: int | None = None
    #: ``skip`` as the VQA evaluation scripts decode; ``keep`` for grounding (``<ref>``/``<box>``).
    special_tokens: Literal["skip", "keep"] = "skip"


@register_adapter("monkey")
class MonkeyAdapter(ModelAdapter):
    supported_kinds = frozenset({RequestKind.ANSWER})
    Options = MonkeyOptions
    default_batch_size = 8
    prompt_profile = "monkey"
    checkpoint_option = "model"

    def __init__(self, options: MonkeyOptions | None = None) -> None:
        super().__init__(options)
        folder = require_model_folder(self.options.model, self.name, ("config.json",), FOLDER_LAYOUT)
        require_trusted_code(self.options.trust_remote_code, self.name, python_files(folder))
        check_device(self.options.device)
        self._model: Any = None
        self._tokenizer: Any = None
        self._device: Any = None
        self._dtype: Any = None
        self._image_folder: tempfile.TemporaryDirectory | None = None

    def load(self) -> None:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        self._device = resolve_device(self.options.device)
        self._dtype = resolve_dtype(self.options.dtype, self._device)
        common = {"local_files_only": True, "trust_remote_code": True}
        config = AutoConfig.from_pretrained(self.options.model, **common)
        tokenizer = AutoTokenizer.from_pretrained(self.options.model, **common)
        tokenizer.padding_side = "left"
        tokenizer.pad_token_id = tokenizer.eod_id
        queries = (getattr(config, "visual", None) or {}).get("n_queries")
        if queries:
            tokenizer.IMG_TOKEN_SPAN = queries
        model = AutoModelForCausalLM.from_pretrained(self.options.model, config=config, dtype=self._dtype, **common)
        self._model = model.to(self._device).eval()
        self._tokenizer = tokenizer
        self._image_folder = tempfile.TemporaryDirectory(prefix="thbench-monkey-")

    def describe(self) -> dict[str, Any]:
        return {
            "device": str(self._device),
            "dtype": str(self._dtype).removeprefix("torch."),
            "model_class": type(self._model).__name__,
            "image_token_span": getattr(self._tokenizer, "IMG_TOKEN_SPAN", None),
            "decoding": "greedy, min_new_tokens=1, eod as pad and end",
            "special_tokens": self.options.special_tokens,
        }

    def answer(self, requests: Sequence[AnswerRequest]) -> list[str]:
        import torch

        limits = [self.options.max_new_tokens or request.max_new_tokens for request in requests]
        prompts = [qwen_vl_prompt(request.prompt, [self._image_path(image) for image in request.images]) for request in requests]
        inputs = self._tokenizer(prompts, return_tensors="pt", padding="longest")
        eod = self._tokenizer.eod_id
        with torch.inference_mode():
            output = self._model.generate(
                input_ids=inputs.input_ids.to(self._device),
                attention_mask=inputs.attention_mask.to(self._device),
                do_sample=False,
                num_beams=1,
                max_new_tokens=max(limits),
                min_new_tokens=1,
                length_penalty=1,
                num_return_sequences=1,
                use_cache=True,
                pad_token_id=eod,
                eos_token_id=eod,
            )
        new_tokens = output[:, inputs.input_ids.shape[1] :].cpu()
        return [self._decode(row[:limit].tolist()) for row, limit in zip(new_tokens, limits)]

    def _decode(self, tokens: list[int]) -> str:
        skip = self.options.special_tokens == "skip"
        return self._tokenizer.decode(tokens, skip_special_tokens=skip).replace(END_OF_TEXT, "").strip()

    def _image_path(self, image: Image.Image | Path) -> str:
        """A lossless copy of the request image, named by its pixels, that the model can open."""
        assert self._image_folder is not None, "load() first"
        rgb = open_image(image)
        digest = hashlib.blake2b(f"{rgb.size}".encode() + rgb.tobytes(), digest_size=12).hexdigest()
        path = Path(self._image_folder.name) / f"{digest}.png"
        if not path.exists():
            rgb.save(path)
        return str(path)


def qwen_vl_prompt(prompt: str, image_paths: Sequence[str]) -> str:
    """Qwen-VL's way of placing images: each ``<image>`` mark becomes ``<img>PATH</img>``, in
    order; images the prompt does not place go first, as in Monkey's own prompts."""
    paths = iter(image_paths)
    return "".join(f"<img>{next(paths)}</img>" if part is None else part for part in prompt_parts(prompt, len(image_paths)))
