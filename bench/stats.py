"""Bootstrap confidence intervals, and paired statistics of two runs over the same samples.

A resample of ``n`` samples is ``n`` indices drawn uniformly with replacement; the resampled
mean of a metric is the mean of its values at those indices. Indices are drawn in chunks of
resamples that fit the CPU's cache: memory stays small whatever the number of resamples and
samples, the cost is linear in both, and the numbers depend only on the seed and the sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

DEFAULT_RESAMPLES = 1000
#: Fixed so that the same predictions always print the same interval.
DEFAULT_BOOTSTRAP_SEED = 20240716
#: Counts drawn at a time (resamples × samples): small enough to stay in the CPU's cache.
CHUNK_CELLS = 1 << 19
#: Resamples and permutations of a paired comparison: its p-values need more than an interval.
PAIRED_RESAMPLES = 2000
#: Sign-flip permutations drawn at a time, so that memory stays small for large sets.
PERMUTATION_BLOCK = 500
#: Derived metrics (e.g. a ratio of sums) from per-sample metric means, one value per row.
Derive = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


def bootstrap_index_chunks(n: int, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_BOOTSTRAP_SEED) -> Iterator[np.ndarray]:
    """The drawn sample indices of each resample, shape (resamples in the chunk, n). Each chunk
    draws from its own child generator of ``seed``; the chunk size depends on ``n`` only, so
    the numbers depend on ``(n, resamples, seed)`` and on nothing a caller does."""
    per_chunk = max(1, min(resamples, CHUNK_CELLS // max(n, 1)))
    children = np.random.SeedSequence(seed).spawn(-(-resamples // per_chunk))
    for index, child in enumerate(children):
        rows = min(per_chunk, resamples - index * per_chunk)
        yield np.random.default_rng(child).integers(0, n, size=(rows, n), dtype=np.intp)


def bootstrap_means(values: np.ndarray, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_BOOTSTRAP_SEED) -> np.ndarray:
    """Means of each column of ``values`` (n × m) under each resample, (resamples × m), by
    gathering the drawn samples chunk by chunk: memory stays at one chunk. Paired statistics
    stack both sides' columns into one ``values``, so both see the same resamples."""
    n, columns = values.shape
    blocks = []
    for drawn in bootstrap_index_chunks(n, resamples, seed):
        blocks.append(np.stack([values[:, j][drawn].mean(axis=1) for j in range(columns)], axis=1))
    return np.vstack(blocks) if blocks else np.empty((0, columns))


def percentile_interval(resampled: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(resampled, [tail, 100.0 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedResult:
    base: float
    new: float
    delta: float
    ci95: tuple[float, float]
    p_value: float


def paired_statistics(
    base: np.ndarray,
    new: np.ndarray,
    names: Sequence[str],
    derive: Derive | None = None,
    resamples: int = PAIRED_RESAMPLES,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
) -> dict[str, PairedResult]:
    """Paired bootstrap interval and sign-flip permutation p-value of new − base, for every
    per-sample metric (columns of the n × m arrays) and every metric ``derive`` computes from
    their means."""
    if base.shape != new.shape or base.shape[1] != len(names):
        raise ValueError(f"score arrays must both be (samples × {len(names)}), got {base.shape} and {new.shape}")
    n = base.shape[0]

    def metrics_of(means: np.ndarray) -> dict[str, np.ndarray]:
        values = {name: means[:, i] for i, name in enumerate(names)}
        if derive is not None:
            values.update({k: np.asarray(v, dtype=np.float64) for k, v in derive(dict(values)).items()})
        return values

    base_point = metrics_of(base.mean(axis=0, keepdims=True))
    new_point = metrics_of(new.mean(axis=0, keepdims=True))
    # One bootstrap over both sides' columns: each resample takes the same samples from both.
    both = bootstrap_means(np.hstack([base, new]), resamples, seed)
    base_boot = metrics_of(both[:, : len(names)])
    new_boot = metrics_of(both[:, len(names) :])

    # Sign flips: a swapped sample moves its pair's half-difference from one side to the other.
    # Drawn in blocks so that memory stays small for large sets.
    rng = np.random.default_rng(seed + 1)
    centre = (base + new).mean(axis=0) / 2.0
    half_difference = (base - new) / 2.0
    blocks: dict[str, list[np.ndarray]] = {}
    for start in range(0, resamples, PERMUTATION_BLOCK):
        signs = rng.choice(np.array([-1.0, 1.0]), size=(min(PERMUTATION_BLOCK, resamples - start), n))
        shift = signs @ half_difference / n
        base_perm, new_perm = metrics_of(centre + shift), metrics_of(centre - shift)
        for name in base_perm:
            blocks.setdefault(name, []).append(np.abs(new_perm[name] - base_perm[name]))

    results = {}
    for name in base_point:
        observed = float(new_point[name][0] - base_point[name][0])
        spread = new_boot[name] - base_boot[name]
        permuted = np.concatenate(blocks[name])
        if np.isfinite(observed):
            extreme = int(np.count_nonzero(permuted >= abs(observed) - 1e-12 * max(1.0, abs(observed))))
            p_value = (1 + extreme) / (1 + resamples)
            ci95 = percentile_interval(spread[np.isfinite(spread)]) if np.isfinite(spread).any() else (np.nan, np.nan)
        else:
            p_value, ci95 = float("nan"), (float("nan"), float("nan"))
        results[name] = PairedResult(float(base_point[name][0]), float(new_point[name][0]), observed, ci95, p_value)
    return results
