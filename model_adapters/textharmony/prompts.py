"""The release's prompt templates and the assembly of interleaved prompts into token ids.

A prompt is a sequence of text pieces and images. ``GenerateHere`` marks the end of a prompt
that asks for an image: it becomes a lone ``<|beginofimage|>`` token whose LLM state conditions
the image decoder. Every sequence starts with BOS; batches are left padded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import torch

from .config import SpecialTokens
from .tokenizer import TextTokenizer

#: From the release's evaluation script (``evaluate.py``).
VQA_PREFIX = "Based on the image, please answer the question."
VQA_SUFFIX = " The answer is:"
#: From the release's example and benchmark annotations (``docs/examples/example.json``,
#: ``configs/release/edit_annt.json``).
GENERATE_TEMPLATE = "Generate an image according to the caption. {caption}"
EDIT_TEMPLATE = 'Fill the masked part in this image with "{text}".'


class GenerateHere:
    """Where the image to be generated goes (always last)."""


Segment = Union[str, torch.Tensor, GenerateHere]


def vqa_prompt(question: str, image: torch.Tensor) -> list[Segment]:
    return [VQA_PREFIX, image, question + VQA_SUFFIX]


def generation_prompt(caption: str, blank: torch.Tensor) -> list[Segment]:
    return [blank, GENERATE_TEMPLATE.format(caption=caption), GenerateHere()]


def edit_prompt(text: str, masked_image: torch.Tensor) -> list[Segment]:
    return [masked_image, EDIT_TEMPLATE.format(text=text), GenerateHere()]


@dataclass
class EncodedBatch:
    input_ids: torch.Tensor  # [B, T], left padded
    attention_mask: torch.Tensor  # [B, T]
    images: torch.Tensor | None  # [N, 3, S, S], row-major
    images_per_row: list[int]
    texts: list[str]  # the text pieces of each prompt, joined (for the Slide-LoRA gate)


def encode_prompts(
    prompts: Sequence[Sequence[Segment]], tokenizer: TextTokenizer, tokens: SpecialTokens, image_tokens: int
) -> EncodedBatch:
    rows, images, counts, texts = [], [], [], []
    for prompt in prompts:
        ids, count, pieces = [tokens.bos], 0, []
        for position, segment in enumerate(prompt):
            if isinstance(segment, GenerateHere):
                if position != len(prompt) - 1:
                    raise ValueError("GenerateHere must be the last segment of a prompt")
                ids.append(tokens.begin_of_image)
            elif isinstance(segment, torch.Tensor):
                ids += [tokens.begin_of_image] + [tokens.image] * image_tokens
                images.append(segment)
                count += 1
            else:
                # The release's tokenizer strips whitespace next to the image tokens.
                text = segment.strip()
                if text:
                    ids += tokenizer.encode(text)
                    pieces.append(text)
        rows.append(ids)
        counts.append(count)
        texts.append(" ".join(pieces))
    length = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), length), tokens.pad, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, ids in enumerate(rows):
        input_ids[i, length - len(ids) :] = torch.tensor(ids)
        attention_mask[i, length - len(ids) :] = 1
    stacked = torch.stack(images) if images else None
    return EncodedBatch(input_ids, attention_mask, stacked, counts, texts)
