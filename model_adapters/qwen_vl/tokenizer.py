"""Qwen's tokenizer: byte-level BPE from ``qwen.tiktoken`` plus Qwen-VL's special tokens.

The rank file holds one ``base64(token) rank`` per line. Special tokens follow the ranks in
this order (``tokenization_qwen.py`` of the release): ``<|endoftext|>``, ``<|im_start|>``,
``<|im_end|>``, ``<|extra_0|>`` … ``<|extra_204|>``, then the nine image and box tags
``<ref> </ref> <box> </box> <quad> </quad> <img> </img> <imgpad>``. Special-token text in a
prompt is read as the special token (the release's ``allowed_special="all"``), and text is
NFC-normalised first, as the release does.
"""

from __future__ import annotations

import base64
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

#: Qwen's pre-tokenisation pattern.
PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
END_OF_TEXT = "<|endoftext|>"
CHAT_TOKENS = (END_OF_TEXT, "<|im_start|>", "<|im_end|>") + tuple(f"<|extra_{i}|>" for i in range(205))
IMAGE_TAGS = ("<ref>", "</ref>", "<box>", "</box>", "<quad>", "</quad>", "<img>", "</img>", "<imgpad>")
#: The tags a grounding answer is written in.
REGION_TAGS = IMAGE_TAGS[:6]


class TokenizerFileError(ValueError):
    pass


def read_ranks(path: Path) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError as error:
            raise TokenizerFileError(f"{path}:{number}: expected 'base64-token rank' ({error})") from None
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise TokenizerFileError(f"{path}: ranks must be 0..{len(ranks) - 1}, each once")
    return ranks


@dataclass(frozen=True)
class SpecialIds:
    end_of_text: int
    image_start: int
    image_end: int
    image_pad: int
    regions: frozenset[int]


class QwenTokenizer:
    def __init__(self, ranks: dict[bytes, int]) -> None:
        import tiktoken

        self.special_tokens = {token: len(ranks) + i for i, token in enumerate(CHAT_TOKENS + IMAGE_TAGS)}
        self._encoding = tiktoken.Encoding("Qwen", pat_str=PATTERN, mergeable_ranks=ranks, special_tokens=self.special_tokens)
        ids = self.special_tokens
        self.ids = SpecialIds(
            end_of_text=ids[END_OF_TEXT],
            image_start=ids["<img>"],
            image_end=ids["</img>"],
            image_pad=ids["<imgpad>"],
            regions=frozenset(ids[tag] for tag in REGION_TAGS),
        )

    @classmethod
    def from_folder(cls, folder: Path) -> "QwenTokenizer":
        path = folder / "qwen.tiktoken"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; a Qwen-VL release folder carries its qwen.tiktoken")
        return cls(read_ranks(path))

    @property
    def size(self) -> int:
        return self._encoding.n_vocab

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode(unicodedata.normalize("NFC", text), allowed_special="all")

    def decode(self, ids: list[int], keep_special: Collection[int] | None = None) -> str:
        """Text of ``ids``. ``keep_special=None`` keeps every special token (the release's
        ``skip_special_tokens=False``); a collection keeps only those special ids and drops the
        others (an empty one is ``skip_special_tokens=True``). Ids past the tokenizer (rows of a
        padded embedding) have no text and are dropped."""
        first_special = self.ids.end_of_text
        kept = [
            i for i in ids
            if i < first_special or (i < self.size and (keep_special is None or i in keep_special))
        ]
        return self._encoding.decode(kept, errors="replace")


def encode_with_images(tokenizer: QwenTokenizer, parts: list[str | None], image_token_span: int) -> list[int]:
    """Ids of a prompt given as text parts and ``None`` for each image: an image is ``<img>``,
    ``image_token_span`` pads, ``</img>`` (the release's span, whose ids the features replace)."""
    ids: list[int] = []
    special = tokenizer.ids
    for part in parts:
        if part is None:
            ids += [special.image_start] + [special.image_pad] * image_token_span + [special.image_end]
        else:
            ids += tokenizer.encode(part)
    return ids
