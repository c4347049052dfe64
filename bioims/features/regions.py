"""Nucleus and cell regions of each ROI, from the same segmentation the imaging pipeline runs.

An ROI is a window cut around one nucleus (bioims.imaging.pipeline). Its nucleus region is the
component of the segmentation channel's nucleus mask (per-window Otsu threshold, cross opening,
4-connected components: bioims.imaging.segment) that holds the window's centre, or the component
nearest to it. Its cell region is the foreground of the other channels (per-window Otsu of their
mean, plus the nuclei) closer to the central nucleus than to any other nucleus of the window:
CellProfiler's secondary objects by distance, so neighbours keep their own cytoplasm.

All windows are processed as one (n, R, R) stack (labelling uses no connectivity across windows);
only the nearest-nucleus map is computed window by window, and only where a window holds more
than one nucleus. Every ROI gets a non-empty nucleus and cell: a window without any nucleus
foreground (a constant segmentation channel) gets a 3x3 nucleus at its centre, from which its
cell grows as any other, so feature rows stay aligned with the ROI tensor.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from bioims.imaging.params import OTSU_BINS

# 4-connectivity inside a window, none across windows.
_CROSS_2D = np.zeros((3, 3, 3), dtype=bool)
_CROSS_2D[1] = ndi.generate_binary_structure(2, 1)


def _thresholds(stack: np.ndarray, nbins: int = OTSU_BINS) -> np.ndarray:
    """Per-window Otsu threshold of a (n, R, R) stack, all windows at once: scikit-image's
    `threshold_otsu` over `nbins` equal bins between each window's min and max; inf for a
    constant window (no foreground)."""
    n = stack.shape[0]
    flat = stack.reshape(n, -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    span = np.where(hi > lo, hi - lo, 1.0)
    index = np.minimum(((flat - lo[:, None]) / span[:, None] * nbins).astype(np.int64), nbins - 1)
    counts = (
        np.bincount((index + np.arange(n)[:, None] * nbins).ravel(), minlength=n * nbins)
        .reshape(n, nbins)
        .astype(np.float64)
    )
    centres = lo[:, None] + (np.arange(nbins) + 0.5)[None, :] * (span / nbins)[:, None]
    weight1 = np.cumsum(counts, axis=1)
    weight2 = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean1 = np.cumsum(counts * centres, axis=1) / weight1
        mean2 = (np.cumsum((counts * centres)[:, ::-1], axis=1) / weight2[:, ::-1])[:, ::-1]
        between = weight1[:, :-1] * weight2[:, 1:] * (mean1[:, :-1] - mean2[:, 1:]) ** 2
    best = np.argmax(np.nan_to_num(between, nan=-1.0), axis=1)
    out = centres[np.arange(n), best]
    return np.where(hi > lo, out, np.inf)


def _open_windows(mask: np.ndarray) -> np.ndarray:
    """Cross opening of each (R, R) window of a (n, R, R) mask, with scikit-image's border
    conventions per window (bioims.imaging.segment.open_cross on axes 1 and 2 only)."""
    eroded = mask.copy()
    for axis in (1, 2):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        eroded[tuple(hi)] &= mask[tuple(lo)]
        eroded[tuple(lo)] &= mask[tuple(hi)]
    dilated = eroded.copy()
    for axis in (1, 2):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        dilated[tuple(hi)] |= eroded[tuple(lo)]
        dilated[tuple(lo)] |= eroded[tuple(hi)]
    return dilated


def _central_labels(labels: np.ndarray, count: int) -> np.ndarray:
    """(n,) label of each window's central component (the one at the centre pixel, else the
    nearest by squared distance to the centre); 0 where a window has no component."""
    n, height, width = labels.shape
    cy, cx = (height - 1) / 2, (width - 1) / 2
    central = labels[:, int(round(cy)), int(round(cx))].astype(np.int64)
    missing = np.flatnonzero(central == 0)
    if count == 0 or missing.size == 0:
        return central
    sub = labels[missing]
    yy, xx = np.indices((height, width))
    distance = np.broadcast_to((yy - cy) ** 2 + (xx - cx) ** 2, sub.shape)
    window = np.broadcast_to(np.arange(missing.size)[:, None, None], sub.shape)
    found = sub > 0
    if not found.any():
        return central
    # per window, the labelled pixel nearest to the centre: sort by (window, distance)
    order = np.lexsort((distance[found], window[found]))
    w, lab = window[found][order], sub[found][order]
    first = np.r_[True, w[1:] != w[:-1]]
    central[missing[w[first]]] = lab[first]
    return central


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Each window's mask with its holes (background not connected to the window's edge) filled;
    one labelling of the background instead of scipy's iterative fill."""
    background, _ = ndi.label(~mask, structure=_CROSS_2D)
    touches_edge = np.zeros(int(background.max()) + 1, dtype=bool)
    for side in (background[:, 0], background[:, -1], background[:, :, 0], background[:, :, -1]):
        touches_edge[side.ravel()] = True
    return mask | ~touches_edge[background]


def _closest_to_central(nucleus: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n, R, R) mask of the pixels nearer to the central nucleus than to any other nucleus of
    their window, at half resolution (the boundary moves by at most a pixel). Only windows that
    hold another nucleus need a distance transform, each a 2-D one (a 3-D transform over the
    stack with a huge spacing between windows gives the same answer at three times the cost)."""
    height, width = nucleus.shape[1:]
    seeds = np.where(nucleus, -1, labels)[:, ::2, ::2]  # the central nucleus as -1, others by label
    closest = np.ones(seeds.shape, dtype=bool)
    for i in np.flatnonzero((seeds > 0).any(axis=(1, 2))).tolist():
        _, (iy, ix) = ndi.distance_transform_edt(seeds[i] == 0, return_indices=True)
        closest[i] = seeds[i][iy, ix] == -1
    return np.repeat(np.repeat(closest, 2, axis=1), 2, axis=2)[:, :height, :width]


def roi_regions(rois: np.ndarray, segmentation: int) -> tuple[np.ndarray, np.ndarray]:
    """(nucleus, cell) boolean (n, R, R) masks of n ROIs.

    rois: (n, C, R, R) float in [0, 1] (the stored uint16 tensor / 65535); segmentation: index of
    the nucleus channel. Each cell mask contains its nucleus mask.
    """
    rois = np.asarray(rois)
    n, channels, height, width = rois.shape
    seg = rois[:, segmentation]
    nuclei = _open_windows(seg >= _thresholds(seg)[:, None, None])
    labels, count = ndi.label(nuclei, structure=_CROSS_2D)
    central = _central_labels(labels, count)
    nucleus = labels == central[:, None, None]
    nucleus &= (central > 0)[:, None, None]
    empty = central == 0
    if empty.any():
        cy, cx = height // 2, width // 2
        nucleus[empty, max(cy - 1, 0) : cy + 2, max(cx - 1, 0) : cx + 2] = True
    others = [c for c in range(channels) if c != segmentation]
    if not others:
        return nucleus, nucleus.copy()
    cytoplasm = ndi.gaussian_filter(
        sum(rois[:, c] for c in others) / len(others), sigma=(0, 1, 1)
    )  # the mean, without a copy of the channels
    foreground = nuclei | (cytoplasm >= _thresholds(cytoplasm)[:, None, None])
    cell = (foreground & _closest_to_central(nucleus, labels)) | nucleus
    # the part connected to the nucleus, holes filled
    pieces, count = ndi.label(cell, structure=_CROSS_2D)
    holds_nucleus = np.zeros(count + 1, dtype=bool)
    holds_nucleus[pieces[nucleus]] = True
    holds_nucleus[0] = False
    cell = holds_nucleus[pieces]
    return nucleus, _fill_holes(cell)
