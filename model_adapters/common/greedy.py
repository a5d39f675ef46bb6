"""The token-by-token part of batched greedy decoding with a KV cache, shared by the native
LLM implementations: each builds its prefill, this picks tokens until every row has ended.

Rows that ended are fed the end token until all have, so the batch keeps its shape; their
tokens after the end are not kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class Generation:
    #: Per row, the new tokens, the end token included when it came.
    tokens: list[list[int]]
    #: Per row, the logits of each step (before any end-token ban), when asked for.
    scores: list[list[torch.Tensor]] = field(default_factory=list)


def decode_greedily(head: Callable[[torch.Tensor], torch.Tensor], feed: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    hidden: torch.Tensor, positions: torch.Tensor, max_new_tokens: int, end_id: int,
                    min_new_tokens: list[int] | None = None, keep_scores: bool = False) -> Generation:
    """``hidden`` (B, T, H): the prefill's last hidden states, ``positions`` (B, 1) the
    position of each row's last prompt token; ``head`` makes logits of hidden states and
    ``feed(tokens, positions)`` (both (B, 1)) runs the chosen tokens through the cached decoder.
    ``min_new_tokens``, per row: steps during which the end token is forbidden."""
    rows = hidden.shape[0]
    result = Generation(tokens=[[] for _ in range(rows)], scores=[[] for _ in range(rows)] if keep_scores else [])
    running = torch.ones(rows, dtype=torch.bool, device=hidden.device)
    minimum = None if min_new_tokens is None else torch.tensor(min_new_tokens, device=hidden.device)
    for step in range(max_new_tokens):
        logits = head(hidden[:, -1]).float()
        if keep_scores:
            for kept, row_logits in zip(result.scores, logits.detach().to("cpu", copy=True).unbind(0)):  # one copy per step
                kept.append(row_logits)
        if minimum is not None:
            logits[:, end_id] = torch.where(step < minimum, float("-inf"), logits[:, end_id])
        chosen = torch.where(running, logits.argmax(-1), torch.full_like(running, end_id, dtype=torch.long))
        for token, alive, tokens in zip(chosen.tolist(), running.tolist(), result.tokens):  # one device sync per step
            if alive:
                tokens.append(token)
        running = running & (chosen != end_id)
        if not running.any() or step == max_new_tokens - 1:
            break
        positions = positions + 1
        hidden = feed(chosen[:, None], positions)
    return result
