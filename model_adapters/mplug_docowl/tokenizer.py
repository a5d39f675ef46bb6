"""The LLaMA tokenizer as the release runs it: ``AutoTokenizer.from_pretrained(folder,
use_fast=False)`` of transformers 4.31, i.e. the slow ``LlamaTokenizer`` over
``tokenizer.model``.

What that tokenizer does beyond sentencepiece, reproduced here: ``<s>`` first
(``add_bos_token``), special-token text (``<s>``, ``</s>``, ``<unk>``) read as the special
token, ``legacy=False`` (the text starts with the sentencepiece space, and the piece right
after a special token gets no dummy-prefix space unless the text there starts with a space),
and decoding that writes special tokens verbatim, with a space before a special token that
follows ordinary text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPIECE_UNDERLINE = "\u2581"
IMAGE_TOKEN = "<|image|>"


class TokenizerFileError(ValueError):
    pass


@dataclass(frozen=True)
class TokenizerSettings:
    add_bos_token: bool = True
    add_eos_token: bool = False
    #: transformers 4.31's default when ``tokenizer_config.json`` does not say.
    legacy: bool = True
    clean_up_tokenization_spaces: bool = False

    @classmethod
    def from_folder(cls, folder: Path) -> "TokenizerSettings":
        path = folder / "tokenizer_config.json"
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        fields = set(cls.__dataclass_fields__)
        return cls(**{key: bool(value) for key, value in raw.items() if key in fields and value is not None})


class LlamaTokenizer:
    def __init__(self, model_file: Path, settings: TokenizerSettings) -> None:
        import sentencepiece

        self.settings = settings
        self._sp = sentencepiece.SentencePieceProcessor()
        self._sp.Load(str(model_file))
        self.bos_id, self.eos_id, self.unk_id = self._sp.bos_id(), self._sp.eos_id(), self._sp.unk_id()
        if min(self.bos_id, self.eos_id, self.unk_id) < 0:
            raise TokenizerFileError(f"{model_file}: a LLaMA tokenizer defines <s>, </s> and <unk>")
        self.special = {self._sp.IdToPiece(i): i for i in (self.bos_id, self.eos_id, self.unk_id)}
        self._split = re.compile("(" + "|".join(re.escape(token) for token in sorted(self.special, key=len, reverse=True)) + ")")

    @classmethod
    def from_folder(cls, folder: Path) -> "LlamaTokenizer":
        path = folder / "tokenizer.model"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; a DocOwl release folder carries LLaMA's tokenizer.model")
        return cls(path, TokenizerSettings.from_folder(folder))

    @property
    def size(self) -> int:
        return self._sp.GetPieceSize()

    def encode(self, text: str) -> list[int]:
        """``tokenizer(text).input_ids``."""
        ids = [self.bos_id] if self.settings.add_bos_token else []
        ids += self._tokenize(text)
        return ids + ([self.eos_id] if self.settings.add_eos_token else [])

    def _tokenize(self, text: str) -> list[int]:
        legacy = self.settings.legacy
        if not legacy:
            text = SPIECE_UNDERLINE + text.replace(SPIECE_UNDERLINE, " ")
        ids: list[int] = []
        for piece in self._split.split(text):
            if not piece:
                continue
            if piece in self.special:
                ids.append(self.special[piece])
                continue
            first = piece.startswith(SPIECE_UNDERLINE)
            if not legacy and first:
                piece = piece[1:]
            pieces: list[str] = self._sp.encode(piece, out_type=str)
            if not legacy and not first and not piece.startswith(" ") and pieces and pieces[0].startswith(SPIECE_UNDERLINE):
                pieces = ([pieces[0][1:]] if len(pieces[0]) > 1 else []) + pieces[1:]
            ids += [self._sp.PieceToId(p) for p in pieces]
        return ids

    def decode(self, ids: list[int]) -> str:
        """``tokenizer.decode(ids)`` (special tokens kept, as the release decodes)."""
        text, run, previous_special = "", [], False
        for index, token in enumerate(ids):
            piece = self._sp.IdToPiece(token)
            if piece in self.special:
                if not previous_special and index:
                    text += " "
                text += self._sp.decode(run) + piece
                run, previous_special = [], True
            else:
                run.append(token)
                previous_special = False
        text += self._sp.decode(run)
        return _clean_up(text) if self.settings.clean_up_tokenization_spaces else text


def _clean_up(text: str) -> str:
    for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                          (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(before, after)
    return text


def encode_prompt(tokenizer: LlamaTokenizer, prompt: str, image_id: int) -> list[int]:
    """The release's ``tokenizer_image_token``: each piece between ``<|image|>`` marks is
    encoded alone; the first keeps its ``<s>``, the others lose their first id (their ``<s>``),
    and each mark becomes one ``image_id``, which a crop's features replace."""
    chunks = [tokenizer.encode(chunk) if chunk else [] for chunk in prompt.split(IMAGE_TOKEN)]
    offset = 1 if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_id else 0
    ids = chunks[0][:1] if offset else []
    for index, chunk in enumerate(chunks):
        if index:
            ids.append(image_id)
        ids += chunk[offset:]
    return ids
