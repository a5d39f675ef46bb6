"""TextDiffuser-2's prompt ids: SD1.5's CLIP tokenizer as the release runs it, extended by
coordinate and character tokens.

The release adds ``l0 t0 r0 b0 … l519 t519 r519 b519`` and ``[c]`` for each of 95 characters to
the tokenizer, one ``add_tokens`` call each; a token the vocabulary already holds keeps its id
and is not added, the others take the next ids in that order. It then writes a prompt as the
caption's ids followed, per text line, by four coordinate tokens, one token per character and
an end token, cut or padded (with the pad token) to 77.

The caption is tokenized as transformers 4.28's slow ``CLIPTokenizer`` does without ``ftfy``
(the release's environment has none), which today's tokenizer does not reproduce: the caption
is first split on the added tokens, matched case-sensitively on the raw text (so ``t1`` in a
caption is one token, ``T1`` is not); each remaining piece is cleaned the way BERT's basic
tokenizer cleans text (control characters dropped, CJK ideographs spaced, lower-cased, accents
stripped, punctuation split off), then byte-level BPE encoded. A character outside the 95 maps
to the unknown token, which in SD1.5's tokenizer is the end token.
"""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from model_adapters.textdiffuser2.layout import LayoutLine

ALPHABET = string.digits + string.ascii_lowercase + string.ascii_uppercase + string.punctuation + " "
#: Coordinate tokens exist for 0..519 on every side.
COORDINATES = 520
#: The text encoder's context length the released model was trained with.
MAX_LENGTH = 77


def added_tokens() -> list[str]:
    """The tokens the release adds, in the order it adds them."""
    coordinates = [f"{side}{value}" for value in range(COORDINATES) for side in "ltrb"]
    return coordinates + [f"[{char}]" for char in ALPHABET]


@dataclass(frozen=True)
class PromptTokenizer:
    """SD1.5's tokenizer (``base``, never extended itself) plus the added tokens' ids."""

    base: Any
    added: Mapping[str, int]
    #: Tokens a caption is split on before BPE: the newly added ones and the special ones.
    unsplit: Mapping[str, int]
    length: int
    max_length: int = MAX_LENGTH

    @classmethod
    def from_folder(cls, folder: Path, max_length: int = MAX_LENGTH) -> "PromptTokenizer":
        from transformers import CLIPTokenizer

        base = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
        vocabulary = base.get_vocab()
        added: dict[str, int] = {}
        new: dict[str, int] = {}
        length = len(vocabulary)
        for token in added_tokens():
            if token in vocabulary:
                added[token] = vocabulary[token]
            else:
                added[token] = new[token] = length
                length += 1
        specials = {token: vocabulary[token] for token in (base.bos_token, base.eos_token, base.pad_token, base.unk_token)}
        return cls(base, added, {**new, **specials}, length, max_length)

    @property
    def pad_id(self) -> int:
        return int(self.base.pad_token_id)

    def token_id(self, token: str) -> int:
        """A token's id; one the vocabulary lacks is the unknown token, as in the release."""
        if token in self.added:
            return self.added[token]
        found = self.base.convert_tokens_to_ids(token)
        return int(found if found is not None else self.base.unk_token_id)

    def caption_ids(self, caption: str) -> list[int]:
        """``tokenizer(caption, truncation=True).input_ids`` of the release: start token, at
        most 75 tokens, end token."""
        ids: list[int] = []
        for piece, token_id in split_on_tokens(caption, self.unsplit):
            if token_id is not None:
                ids.append(token_id)
                continue
            cleaned = " ".join(basic_words(piece))
            if cleaned:
                ids.extend(self.base(cleaned, add_special_tokens=False, verbose=False).input_ids)
        return [self.base.bos_token_id, *ids[: self.max_length - 2], self.base.eos_token_id]

    def layout_ids(self, lines: Sequence[LayoutLine]) -> list[int]:
        """``tokenizer.encode`` of the release's token list: start token, per line four
        coordinate tokens, its characters and an end token, then the closing end token. No
        line, no ids (the release's encode of an empty list fails and it keeps the caption)."""
        if not lines:
            return []
        eos = int(self.base.eos_token_id)
        ids = [int(self.base.bos_token_id)]
        for line in lines:
            left, top, right, bottom = line.box
            ids.extend(self.token_id(token) for token in (f"l{left}", f"t{top}", f"r{right}", f"b{bottom}"))
            ids.extend(self.token_id(f"[{char}]") for char in line.text)
            ids.append(eos)
        return ids + [eos]

    def prompt_ids(self, caption: str, lines: Sequence[LayoutLine]) -> list[int]:
        ids = (self.caption_ids(caption) + self.layout_ids(lines))[: self.max_length]
        return ids + [self.pad_id] * (self.max_length - len(ids))

    def unconditional_ids(self) -> list[int]:
        """The release's unconditional prompt: nothing but pad tokens."""
        return [self.pad_id] * self.max_length


def split_on_tokens(text: str, tokens: Mapping[str, int]) -> list[tuple[str, int | None]]:
    """``text`` cut into pieces: each occurrence of a token of ``tokens`` (leftmost, longest
    first) with its id, and the text between them with ``None``."""
    longest = max((len(token) for token in tokens), default=0)
    pieces: list[tuple[str, int | None]] = []
    start = index = 0
    while index < len(text):
        match = next((text[index:index + size] for size in range(min(longest, len(text) - index), 0, -1)
                      if text[index:index + size] in tokens), None)
        if match is None:
            index += 1
            continue
        if start < index:
            pieces.append((text[start:index], None))
        pieces.append((match, tokens[match]))
        index += len(match)
        start = index
    if start < len(text):
        pieces.append((text[start:], None))
    return pieces


def basic_words(text: str) -> list[str]:
    """BERT's basic tokenization with lower-casing (which also strips accents): what the slow
    CLIP tokenizer does to text before BPE when ``ftfy`` is not installed."""
    cleaned = []
    for char in text:
        if ord(char) in (0, 0xFFFD) or _is_control(char):
            continue
        if _is_whitespace(char):
            cleaned.append(" ")
        elif _is_cjk(ord(char)):
            cleaned.append(f" {char} ")
        else:
            cleaned.append(char)
    words = []
    for word in "".join(cleaned).split():
        stripped = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")
        words.extend(_split_punctuation(stripped))
    return [word for word in " ".join(words).split()]


def _split_punctuation(word: str) -> list[str]:
    parts: list[str] = []
    current = ""
    for char in word:
        if _is_punctuation(char):
            if current:
                parts.append(current)
            parts.append(char)
            current = ""
        else:
            current += char
    return parts + ([current] if current else [])


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_cjk(code: int) -> bool:
    return any(low <= code <= high for low, high in _CJK_RANGES)
