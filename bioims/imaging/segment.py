"""Nucleus detection on the normalised segmentation channel (docs/original.md §4.2 step 7).

Otsu threshold (256 bins) -> mask `s >= t` -> binary opening with a cross -> 4-connected components
(6-connected in 3-D) -> components of at least `min_voxels` voxels -> their mean-coordinate centres,
in label order.

The original opened twice with scikit-image's defaults (erosion treats outside pixels as set,
dilation as unset). With a symmetric footprint these two operators form an adjunction on the image
domain, so their composition is an opening and is idempotent: the second pass never changes the
mask, and one pass is computed here (the unit tests check it against two scikit-image passes).
The opening itself is a handful of shifted logical ANDs/ORs, one per axis and direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from bioims.imaging.histogram import unit_histogram
from bioims.imaging.params import OTSU_BINS


def _shifted(axis: int, ndim: int, lo: bool) -> tuple[slice, ...]:
    index = [slice(None)] * ndim
    index[axis] = slice(None, -1) if lo else slice(1, None)
    return tuple(index)


def erode_cross(mask: np.ndarray) -> np.ndarray:
    """Binary erosion with the 1-connectivity cross; pixels outside the image count as set."""
    out = mask.copy()
    for axis in range(mask.ndim):
        if mask.shape[axis] < 2:
            continue
        lo, hi = _shifted(axis, mask.ndim, True), _shifted(axis, mask.ndim, False)
        out[hi] &= mask[lo]
        out[lo] &= mask[hi]
    return out


def dilate_cross(mask: np.ndarray) -> np.ndarray:
    """Binary dilation with the 1-connectivity cross; pixels outside the image count as unset."""
    out = mask.copy()
    for axis in range(mask.ndim):
        if mask.shape[axis] < 2:
            continue
        lo, hi = _shifted(axis, mask.ndim, True), _shifted(axis, mask.ndim, False)
        out[hi] |= mask[lo]
        out[lo] |= mask[hi]
    return out


def open_cross(mask: np.ndarray) -> np.ndarray:
    """Binary opening with the cross, with scikit-image's border conventions."""
    return dilate_cross(erode_cross(mask))


def otsu_threshold(normalized: np.ndarray) -> float | None:
    """Otsu threshold of a min-max normalised channel; None when the channel is constant."""
    if float(normalized.min()) == float(normalized.max()):
        return None
    return float(threshold_otsu(hist=unit_histogram(normalized, OTSU_BINS)))


def nucleus_mask(normalized: np.ndarray) -> np.ndarray:
    """Foreground mask of the segmentation channel after Otsu and the opening (all False if the
    channel is constant)."""
    threshold = otsu_threshold(normalized)
    if threshold is None:
        return np.zeros(normalized.shape, dtype=bool)
    return open_cross(normalized >= threshold)


@dataclass(frozen=True)
class Components:
    """Connected components of a mask that reach the minimum size."""

    centres: np.ndarray  # (n, ndim) float64, mean voxel coordinate of each kept component
    sizes: np.ndarray  # (n,) int64 voxel counts
    labels: np.ndarray  # (n,) int64 label numbers (scipy.ndimage.label raster order)
    total: int  # components found before the size filter


def components(mask: np.ndarray, min_voxels: int) -> Components:
    """Label the mask (cross connectivity) and return size-filtered component centres in label
    order; sums of integer coordinates are exact, so the centres equal a per-voxel loop's."""
    labels, total = ndi.label(mask)
    where = np.flatnonzero(mask)  # labelled voxels are exactly the mask's
    owner = labels.ravel()[where]
    sizes = np.bincount(owner, minlength=total + 1)
    keep = np.flatnonzero(sizes >= min_voxels)
    keep = keep[keep > 0]
    coordinates = np.unravel_index(where, mask.shape)
    sums = [np.bincount(owner, weights=axis_coord, minlength=total + 1)[keep] for axis_coord in coordinates]
    centres = np.stack(sums, axis=1) / sizes[keep, np.newaxis] if keep.size else np.zeros((0, mask.ndim))
    return Components(
        centres=centres, sizes=sizes[keep].astype(np.int64), labels=keep.astype(np.int64), total=int(total)
    )
