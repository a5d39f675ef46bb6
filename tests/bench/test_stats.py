from __future__ import annotations

import numpy as np

from bench.stats import bootstrap_counts, percentile_interval, resampled_means


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
