"""Histograms and the original's histogram cut-off (docs/original.md §4.0 `findHistCutoff`).

The cut-off is an approximate p-quantile that errs one bin high: with inclusive cumulative counts
S_k, take the first k with S_k >= p * total and return the centre of bin k+1 (clamped to the last
bin); an empty histogram gives the first centre. Bins are those of scikit-image's `histogram` for
float input: `nbins` equal bins over [min, max], centres at the bin midpoints.

Two exact fast paths avoid a full `np.histogram` pass over a megapixel channel:
* integer images: count each raw grey level once (`np.bincount`), then histogram the distinct
  levels weighted by their counts. A pixel's bin depends only on its value, so the counts equal
  those of `np.histogram` over `raw / scale`.
* arrays min-max normalised to exactly [0, 1] with a power-of-two bin count: `floor(x * nbins)` is
  computed exactly in floating point and equals numpy's bin index, so one `bincount` suffices.
"""

from __future__ import annotations

import numpy as np

from bioims.imaging.params import HIST_BINS

Histogram = tuple[np.ndarray, np.ndarray]  # (counts, bin centres)


def cutoff_from_histogram(counts: np.ndarray, centers: np.ndarray, quantile: float) -> float:
    """The original's one-bin-high quantile rule over a histogram (counts, centres)."""
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must lie in [0, 1], not {quantile}")
    counts = np.asarray(counts)
    target = quantile * counts.sum()
    if target <= 0:
        return float(centers[0])
    cumulative = np.cumsum(counts)
    first = int(np.searchsorted(cumulative, target, side="left"))
    return float(centers[min(first + 1, len(centers) - 1)])


def histogram(x: np.ndarray, nbins: int = HIST_BINS) -> Histogram:
    """scikit-image's float histogram: `nbins` equal bins over [x.min(), x.max()], midpoints."""
    lo, hi = float(x.min()), float(x.max())
    counts, edges = np.histogram(x, bins=nbins, range=(lo, hi))
    return counts, (edges[:-1] + edges[1:]) / 2


def integer_histogram(raw: np.ndarray, scale: float, nbins: int = HIST_BINS) -> Histogram:
    """Histogram of `raw / scale` for an unsigned-integer image, counted per grey level first."""
    if raw.dtype.kind != "u":
        raise TypeError(f"integer_histogram needs an unsigned integer image, not {raw.dtype}")
    return level_histogram(np.bincount(raw.ravel()), scale, nbins)


def level_histogram(level_counts: np.ndarray, scale: float, nbins: int = HIST_BINS) -> Histogram:
    """Histogram of `level / scale` from per-grey-level pixel counts (`np.bincount(raw)`)."""
    levels = np.flatnonzero(level_counts)
    if levels.size == 0:
        raise ValueError("histogram of an empty image")
    values = levels / scale
    counts, edges = np.histogram(
        values, bins=nbins, range=(float(values[0]), float(values[-1])), weights=level_counts[levels]
    )
    return counts.astype(np.int64), (edges[:-1] + edges[1:]) / 2


def unit_histogram(x: np.ndarray, nbins: int) -> Histogram:
    """`histogram(x, nbins)` for an array whose minimum is exactly 0 and maximum exactly 1 (a
    min-max normalised channel); exact and one pass when `nbins` is a power of two."""
    if nbins & (nbins - 1) or float(x.min()) != 0.0 or float(x.max()) != 1.0:
        return histogram(x, nbins)
    index_type = np.uint16 if nbins < 65535 else np.intp  # a narrow cast is several times faster
    index = (x * nbins).astype(index_type).ravel()
    counts = np.bincount(index, minlength=nbins + 1)
    counts[nbins - 1] += counts[nbins]  # x == 1.0 belongs to the last bin
    edges = np.linspace(0.0, 1.0, nbins + 1)
    return counts[:nbins], (edges[:-1] + edges[1:]) / 2


def quantile_cutoff(x: np.ndarray, quantile: float, nbins: int = HIST_BINS) -> float:
    """`findHistCutoff(histogram(x, nbins), quantile)` for a float array."""
    return cutoff_from_histogram(*histogram(x, nbins), quantile)
