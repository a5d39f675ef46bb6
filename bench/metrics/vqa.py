"""Answer normalisation and accuracies for open-ended VQA (TextVQA, ST-VQA, OCR-VQA, ...).

Three families live here:

* The official TextVQA metric: :func:`normalize_vqa_answer` and :func:`textvqa_accuracy`
  reproduce ``EvalAIAnswerProcessor`` and ``TextVQAAccuracyEvaluator`` from
  ``mmf/utils/m4c_evaluators.py`` (github.com/facebookresearch/mmf), the evaluator the
  TextVQA authors published to mirror the EvalAI challenge server. LLaVA
  (``llava/eval/eval_textvqa.py``) and lmms-eval (``tasks/textvqa``) score TextVQA with copies
  of it.
* The TextHarmony paper's "Accuracy": :func:`containment_accuracy` reproduces
  ``evaluate_exact_match_accuracy`` in ``evaluate_utils.py`` of github.com/bytedance/TextHarmony.
  It is a different, more lenient metric and is not comparable with official TextVQA numbers.
* Qwen-VL's OCR-VQA accuracy: :func:`exact_match` reproduces ``evaluate_exact_match_accuracy``
  of ``eval_mm/evaluate_vqa.py`` (github.com/QwenLM/Qwen-VL): equality after strip and
  lower-case, nothing more.

Which answers are normalised differs between evaluators, so it is recorded here:

* TextVQA (mmf ``TextVQAAccuracyEvaluator``): the prediction and each of the ten human
  answers go through the full EvalAI processor, every time.
* VQA v2 (``vqaEval.py`` of github.com/GT-Vision-Lab/VQA) uses a different processor. The
  prediction goes through punctuation and then digit/article handling. The human answers
  only get the punctuation step, and only when they are not all identical. That processor
  also differs in detail: it treats ``:`` and ``'`` as punctuation, but not ``{ } - !``. It
  has no tokenisation step, so commas and ``?`` are ordinary punctuation and ``'s`` is not
  split off. Any digit-comma-digit in an answer makes it delete every punctuation mark
  instead of spacing it. Most of its contraction targets use typographic apostrophes (’).
  :func:`normalize_vqa_answer` is therefore not the VQA v2 processor.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

__all__ = ["containment_accuracy", "exact_match", "normalize_vqa_answer", "textvqa_accuracy"]

# Marks the EvalAI processor either deletes or turns into a space (see _apply_punctuation_rule).
# The official list also contains "," and "?", but the tokenisation step has already deleted
# every comma and question mark by then, so they can never reach this rule.
_PUNCTUATION = ';/[]"{}()=+\\_-><@`!'

# A period is deleted unless a digit (any Unicode decimal digit, as in the official
# pattern) follows it. The official pattern starts with "(?!<=\d)", a mistyped look-behind
# that is really a look-ahead for the text "<=" plus a digit. That can never match where a
# period is, so it has no effect, and what precedes the period does not matter.
_PERIOD = re.compile(r"\.(?!\d)")
# The official code passes re.UNICODE (== 32) in the position of ``count`` in
# ``pattern.sub(repl, string, count)``. So at most the first 32 matching periods are deleted.
_PERIOD_LIMIT = 32

_NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
_ARTICLES = frozenset({"a", "an", "the"})

# Contraction repair, written as "target: variant variant ...". Every variant (a whole token)
# is replaced by its target. This is the official table with two kinds of entry left out,
# because they cannot change any output:
# * keys with capitals ("Id've", "I'dve", "Im", "Ive") never match, since tokens are
#   lowercase by the time they are looked up. So "im" and "ive" stay as they are;
# * the identity entries "let's" and "she's".
# The keys containing "'s" are kept. Tokenisation splits "'s" off, but deleting a period or
# a punctuation mark later can join the letters again ("ow'.s'at" -> "ow's'at").
# Variants absent from the official table stay as they are: "couldntve", "wed", "id", "ill".
_CONTRACTION_TABLE = """
ain't: aint
aren't: arent
can't: cant
could've: couldve
couldn't: couldnt
couldn't've: couldn'tve couldnt've
didn't: didnt
doesn't: doesnt
don't: dont
hadn't: hadnt
hadn't've: hadnt've hadn'tve
hasn't: hasnt
haven't: havent
he'd: hed
he'd've: hed've he'dve
he's: hes
how'd: howd
how'll: howll
how's: hows
isn't: isnt
it'd: itd
it'd've: itd've it'dve
it'll: itll
ma'am: maam
mightn't: mightnt
mightn't've: mightnt've mightn'tve
might've: mightve
mustn't: mustnt
must've: mustve
needn't: neednt
not've: notve
o'clock: oclock
oughtn't: oughtnt
'ow's'at: ow's'at 'ows'at 'ow'sat
shan't: shant
she'd've: shed've she'dve
should've: shouldve
shouldn't: shouldnt
shouldn't've: shouldnt've shouldn'tve
somebodyd: somebody'd
somebody'd've: somebodyd've somebody'dve
somebody'll: somebodyll
somebody's: somebodys
someone'd: someoned
someone'd've: someoned've someone'dve
someone'll: someonell
someone's: someones
something'd: somethingd
something'd've: somethingd've something'dve
something'll: somethingll
that's: thats
there'd: thered
there'd've: thered've there'dve
there're: therere
there's: theres
they'd: theyd
they'd've: theyd've they'dve
they'll: theyll
they're: theyre
they've: theyve
'twas: twas
wasn't: wasnt
we'd've: wed've we'dve
we've: weve
weren't: werent
what'll: whatll
what're: whatre
what's: whats
what've: whatve
when's: whens
where'd: whered
where's: wheres
where've: whereve
who'd: whod
who'd've: whod've who'dve
who'll: wholl
who's: whos
who've: whove
why'll: whyll
why're: whyre
why's: whys
won't: wont
would've: wouldve
wouldn't: wouldnt
wouldn't've: wouldnt've wouldn'tve
y'all: yall
y'all'll: yall'll y'allll
y'all'd've: yall'd've y'alld've y'all'dve
you'd: youd
you'd've: youd've you'dve
you'll: youll
you're: youre
you've: youve
"""
# Note the official oddity kept above: "somebody'd" becomes "somebodyd" (the apostrophe is
# removed, not added).


def _parse_contractions(table: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for line in table.strip().splitlines():
        target, variants = line.split(": ")
        for variant in variants.split():
            mapping[variant] = target
    return mapping


_CONTRACTIONS = _parse_contractions(_CONTRACTION_TABLE)


def _apply_punctuation_rule(text: str) -> str:
    """Delete or space out each punctuation mark, deciding per mark on the whole answer.

    A mark that touches an ASCII space anywhere in the answer is deleted everywhere
    ("x - y-z" -> "x yz"). Otherwise every occurrence becomes a space ("coca-cola" ->
    "coca cola"). The decision looks only at the text before any replacement, so the marks
    do not influence each other.
    """
    table: dict[int, str | None] = {}
    for mark in _PUNCTUATION:
        if mark in text:
            touches_space = mark + " " in text or " " + mark in text
            table[ord(mark)] = None if touches_space else " "
    return text.translate(table) if table else text


def normalize_vqa_answer(text: str) -> str:
    """Normalise an answer exactly as the EvalAI processor of the TextVQA evaluator does.

    Reproduces ``EvalAIAnswerProcessor.__call__`` in mmf ``mmf/utils/m4c_evaluators.py``,
    step by step and in the same order, because the order changes results:

    1. Tokenise: lowercase; delete every ``,`` and ``?`` (anywhere, not only between
       digits: "1,000" -> "1000", "red,blue" -> "redblue"); split ``'s`` into its own token
       ("joe's" -> "joe 's"); strip surrounding whitespace.
    2. Turn ``\\n`` and ``\\t`` into spaces. Other whitespace such as ``\\r`` or no-break
       space is left alone. This matters for step 3, which only looks at ASCII spaces.
    3. Punctuation ``; / [ ] " { } ( ) = + \\ _ - > < @ ` !``: a mark that touches a space
       somewhere in the answer is deleted everywhere, otherwise it becomes a space. Other
       characters, including ``: ' % $ # &``, are kept. The official digit-comma exception
       never fires, because step 1 already deleted the commas.
    4. Delete each period not followed by a digit ("3.5" is kept, "end." -> "end"), at most
       32 of them (see ``_PERIOD_LIMIT``).
    5. Split on whitespace. Map number words none/zero..ten to digits, drop the articles
       a/an/the, repair contractions from the official table ("dont" -> "don't"), and join
       with single spaces.

    Quirks that follow from this and are kept: "what's" -> "what 's" but "whats" ->
    "what's"; "im" and "ive" are never repaired; "somebody'd" -> "somebodyd". The official
    code lowercases again before step 5. That is omitted because ``str.lower`` gives the
    same result when applied twice (checked over every code point).
    """
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    # The official code strips again after this replacement. That cannot change anything:
    # the ends are already free of whitespace, so no \n or \t is left there.
    text = text.replace("\n", " ").replace("\t", " ")
    text = _apply_punctuation_rule(text)
    text = _PERIOD.sub("", text, count=_PERIOD_LIMIT)
    words = []
    for word in text.split():
        word = _NUMBER_WORDS.get(word, word)
        if word not in _ARTICLES:
            words.append(_CONTRACTIONS.get(word, word))
    return " ".join(words)


# Human answers repeat heavily across questions and models ("yes", "coca cola", digits).
_normalize_cached = lru_cache(maxsize=1 << 16)(normalize_vqa_answer)


def _check_answers(answers: Sequence[str]) -> None:
    if isinstance(answers, str):
        raise TypeError("answers must be a sequence of strings, not a single string")
    if len(answers) == 0:
        raise ValueError("at least one reference answer is required")


def textvqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """Official TextVQA soft accuracy of one prediction against its human answers.

    Reproduces ``TextVQAAccuracyEvaluator`` in mmf ``mmf/utils/m4c_evaluators.py`` (the
    same rule as VQA v2 ``vqaEval.py``). The prediction and every answer are normalised with
    :func:`normalize_vqa_answer`. Then, for each of the n ways to leave one human answer
    out, the score is ``min(1, k / 3)``, where k counts the matching answers among the
    n - 1 that remain. The result is the average of those n scores. With ten answers and m matches this gives 0.3, 0.6 and 0.9
    for m = 1, 2, 3, and 1.0 from m = 4 on. For m = 1, 2, 3 this differs from the plain
    ``min(1, m / 3)`` (1/3, 2/3, 1). mmf uses the leave-one-out average too, both in its
    evaluator and in its training targets.

    mmf insists on exactly ten answers. Other lengths use the same definition (the expected
    score when one annotator, chosen uniformly, is held out), as VQA v2 ``vqaEval.py`` and
    lmms-eval do. As a result a score of 1.0 needs four matching answers, and with fewer
    than four answers the best possible score is ``min(1, (n - 1) / 3)``, which is 0 for a
    single answer. Use exact match or ANLS for sets with one or a few references.

    The per-subset scores are added up in answer order with the same value types as mmf
    (int 1 once the cap is reached). That makes the float result identical to mmf's on any
    Python version.

    Raises:
        ValueError: if ``answers`` is empty (the average is undefined).
        TypeError: if ``answers`` is a single string.
    """
    _check_answers(answers)
    predicted = _normalize_cached(prediction)
    references = [_normalize_cached(answer) for answer in answers]
    matches = references.count(predicted)
    if matches == 0:
        return 0.0
    left_out_match = min(1, (matches - 1) / 3)
    left_out_other = min(1, matches / 3)
    scores = [left_out_match if ref == predicted else left_out_other for ref in references]
    return sum(scores) / len(scores)


def containment_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """The TextHarmony paper's VQA "Accuracy": 1.0 if any answer occurs inside the prediction.

    This is the paper's own metric, not an official one for any dataset. It reproduces
    ``evaluate_exact_match_accuracy`` in ``evaluate_utils.py`` of github.com/bytedance/TextHarmony,
    which produced the "Accuracy" numbers the paper reports for all its VQA sets. The
    prediction is stripped, lowercased and has every "." removed. Each answer is only
    stripped and lowercased. The score is 1.0 if any answer is a substring of the prediction.

    Consequences kept on purpose:

    * an answer that contains "." ("3.5", "st. louis") can never match;
    * substrings count: answer "2" matches prediction "12", and "no" matches "not now";
    * an empty (or whitespace-only) answer matches every prediction;
    * there is no other normalisation: no punctuation, articles or number words.

    Raises:
        ValueError: if ``answers`` is empty (TextHarmony's ``max`` over no answers fails too).
        TypeError: if ``answers`` is a single string.
    """
    _check_answers(answers)
    haystack = prediction.strip().lower().replace(".", "")
    for answer in answers:
        if answer.strip().lower() in haystack:
            return 1.0
    return 0.0


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 if the prediction equals a reference after ``strip().lower()`` on both sides.

    Reproduces ``evaluate_exact_match_accuracy`` of Qwen-VL's ``eval_mm/evaluate_vqa.py``
    (github.com/QwenLM/Qwen-VL), the OCR-VQA "accuracy" of Qwen-VL-style evaluations. No other
    normalisation: punctuation, articles and inner whitespace must match.
    """
    predicted = prediction.strip().lower()
    return 1.0 if any(predicted == answer.strip().lower() for answer in answers) else 0.0
