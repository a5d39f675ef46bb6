"""Text decoding: greedy, and the release's beam sampling, over a prefilled KV cache.

Decoding is written against two callables (``step``: next-token logits for one new token per
row, and a ``DecodingState`` that can be reordered) so that it does not care what produced the
prompt's cache. Rows stop at any of ``stop_ids``. Every request gets its own random generator
seeded from the profile, so sampled answers do not depend on batch composition.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Protocol, Sequence

import torch


@dataclass(frozen=True)
class TextGenerationProfile:
    name: str
    max_new_tokens: int = 30
    num_beams: int = 1
    do_sample: bool = False
    #: Sampling keeps the ``top_k`` most likely tokens (0: all), then the nucleus ``top_p``.
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    length_penalty: float = 1.0
    seed: int = 0

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def with_max_new_tokens(self, value: int) -> "TextGenerationProfile":
        return TextGenerationProfile(**{**asdict(self), "max_new_tokens": value})


#: Deterministic default: greedy, no penalties.
GREEDY = TextGenerationProfile(name="greedy")

#: The settings of the release's evaluation script: 5 beams with sampling (transformers' default
#: top-k 50, then top-p 0.9), repetition penalty 1.3 over the generated tokens, at most 30 new
#: tokens, seed 32.
RELEASE = TextGenerationProfile(
    name="release", max_new_tokens=30, num_beams=5, do_sample=True, top_k=50, top_p=0.9,
    repetition_penalty=1.3, seed=32,
)

PROFILES = {p.name: p for p in (GREEDY, RELEASE)}


class DecodingState(Protocol):
    def select(self, rows: torch.Tensor) -> "DecodingState":
        ...


StepFn = Callable[[torch.Tensor, DecodingState], tuple[torch.Tensor, DecodingState]]


def greedy_decode(
    step: StepFn,
    first_logits: torch.Tensor,
    state: DecodingState,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    pad_id: int,
) -> list[list[int]]:
    """first_logits [B, V] for the token after each prompt. Returns the tokens before the stop."""
    batch = first_logits.shape[0]
    stops = torch.tensor(list(stop_ids), device=first_logits.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=first_logits.device)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    logits = first_logits
    for position in range(max_new_tokens):
        tokens = logits.float().argmax(-1)
        tokens = torch.where(finished, torch.full_like(tokens, pad_id), tokens)
        is_stop = torch.isin(tokens, stops)
        for row in (~finished & ~is_stop).nonzero().flatten().tolist():
            outputs[row].append(int(tokens[row]))
        finished = finished | is_stop
        if bool(finished.all()) or position == max_new_tokens - 1:
            break
        logits, state = step(tokens, state)
    return outputs


@dataclass
class _Hypotheses:
    """The best finished beams of one request, scored by log-probability / length**penalty."""

    size: int
    length_penalty: float
    items: list[tuple[float, list[int]]]

    def add(self, tokens: list[int], log_prob: float) -> None:
        score = log_prob / (len(tokens) ** self.length_penalty)
        if len(self.items) < self.size or score > self.worst():
            self.items.append((score, tokens))
            self.items.sort(key=lambda item: item[0], reverse=True)
            del self.items[self.size :]

    def worst(self) -> float:
        return self.items[-1][0] if self.items else -math.inf

    def is_done(self, best_running: float, length: int) -> bool:
        if len(self.items) < self.size:
            return False
        return self.worst() >= best_running / (length**self.length_penalty)


def _penalize_repeats(scores: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    if penalty == 1.0:
        return scores
    picked = scores.gather(1, seen)
    picked = torch.where(picked < 0, picked * penalty, picked / penalty)
    return scores.scatter(1, seen, picked)


def _top_k(scores: torch.Tensor, top_k: int, keep_at_least: int) -> torch.Tensor:
    if top_k <= 0:
        return scores
    kth = scores.topk(min(max(top_k, keep_at_least), scores.shape[-1]), dim=-1).values[..., -1:]
    return scores.masked_fill(scores < kth, -math.inf)


def _top_p(scores: torch.Tensor, top_p: float, keep_at_least: int) -> torch.Tensor:
    if top_p >= 1.0:
        return scores
    ordered, order = scores.sort(dim=-1, descending=False)
    cumulative = ordered.softmax(-1).cumsum(-1)
    remove = cumulative <= 1 - top_p
    remove[..., -keep_at_least:] = False
    return scores.masked_fill(remove.scatter(1, order, remove), -math.inf)


def beam_decode(
    step: StepFn,
    first_logits: torch.Tensor,
    state: DecodingState,
    profile: TextGenerationProfile,
    stop_ids: Sequence[int],
    start_id: int,
) -> list[list[int]]:
    """Beam search (with nucleus sampling when ``profile.do_sample``), as in the release.

    Each beam's sequence starts with ``start_id`` (the BOS the release's generator begins from),
    which counts towards hypothesis length and is subject to the repetition penalty.
    """
    beams = profile.num_beams
    batch, vocab = first_logits.shape
    device = first_logits.device
    rows = torch.arange(batch, device=device).repeat_interleave(beams)
    state = state.select(rows)
    logits = first_logits.index_select(0, rows)
    sequences = torch.full((batch * beams, 1), start_id, dtype=torch.long, device=device)
    beam_scores = torch.zeros(batch, beams, device=device)
    beam_scores[:, 1:] = -1e9
    beam_scores = beam_scores.view(-1)
    generators = [torch.Generator(device=device).manual_seed(profile.seed) for _ in range(batch)]
    hypotheses = [_Hypotheses(beams, profile.length_penalty, []) for _ in range(batch)]
    done = [False] * batch
    stop_set = set(stop_ids)

    for _ in range(profile.max_new_tokens):
        scores = torch.log_softmax(logits.float(), dim=-1)
        scores = _penalize_repeats(scores, sequences, profile.repetition_penalty)
        scores = scores + beam_scores[:, None]
        picked_scores, picked = _candidates(scores.view(batch, beams, vocab), profile, generators, len(stop_set))
        chosen = _Chosen()
        for b in range(batch):
            if done[b]:
                chosen.add([(b * beams, start_id, 0.0)] * beams)
                continue
            kept = _advance(hypotheses[b], b, picked_scores[b].tolist(), picked[b].tolist(), sequences, vocab, stop_set, start_id)
            chosen.add(kept)
            # transformers (4.31, which the release pins) judges a request finished against the
            # length the candidates would have, one more than the running sequences.
            done[b] = hypotheses[b].is_done(max(picked_scores[b].tolist()), sequences.shape[1] + 1)
        if all(done):
            break
        source_rows, tokens, beam_scores = chosen.tensors(device)
        sequences = torch.cat((sequences.index_select(0, source_rows), tokens[:, None]), dim=1)
        if sequences.shape[1] > profile.max_new_tokens:
            break
        logits, state = step(tokens, state.select(source_rows))
    return [_best(hypotheses[b], done[b], b, sequences, beam_scores) for b in range(batch)]


def _candidates(
    scores: torch.Tensor, profile: TextGenerationProfile, generators: Sequence[torch.Generator], stops: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, flat beam * vocab indices) of each request's candidates, best first: ``2 *
    beams`` drawn from the warped distribution when sampling, else enough of the top ones that
    ``beams`` survive however many of them stop. ``scores``: [batch, beams, vocab]."""
    batch, beams, vocab = scores.shape
    if not profile.do_sample:
        return scores.reshape(batch, beams * vocab).topk(max(2, 1 + stops) * beams, dim=1)
    warped = _top_p(_top_k(scores.reshape(batch * beams, vocab), profile.top_k, 2), profile.top_p, 2)
    warped = warped.view(batch, beams * vocab)
    probs = warped.softmax(-1)
    picked = torch.stack([torch.multinomial(probs[b], 2 * beams, generator=generators[b]) for b in range(batch)])
    picked_scores, order = warped.gather(1, picked).sort(dim=1, descending=True)
    return picked_scores, picked.gather(1, order)


#: A beam to continue: (row it extends, token appended, its score).
_Beam = tuple[int, int, float]


@dataclass
class _Chosen:
    """The beams every request continues with, in row order."""

    beams: list[_Beam] = field(default_factory=list)

    def add(self, beams: Sequence[_Beam]) -> None:
        self.beams.extend(beams)

    def tensors(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows, tokens, scores = zip(*self.beams)
        return (torch.tensor(rows, device=device), torch.tensor(tokens, device=device),
                torch.tensor(scores, device=device))


def _advance(
    hypotheses: _Hypotheses,
    request: int,
    scores: list[float],
    flat_indices: list[int],
    sequences: torch.Tensor,
    vocab: int,
    stop_set: set[int],
    start_id: int,
) -> list[_Beam]:
    """One request's next beams from its ranked candidates: a candidate that stops ends its
    beam as a hypothesis (if it ranks among the first ``beams``), the others continue."""
    beams = hypotheses.size
    kept: list[_Beam] = []
    for rank, (score, flat) in enumerate(zip(scores, flat_indices)):
        beam, token = divmod(flat, vocab)
        source = request * beams + beam
        if token in stop_set:
            if rank < beams:
                hypotheses.add(sequences[source].tolist(), score)
            continue
        kept.append((source, token, score))
        if len(kept) == beams:
            break
    # Too many candidates ended: pad with copies that can never win.
    filler = kept[-1][:2] if kept else (request * beams, start_id)
    return kept + [(filler[0], filler[1], -1e9)] * (beams - len(kept))


def _best(hypotheses: _Hypotheses, done: bool, request: int, sequences: torch.Tensor, beam_scores: torch.Tensor) -> list[int]:
    """The best hypothesis of a request, its running beams counted when it never finished;
    without the start token."""
    if not done:
        for i in range(hypotheses.size):
            row = request * hypotheses.size + i
            hypotheses.add(sequences[row].tolist(), float(beam_scores[row]))
    return hypotheses.items[0][1][1:]
