"""``textmonkey``: TextMonkey (Monkey with shifted-window attention and token resampling), native,
from its released folder.

Everything but the following is ``monkey``'s (``model_adapters.monkey``): the folder must be a
TextMonkey release (``config.json`` with ``TextMonkeyLMHeadModel`` and its visual options), the
tasks' ``textmonkey`` prompt profiles are the defaults (``eval/evaluate_vqa_doc.py``'s
``'<img>{}</img> {} Answer:'``, ``demo_textmonkey.py``'s ``<ref>text</ref>`` grounding with
``<box>(x1,y1),(x2,y2)</box>`` answers on a 0-1000 grid), and every prompt decodes as those
scripts do: greedy, ``min_new_tokens=1``. With ``special_tokens=auto`` the region tags stay in
the answers of the prompts that ask for positions — ``<ref>``, "OCR with grounding", "Provide
the location coordinates" (the demo's grounding tasks, whose boxes it reads from the tags) —
and every other answer is decoded without special tokens, as the VQA evaluation does.
"""

from __future__ import annotations

from typing import ClassVar

from bench.adapter import register_adapter
from model_adapters.monkey import GROUNDING_MARK, MonkeyAdapter

#: Prompt phrases of ``demo_textmonkey.py``'s tasks whose answers carry ``<box>``/``<ref>`` tags.
REGION_PROMPTS = (GROUNDING_MARK, "OCR with grounding", "Provide the location coordinates")


@register_adapter("textmonkey")
class TextMonkeyAdapter(MonkeyAdapter):
    prompt_profile = "textmonkey"
    variant = "textmonkey"
    folder_layout = "a TextMonkey release folder (config.json, model*.safetensors or pytorch_model*.bin, qwen.tiktoken)"
    decoding: ClassVar[str] = "greedy, min_new_tokens=1, end-of-document token as end and padding, KV cache"

    @staticmethod
    def min_new_tokens(prompt: str) -> int:
        return 1

    @staticmethod
    def answers_with_regions(prompt: str) -> bool:
        return any(phrase in prompt for phrase in REGION_PROMPTS)
