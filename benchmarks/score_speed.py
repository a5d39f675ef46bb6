"""Times the TextVQA accuracy and ANLS scorers against plain pure-Python versions of the same rules.

The synthetic workload has the size of the real validation sets: 5,000 TextVQA questions
with 10 human answers each, and 5,349 DocVQA questions with 1-3 answers each. Answer
strings repeat the way human answers do. Variants in case, punctuation, articles and number
words exercise the normaliser, and predictions are exact, near-miss or unrelated.
Everything is drawn from a fixed seed.

For each metric the script prints:

* the time of the first pass in a fresh process (cold caches), which is what one
  evaluation run costs;
* the best of three further passes (warm caches);
* the time of the straightforward reference written below (no caching, a DP Levenshtein),
  and the speed-up;
* whether every per-question score is bit-identical between the two, and the mean score.

The exit status is 1 if any score differs or the cold total reaches one second.

Run::

    .venv/bin/python benchmarks/score_speed.py
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections.abc import Callable, Sequence

from bench.metrics.anls import anls
from bench.metrics.vqa import _CONTRACTIONS as REF_CONTRACTIONS  # shared data, not shared logic
from bench.metrics.vqa import textvqa_accuracy

SEED = 20240601
TEXTVQA_QUESTIONS = 5000
DOCVQA_QUESTIONS = 5349
BUDGET_S = 1.0

# ---------------------------------------------------------------------------------------------
# Straightforward reference implementations: the rules written out literally, no caching.
# ---------------------------------------------------------------------------------------------

REF_PUNCTUATION = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]
REF_NUMBERS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
REF_NUMBERS["none"] = "0"
REF_ARTICLES = ["a", "an", "the"]



def ref_normalize(text: str) -> str:
    text = text.lower()
    text = text.replace(",", "")
    text = text.replace("?", "")
    text = text.replace("'s", " 's")
    text = text.strip()
    text = text.replace("\n", " ").replace("\t", " ").strip()
    original = text
    for mark in REF_PUNCTUATION:
        if (mark + " ") in original or (" " + mark) in original:
            text = text.replace(mark, "")
        else:
            text = text.replace(mark, " ")
    text = re.sub(r"\.(?!\d)", "", text, count=32)
    words = []
    for word in text.lower().split():
        if word in REF_NUMBERS:
            word = REF_NUMBERS[word]
        if word in REF_ARTICLES:
            continue
        words.append(word)
    words = [REF_CONTRACTIONS.get(word, word) for word in words]
    return " ".join(words)


def ref_textvqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    predicted = ref_normalize(prediction)
    processed = [ref_normalize(a) for a in answers]
    scores = []
    for left_out in range(len(processed)):
        rest = processed[:left_out] + processed[left_out + 1 :]
        matches = sum(1 for a in rest if a == predicted)
        scores.append(min(1, matches / 3))
    return sum(scores) / len(scores)


def ref_levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost))
        previous = current
    return previous[-1]


def ref_anls(prediction: str, answers: Sequence[str], threshold: float = 0.5) -> float:
    values = []
    for answer in answers:
        gt = " ".join(answer.strip().lower().split())
        det = " ".join(prediction.strip().lower().split())
        length = max(len(answer.upper()), len(prediction.upper()))
        values.append(0.0 if length == 0 else ref_levenshtein(gt, det) / length)
    score = 1 - min(values)
    return 0.0 if score < threshold else score


# ---------------------------------------------------------------------------------------------
# Synthetic data
# ---------------------------------------------------------------------------------------------

SYLLABLES = "ka lo mi ne su ta ri po ve da zu bo li fa ge ho".split()
COMMON = [
    "yes", "no", "one", "two", "three", "10", "2", "coca cola", "Coca-Cola", "the end", "stop",
    "10:30", "$5.99", "www.example.com", "dont", "it's", "an apple", "U.S.A.", "1,000", "none",
]


def pseudo_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))


def answer_variant(rng: random.Random, answer: str) -> str:
    roll = rng.random()
    if roll < 0.15:
        return answer.upper()
    if roll < 0.25:
        return answer.capitalize() + "."
    if roll < 0.32:
        return "the " + answer
    if roll < 0.38:
        return answer.replace(" ", "-")
    if roll < 0.42:
        return " " + answer + "\n"
    return answer


def textvqa_workload(rng: random.Random) -> list[tuple[str, list[str]]]:
    vocabulary = COMMON + [" ".join(pseudo_word(rng) for _ in range(rng.randint(1, 3))) for _ in range(4000)]
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]
    items = []
    for _ in range(TEXTVQA_QUESTIONS):
        bases = rng.choices(vocabulary, weights=weights, k=rng.randint(1, 4))
        answers = [answer_variant(rng, rng.choice(bases)) for _ in range(10)]
        roll = rng.random()
        if roll < 0.6:
            prediction = answer_variant(rng, rng.choice(bases))
        elif roll < 0.8:
            prediction = rng.choice(vocabulary)
        else:
            prediction = "the answer is " + rng.choice(bases)
        items.append((prediction, answers))
    return items


def perturb(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        position = rng.randrange(len(chars) + 1)
        roll = rng.random()
        if roll < 0.4 and position < len(chars):
            chars[position] = rng.choice("abcdefghij0123456789")
        elif roll < 0.7 and position < len(chars):
            del chars[position]
        else:
            chars.insert(position, rng.choice("abcdefghij "))
    return "".join(chars)


def docvqa_workload(rng: random.Random) -> list[tuple[str, list[str]]]:
    def document_answer() -> str:
        roll = rng.random()
        if roll < 0.3:
            return f"{rng.randint(1, 99999):,}"
        if roll < 0.45:
            return f"{rng.choice(['March', 'June', 'Oct.'])} {rng.randint(1, 28)}, {rng.randint(1950, 1999)}"
        if roll < 0.55:
            return f"${rng.randint(1, 9999)}.{rng.randint(0, 99):02d}"
        return " ".join(pseudo_word(rng).capitalize() for _ in range(rng.randint(1, 4)))

    pool = [document_answer() for _ in range(6000)]
    items = []
    for _ in range(DOCVQA_QUESTIONS):
        first = rng.choice(pool)
        answers = [first] + [rng.choice([first.lower(), first.upper(), rng.choice(pool)]) for _ in range(rng.randint(0, 2))]
        roll = rng.random()
        if roll < 0.5:
            prediction = rng.choice([first, first.lower(), "  " + first + " "])
        elif roll < 0.8:
            prediction = perturb(rng, first)
        else:
            prediction = rng.choice(pool)
        items.append((prediction, answers))
    return items


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def run(scorer: Callable[[str, Sequence[str]], float], items: list[tuple[str, list[str]]]) -> tuple[float, list[float]]:
    start = time.perf_counter()
    scores = [scorer(prediction, answers) for prediction, answers in items]
    return time.perf_counter() - start, scores


def report(name: str, scorer: Callable, reference: Callable, items: list[tuple[str, list[str]]]) -> tuple[float, bool]:
    cold, scores = run(scorer, items)
    warm = min(run(scorer, items)[0] for _ in range(3))
    ref_time, ref_scores = run(reference, items)
    differing = sum(1 for a, b in zip(scores, ref_scores) if a != b)
    mean = sum(scores) / len(scores)
    print(f"{name} ({len(items)} questions)")
    print(f"  optimised: cold {cold * 1e3:8.1f} ms   warm {warm * 1e3:8.1f} ms")
    print(f"  reference:      {ref_time * 1e3:8.1f} ms   speed-up x{ref_time / cold:.1f} cold, x{ref_time / warm:.1f} warm")
    print(f"  identical per-question scores: {'yes' if differing == 0 else f'NO ({differing} differ)'}   mean {mean:.6f}")
    return cold, differing == 0


def main() -> int:
    rng = random.Random(SEED)
    textvqa_items = textvqa_workload(rng)
    docvqa_items = docvqa_workload(rng)
    textvqa_cold, textvqa_same = report("TextVQA accuracy", textvqa_accuracy, ref_textvqa_accuracy, textvqa_items)
    anls_cold, anls_same = report("DocVQA ANLS", anls, ref_anls, docvqa_items)
    total = textvqa_cold + anls_cold
    print(f"total cold time {total * 1e3:.1f} ms (budget {BUDGET_S * 1e3:.0f} ms)")
    return 0 if textvqa_same and anls_same and total < BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
