"""Bootstrap intervals: deterministic, contain the estimate, widen for clustered queries."""

from __future__ import annotations

import numpy as np
import pytest

from bioims.evaluation import bootstrap_ci


def test_interval_contains_estimate_and_is_reproducible():
    rng = np.random.default_rng(0)
    correct = rng.random(200) < 0.7
    low, high = bootstrap_ci(correct, n_boot=500, seed=3)
    assert low < correct.mean() < high
    assert (low, high) == bootstrap_ci(correct, n_boot=500, seed=3)
    # binomial standard error ~ 0.032: a 95% interval is about +-0.064 wide
    assert 0.09 < high - low < 0.17


def test_all_correct_gives_a_point():
    assert bootstrap_ci(np.ones(10, dtype=bool), n_boot=50) == (1.0, 1.0)


def test_cluster_resampling_is_wider_when_clusters_agree_inside():
    # 20 compounds of 5 queries each, each compound all right or all wrong
    groups = np.repeat(np.arange(20), 5)
    correct = np.repeat(np.arange(20) % 3 != 0, 5)
    flat = bootstrap_ci(correct, n_boot=2000, seed=0)
    clustered = bootstrap_ci(correct, groups, n_boot=2000, seed=0)
    assert clustered[1] - clustered[0] > 1.5 * (flat[1] - flat[0])


def test_bad_arguments():
    with pytest.raises(ValueError):
        bootstrap_ci(np.array([], dtype=bool))
    with pytest.raises(ValueError):
        bootstrap_ci(np.ones(3, dtype=bool), confidence=1.5)
