"""AnyText-benchmark line metrics against hand-worked cases and a plain rewrite of
``eval/eval_dgocr.py``'s rules (dictionary ids, dynamic-programming Levenshtein)."""

from __future__ import annotations

import hashlib
import random
import string

import pytest

from bench.metrics import anytext_line_scores
from bench.metrics.anytext import CHINESE_DICTIONARY, CharacterDictionary, builtin_dictionary, textharmony_normalize

PPOCR_KEYS_SHA256 = "28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7"


def levenshtein(a: list, b: list) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def reference_ned(prediction: str, text: str, known: set[str]) -> float:
    """Characters of the dictionary keep their identity; every other character (and the space,
    which AnyText appends last) becomes one shared symbol."""
    shared = object()
    encode = lambda s: [c if c in known and c != " " else shared for c in s]  # noqa: E731
    p, t = encode(prediction), encode(text)
    return 1 - levenshtein(p, t) / (max(len(p), len(t)) + 1e-5)


def test_hand_worked_english():
    assert anytext_line_scores("Hello", "Hello") == {"sentence_accuracy": 1.0, "ned": 1.0}
    case = anytext_line_scores("hello", "Hello")
    assert case["sentence_accuracy"] == 0.0 and case["ned"] == 1 - 1 / (5 + 1e-5)
    assert anytext_line_scores("", "ab")["ned"] == 1 - 2 / (2 + 1e-5)
    assert anytext_line_scores("", "") == {"sentence_accuracy": 1.0, "ned": 1.0}


def test_unknown_characters_share_the_last_id():
    # é and ü are not in the English dictionary: equal ids, so no edit, but not the same sentence
    assert anytext_line_scores("caf\u00e9", "caf\u00fc") == {"sentence_accuracy": 0.0, "ned": 1.0}
    # the space is the dictionary's last entry, the id unknown characters get
    assert anytext_line_scores("a b", "a\u00e9b")["ned"] == 1.0


def test_english_dictionary_is_printable_ascii():
    dictionary = builtin_dictionary("en")
    printable = [chr(c) for c in range(0x21, 0x7F)]
    assert dictionary.unknown == 96  # "sos", 95 entries, the appended space: 97 classes
    assert len({dictionary.ids[c] for c in printable}) == 94 and dictionary.unknown not in {dictionary.ids[c] for c in printable}
    assert dictionary.ids[" "] == dictionary.unknown


def test_chinese_dictionary_is_ppocr_keys_v1():
    assert hashlib.sha256(CHINESE_DICTIONARY.read_bytes()).hexdigest() == PPOCR_KEYS_SHA256
    dictionary = builtin_dictionary("ch")
    assert dictionary.unknown == 6624  # 6,623 entries + "sos" + space: 6,625 classes
    known = set(CHINESE_DICTIONARY.read_text(encoding="utf-8").split("\n"))
    assert "中" in known and "文" in known and "\u9f98" not in known and "\u9750" not in known
    assert anytext_line_scores("中文", "中文", "ch")["ned"] == 1.0
    # two characters missing from the dictionary count as the same character
    assert anytext_line_scores("中\u9f98", "中\u9750", "ch") == {"sentence_accuracy": 0.0, "ned": 1.0}
    assert anytext_line_scores("中文", "中", "ch")["ned"] == 1 - 1 / (2 + 1e-5)


def test_dictionary_file_reading(tmp_path):
    path = tmp_path / "dict.txt"
    path.write_bytes(b"a\r\nb\n\nc")
    dictionary = CharacterDictionary.from_file(path)
    assert dict(dictionary.ids) == {"sos": 0, "a": 1, "b": 2, "": 3, "c": 4, " ": 5}
    assert dictionary.encode("cab?") == [4, 1, 2, 5]
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        CharacterDictionary.from_file(tmp_path / "missing.txt")


def test_textharmony_normalisation():
    assert textharmony_normalize("Hello, World! 2024") == "helloworld2024"
    assert textharmony_normalize("Caf\u00e9 \uff21") == "caf"  # accented and full-width letters go
    assert textharmony_normalize("\u212a") == "k"  # the Kelvin sign lowercases to ASCII k


@pytest.mark.parametrize("lang", ["en", "ch"])
def test_random_lines_match_the_rewrite(lang):
    rng = random.Random(5)
    if lang == "en":
        known = set(string.printable[:95])
        alphabet = list("abcAB1 .!") + ["\u00e9", "\u00fc", "\u4e2d"]
    else:
        known = set(CHINESE_DICTIONARY.read_text(encoding="utf-8").split("\n"))
        alphabet = list("中文字a1 ") + ["\u9f98", "\u9750"]
    for _ in range(2000):
        prediction = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        scores = anytext_line_scores(prediction, text, lang)
        assert scores["ned"] == reference_ned(prediction, text, known)
        assert scores["sentence_accuracy"] == float(prediction == text)
