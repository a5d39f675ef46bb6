"""Tokenizers: Vicuna's, as the release sets it up, and a byte-level one for toy models.

Prompts are tokenized piece by piece (text pieces without special tokens, then the special
ids inserted directly). That is what the release's slow LLaMA tokenizer does to a string with
special tokens in it: it splits at them, strips the whitespace around them and encodes every
text piece on its own, each with its leading "▁".
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

from .config import SpecialTokens

IMAGE_START_TOKEN = "<|beginofimage|>"
IMAGE_TOKEN = "<|image|>"


class TextTokenizer(Protocol):
    def encode(self, text: str) -> list[int]:
        """Token ids of a text piece, without BOS/EOS."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of generated ids, special tokens dropped."""
        ...


class VicunaTokenizer:
    """Vicuna's tokenizer with the two image tokens appended (ids 32000, 32001), pad 31999."""

    def __init__(self, folder: "str | Path", tokens: SpecialTokens) -> None:
        folder = Path(folder)
        require_tokenizer_files(folder)
        from transformers import AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
        except (ImportError, ValueError) as error:
            raise RuntimeError(
                f"could not build the tokenizer from {folder} ({error}); "
                "`pip install sentencepiece` lets transformers read tokenizer.model"
            ) from error
        self._tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_START_TOKEN, IMAGE_TOKEN]})
        ids = self._tokenizer.convert_tokens_to_ids([IMAGE_START_TOKEN, IMAGE_TOKEN])
        if ids != [tokens.begin_of_image, tokens.image]:
            raise ValueError(f"{folder}: image tokens got ids {ids}, the model expects "
                             f"{[tokens.begin_of_image, tokens.image]}; is this Vicuna's 32,000-token vocabulary?")

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=True)


def require_tokenizer_files(folder: Path) -> None:
    """Vicuna's tokenizer must be in ``folder``, as the slow (``tokenizer.model``) or the fast
    (``tokenizer.json``) file."""
    if not (folder / "tokenizer.model").is_file() and not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"Vicuna folder {folder} has neither tokenizer.model nor tokenizer.json; "
            "point it at a local copy of lmsys/vicuna-13b-v1.3"
        )


class ByteTokenizer:
    """UTF-8 bytes at ids 3..258, for toy models whose vocabulary is not Vicuna's."""

    OFFSET = 3

    def __init__(self, tokens: SpecialTokens) -> None:
        if tokens.pad < self.OFFSET + 256:
            raise ValueError("a byte tokenizer needs a vocabulary of at least 259 ids below the special tokens")

    def encode(self, text: str) -> list[int]:
        return [b + self.OFFSET for b in text.encode("utf-8")]

    def decode(self, ids: Sequence[int]) -> str:
        data = bytes(i - self.OFFSET for i in ids if self.OFFSET <= i < self.OFFSET + 256)
        return data.decode("utf-8", errors="replace")
