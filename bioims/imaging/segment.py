"""Nucleus detection on the normalised segmentation channel (docs/original.md §4.2 step 7).

Otsu threshold (256 bins) -> mask `s >= t` -> binary opening with a cross -> 4-connected components
(6-connected in 3-D) -> components of at least `min_voxels` voxels -> their mean-coordinate centres,
in label order.

The original opened twice with scikit-image's defaults (erosion treats outside pixels as set,
dilation as unset). With a symmetric footprint these two operators form an adjunction on the image
domain, so their composition is an opening and is idempotent: the second pass never changes the
mask, and one pass is computed here (the unit tests check it against two scikit-image passes).
The opening itself is a handful of shifted logical ANDs/ORs, one per axis and direction.

Components are found on runs, not pixels: each image row's mask is cut into runs of set pixels,
runs in neighbouring rows (y and z) that share a column are joined (`scipy.sparse.csgraph`), and
sizes and coordinate sums are summed per run in closed form. Components are numbered in raster
order of their first pixel, as `scipy.ndimage.label` numbers them, so centres, sizes and label
numbers equal those of labelling every pixel (checked in the unit tests); a field has a few
thousand runs, so this is several times faster than labelling 1.3 million pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.filters import threshold_otsu

from bioims.imaging.histogram import histogram, unit_centers, unit_counts_and_bounds
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
    counts, lo, hi = unit_counts_and_bounds(normalized, OTSU_BINS)  # one sweep: bounds and bins
    if lo == hi:
        return None
    hist = (counts, unit_centers(OTSU_BINS)) if counts is not None else histogram(normalized, OTSU_BINS)
    return float(threshold_otsu(hist=hist))


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


def mask_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of set pixels along the last axis: (row, start, end) int arrays in raster order, row
    numbering the mask's rows (all axes but the last, C order), end exclusive."""
    width = mask.shape[-1]
    rows = mask.reshape(-1, width)
    padded = np.zeros((rows.shape[0], width + 2), dtype=bool)
    padded[:, 1:-1] = rows
    changes = np.flatnonzero(padded[:, 1:] != padded[:, :-1])  # alternately run starts and ends
    row = changes[0::2] // (width + 1)
    return row, changes[0::2] - row * (width + 1), changes[1::2] - row * (width + 1)


def _row_coordinates(row: np.ndarray, lead: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    return np.unravel_index(row, lead) if lead else ()


def _touching_runs(row: np.ndarray, start: np.ndarray, end: np.ndarray, lead: tuple[int, ...], width: int):
    """Pairs (i, j) of runs in rows one step apart along some leading axis that share a column."""
    key = width + 1  # row * key + column orders runs, starts and ends alike
    start_key, end_key = row * key + start, row * key + end
    coordinates = _row_coordinates(row, lead)
    sources, targets = [], []
    step = 1
    for axis in range(len(lead) - 1, -1, -1):
        runs = np.flatnonzero(coordinates[axis] < lead[axis] - 1)
        base = (row[runs] + step) * key
        # runs j of the next row with end_j > start_i and start_j < end_i: a contiguous range
        first = np.searchsorted(end_key, base + start[runs], side="right")
        count = np.maximum(np.searchsorted(start_key, base + end[runs], side="left") - first, 0)
        within = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        sources.append(np.repeat(runs, count))
        targets.append(np.repeat(first, count) + within)
        step *= lead[axis]
    empty = np.zeros(0, dtype=np.intp)
    return np.concatenate(sources or [empty]), np.concatenate(targets or [empty])


def components(mask: np.ndarray, min_voxels: int) -> Components:
    """Connected components of the mask (cross connectivity) and their size-filtered centres, in
    the order `scipy.ndimage.label` numbers them; sums of integer coordinates are exact, so the
    centres equal a per-voxel loop's."""
    if mask.ndim == 0 or mask.size == 0:
        return Components(np.zeros((0, mask.ndim)), np.zeros(0, np.int64), np.zeros(0, np.int64), 0)
    row, start, end = mask_runs(mask)
    lead = mask.shape[:-1]
    if row.size:
        sources, targets = _touching_runs(row, start, end, lead, mask.shape[-1])
        graph = coo_matrix((np.ones(sources.size, dtype=np.int8), (sources, targets)), shape=(row.size, row.size))
        total, owner = connected_components(graph, directed=False)
        _, first_run = np.unique(owner, return_index=True)
        raster = np.empty(total, dtype=np.intp)
        raster[np.argsort(first_run)] = np.arange(total)  # number components by their first pixel
        owner = raster[owner]
    else:
        total, owner = 0, np.zeros(0, dtype=np.intp)
    length = end - start
    sizes = np.bincount(owner, weights=length, minlength=total).astype(np.int64)
    keep = np.flatnonzero(sizes >= min_voxels)
    # per run: sum of each coordinate over its pixels (the last axis: an arithmetic series)
    run_sums = [c * length for c in _row_coordinates(row, lead)] + [(start + end - 1) * length // 2]
    sums = [np.bincount(owner, weights=run_sum, minlength=total)[keep] for run_sum in run_sums]
    centres = np.stack(sums, axis=1) / sizes[keep, np.newaxis] if keep.size else np.zeros((0, mask.ndim))
    return Components(centres=centres, sizes=sizes[keep], labels=(keep + 1).astype(np.int64), total=int(total))
