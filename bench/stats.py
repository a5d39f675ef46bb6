"""Bootstrap confidence intervals.

Resampling is done with multinomial counts rather than index arrays: one (resamples × samples)
integer matrix serves every metric column at once, and memory stays small for 5,000-sample sets.
"""

from __future__ import annotations

import numpy as np

DEFAULT_RESAMPLES = 1000
#: Fixed so that the same predictions always print the same interval.
DEFAULT_BOOTSTRAP_SEED = 20240716


def bootstrap_counts(n: int, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_BOOTSTRAP_SEED) -> np.ndarray:
    """How often each of ``n`` samples appears in each resample, shape (resamples, n)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples)


def resampled_means(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Means of each column of ``values`` (n × m) under each resample: (resamples × m)."""
    return counts @ values / values.shape[0]


def percentile_interval(resampled: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(resampled, [tail, 100.0 - tail])
    return float(low), float(high)
