from __future__ import annotations

import numpy as np

from bench.stats import bootstrap_index_chunks, bootstrap_means, percentile_interval


def _drawn(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.vstack(list(bootstrap_index_chunks(n, resamples, seed)))


def test_resamples_draw_n_indices_each_and_depend_on_the_seed_only():
    drawn = _drawn(7, resamples=50, seed=1)
    assert drawn.shape == (50, 7) and drawn.min() >= 0 and drawn.max() < 7
    assert (_drawn(7, resamples=50, seed=1) == drawn).all()
    assert not (_drawn(7, resamples=50, seed=2) == drawn).all()


def test_means_equal_explicit_resampling_with_the_drawn_indices():
    rng = np.random.default_rng(3)
    for n in (1, 7, 3000):
        values = rng.random((n, 2))
        drawn = _drawn(n, 200, 5)
        # the same resamples as counts (how often each sample appears) times the values
        counts = np.stack([np.bincount(row, minlength=n) for row in drawn]).astype(float)
        assert np.allclose(bootstrap_means(values, resamples=200, seed=5), counts @ values / n, rtol=1e-12, atol=1e-12)


def test_interval_of_a_constant_is_the_constant_and_covers_the_mean_otherwise():
    assert percentile_interval(np.full(100, 0.25)) == (0.25, 0.25)
    rng = np.random.default_rng(0)
    values = (rng.random((400, 1)) < 0.3).astype(float)
    low, high = percentile_interval(bootstrap_means(values)[:, 0])
    assert low < values.mean() < high
    # binomial standard error at p=0.3, n=400 is 0.023: a 95% interval spans about 0.09
    assert 0.06 < high - low < 0.12


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    values = (np.random.default_rng(1).random((500, 1)) < 0.4).astype(float)
    first = bootstrap_means(values, seed=11)
    assert (bootstrap_means(values, seed=11) == first).all()
    assert not (bootstrap_means(values, seed=12) == first).all()
