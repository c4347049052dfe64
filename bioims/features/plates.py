"""Image profiles of a plate from ROI features, for search.

An image vector is the NaN-ignoring mean of its ROI features, robust z-scored per plate against
the plate's DMSO images (median, 1.4826 x MAD; all images where the plate has no DMSO), so
features of different units weigh alike in search. Evaluation does not use these vectors: it
profiles an image by the plain mean of its ROI features (image_profile) and applies the whole
profiling recipe to it (bioims.reports.profiles), whose scale floor needs every plate.
"""

from __future__ import annotations

import numpy as np

CONTROL = "DMSO"
MAD_SCALE = 1.4826


def image_profile(features: np.ndarray) -> np.ndarray:
    """NaN-ignoring mean of an image's ROI features (n >= 1, d); a feature undefined for every
    ROI is 0 (its plate normalisation then gives 0 too)."""
    with np.errstate(invalid="ignore"):
        counts = np.isfinite(features).sum(axis=0)
        sums = np.where(np.isfinite(features), features, 0.0).sum(axis=0, dtype=np.float64)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


def plate_normalize(profiles: np.ndarray, control: np.ndarray) -> np.ndarray:
    """Robust z-score of (n, d) image profiles against the rows in `control` (all rows when none):
    (x - median) / (1.4826 MAD), the scale falling back to the standard deviation and then 1
    where the controls do not vary."""
    reference = profiles[control] if control.any() else profiles
    centre = np.median(reference, axis=0)
    scale = MAD_SCALE * np.median(np.abs(reference - centre), axis=0)
    spread = reference.std(axis=0)
    scale = np.where(scale > 0, scale, np.where(spread > 0, spread, 1.0))
    return ((profiles - centre) / scale).astype(np.float32)
