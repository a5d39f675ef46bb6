"""AnyText-benchmark line metrics (AnyText, Tuo et al., 2024), as ``eval/eval_dgocr.py`` of
tyxsspa/AnyText computes them: sentence accuracy (Sen.ACC) and normalised edit distance (NED).

Each ground-truth line is cut from the generated image and recognised (``bench.ocr.crop``); the
reading is compared with the line's text. Sen.ACC is exact, case-sensitive string equality. NED
is ``1 - Levenshtein(pred_ids, gt_ids) / (max(len) + 1e-5)`` over *character ids* of the
recogniser's dictionary (``laion_word``: English, ``wukong_word``: Chinese), where every
character missing from the dictionary, and the space, share the last id: two different unknown
characters count as equal. Both are averaged over all lines of all images, so items with more
lines weigh more.

TextHarmony (bytedance/TextHarmony, ``image_eval/eval_dgocr.py``) reports NED after lowercasing
both strings and keeping only ASCII letters and digits (``textharmony_normalize``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import editdistance

DICTIONARY_DIR = Path(__file__).parent / "dictionaries"
CHINESE_DICTIONARY = DICTIONARY_DIR / "ppocr_keys_v1.txt"
_NED_EPSILON = 1e-5
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@dataclass(frozen=True)
class CharacterDictionary:
    """Character → id, as AnyText's ``TextRecognizer.get_char_dict`` numbers them: ``"sos"``, the
    dictionary's entries, then a space, each at its position (a later duplicate wins); characters
    not in it get the last id."""

    name: str
    ids: Mapping[str, int]
    unknown: int

    @classmethod
    def from_entries(cls, name: str, entries: list[str]) -> "CharacterDictionary":
        characters = ["sos", *entries, " "]
        ids = {character: index for index, character in enumerate(characters)}
        return cls(name, MappingProxyType(ids), len(characters) - 1)

    @classmethod
    def from_file(cls, path: Path) -> "CharacterDictionary":
        """One entry per line, read as bytes, split at ``\\n``, decoded as UTF-8, with line ends
        stripped as the official reader strips them."""
        if not path.is_file():
            raise FileNotFoundError(
                f"character dictionary {path} not found; AnyText's evaluation reads it from its "
                "ocr_weights/ folder (ppocr_keys_v1.txt for Chinese), pass that file with dictionary=PATH"
            )
        lines = io.BytesIO(path.read_bytes()).readlines()
        entries = [line.decode("utf-8").strip("\n").strip("\r\n") for line in lines]
        return cls.from_entries(path.name, entries)

    def encode(self, text: str) -> list[int]:
        return [self.ids.get(character, self.unknown) for character in text]


def english_entries() -> list[str]:
    """PaddleOCR's ``en_dict.txt``: the printable ASCII characters from ``0`` to ``~``, then ``!``
    to ``/``, then the space."""
    return [chr(code) for code in range(0x30, 0x7F)] + [chr(code) for code in range(0x21, 0x30)] + [" "]


@cache
def builtin_dictionary(lang: str) -> CharacterDictionary:
    """``en``: the English dictionary of ``laion_word``; ``ch``: the Chinese one of ``wukong_word``."""
    if lang == "en":
        return CharacterDictionary.from_entries("en_dict.txt", english_entries())
    if lang == "ch":
        return CharacterDictionary.from_file(CHINESE_DICTIONARY)
    raise ValueError(f"AnyText dictionaries exist for 'en' and 'ch', not {lang!r}")


def anytext_line_scores(
    prediction: str, text: str, lang: str = "en", dictionary: CharacterDictionary | None = None
) -> dict[str, float]:
    """Sen.ACC and NED of one recognised line against its ground truth, as AnyText's evaluation
    scores each line (``dictionary`` overrides the built-in one of ``lang``)."""
    characters = dictionary if dictionary is not None else builtin_dictionary(lang)
    predicted, target = characters.encode(prediction), characters.encode(text)
    distance = editdistance.eval(predicted, target)
    ned = 1.0 - distance / (max(len(predicted), len(target)) + _NED_EPSILON)
    return {"sentence_accuracy": float(prediction == text), "ned": ned}


def textharmony_normalize(text: str) -> str:
    """Lowercase, then keep ASCII letters and digits only (``curses.ascii.isalpha``/``isdigit``
    accept nothing else), as TextHarmony's evaluation does before NED."""
    return "".join(character for character in text.lower() if character in _ASCII_ALNUM)
