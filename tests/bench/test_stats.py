from __future__ import annotations

import numpy as np

from bench.stats import bootstrap_counts, bootstrap_means, percentile_interval, resampled_means


def test_counts_are_resamples_of_the_right_size():
    counts = bootstrap_counts(7, resamples=50, seed=1)
    assert counts.shape == (50, 7) and (counts.sum(axis=1) == 7).all()
    assert (bootstrap_counts(7, resamples=50, seed=1) == counts).all()


def test_resampled_means_match_explicit_resampling():
    values = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 4.0]])
    counts = np.array([[3, 0, 0], [1, 1, 1], [0, 2, 1]])
    explicit = np.array([values[[0, 0, 0]].mean(0), values[[0, 1, 2]].mean(0), values[[1, 1, 2]].mean(0)])
    assert np.allclose(resampled_means(values, counts), explicit)


def test_interval_of_a_constant_is_the_constant_and_covers_the_mean_otherwise():
    assert percentile_interval(np.full(100, 0.25)) == (0.25, 0.25)
    rng = np.random.default_rng(0)
    values = (rng.random((400, 1)) < 0.3).astype(float)
    low, high = percentile_interval(resampled_means(values, bootstrap_counts(400))[:, 0])
    assert low < values.mean() < high
    # binomial standard error at p=0.3, n=400 is 0.023: a 95% interval spans about 0.09
    assert 0.06 < high - low < 0.12


def test_chunked_means_equal_the_means_under_the_counts():
    rng = np.random.default_rng(3)
    for n in (1, 7, 3000):
        values = rng.random((n, 2))
        assert np.allclose(bootstrap_means(values, resamples=200, seed=5), resampled_means(values, bootstrap_counts(n, 200, 5)),
                           rtol=1e-12, atol=1e-12)


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    values = (np.random.default_rng(1).random((500, 1)) < 0.4).astype(float)
    first = bootstrap_means(values, seed=11)
    assert (bootstrap_means(values, seed=11) == first).all()
    assert not (bootstrap_means(values, seed=12) == first).all()
