"""Bootstrap confidence intervals.

A resample of ``n`` samples is ``n`` indices drawn uniformly with replacement; the resampled
mean of a metric is the mean of its values at those indices. Indices are drawn in chunks of resamples that fit the CPU's cache: memory stays small whatever the
number of resamples and samples, the cost is linear in both, and the numbers depend only on
the seed and the sizes.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

DEFAULT_RESAMPLES = 1000
#: Fixed so that the same predictions always print the same interval.
DEFAULT_BOOTSTRAP_SEED = 20240716
#: Counts drawn at a time (resamples × samples): small enough to stay in the CPU's cache.
CHUNK_CELLS = 1 << 19


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
