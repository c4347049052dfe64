"""Bootstrap confidence intervals for an accuracy.

Queries of one compound (its concentrations, wells or images) share a lot, so resampling single
queries overstates the certainty; by default whole clusters (compounds) are resampled and the
accuracy of a resample is its correct count over its query count (a ratio estimator).
"""

from __future__ import annotations

import numpy as np


def bootstrap_ci(
    correct: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of the accuracy of `correct` (bools), resampling `groups` (or single entries)."""
    correct = np.asarray(correct, dtype=float)
    if correct.size == 0:
        raise ValueError("bootstrap of an empty result")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be within (0, 1), not {confidence!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, not {n_boot!r}")
    if groups is None:
        hits, sizes = correct, np.ones_like(correct)
    else:
        _, index = np.unique(np.asarray(groups).astype(str), return_inverse=True)
        hits = np.bincount(index, weights=correct)
        sizes = np.bincount(index).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(hits), size=(n_boot, len(hits)))
    accuracy = hits[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(accuracy, [tail, 1 - tail])
    return float(low), float(high)
