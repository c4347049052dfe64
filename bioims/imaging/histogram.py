"""Histograms and the original's histogram cut-off (docs/original.md §4.0 `findHistCutoff`).

The cut-off is an approximate p-quantile that errs one bin high: with inclusive cumulative counts
S_k, take the first k with S_k >= p * total and return the centre of bin k+1 (clamped to the last
bin); an empty histogram gives the first centre. Bins are those of scikit-image's `histogram` for
float input: `nbins` equal bins over [min, max], centres at the bin midpoints.

Exact fast paths avoid a full `np.histogram` pass over a megapixel channel:
* integer images: count each raw grey level once (`np.bincount`), then histogram the distinct
  levels weighted by their counts. A pixel's bin depends only on its value, so the counts equal
  those of `np.histogram` over `raw / scale`.
* the cut-off of an integer image needs less than its histogram (`integer_cutoff`): bins are runs of
  consecutive grey levels, so "first bin whose inclusive cumulative count reaches p * total" is
  decided by counting the pixels at or below a bin's highest level, a few comparison passes (bins
  guessed from a subsample, then bisected) instead of counting all 65536 levels.
* arrays min-max normalised to exactly [0, 1] with a power-of-two bin count: `floor(x * nbins)` is
  computed exactly in floating point and equals numpy's bin index, so one `bincount` suffices.
"""

from __future__ import annotations

import math

import numpy as np

from bioims.imaging.blocks import BLOCK_ELEMENTS, blocks
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


def integer_cutoff(raw: np.ndarray, scale: float, quantile: float, nbins: int = HIST_BINS) -> float:
    """`cutoff_from_histogram(*integer_histogram(raw, scale, nbins), quantile)`, computed without
    counting every grey level.

    The bins are those of `np.histogram` over the levels from raw.min() to raw.max() divided by
    `scale` (half-open value intervals, so each bin holds a run of consecutive levels). The
    inclusive cumulative count of bin k is the number of pixels at or below the bin's highest level,
    one comparison pass; the first bin reaching `quantile * total` is searched from the bin of the
    same quantile of a subsample (two passes when that guess is right, a few more otherwise). Same
    float operations for the bin edges and the target as the histogram route: the same float."""
    if raw.dtype.kind != "u":
        raise TypeError(f"integer_cutoff needs an unsigned integer image, not {raw.dtype}")
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must lie in [0, 1], not {quantile}")
    if raw.size == 0:
        raise ValueError("histogram of an empty image")
    first, last = int(raw.min()), int(raw.max())
    top_level, centers = _level_bins(first, last, scale, nbins)
    target = quantile * raw.size
    if target <= 0:
        return float(centers[0])
    needed = math.ceil(target)  # integer counts reach the float target exactly when they reach its ceiling

    def reaches(k: int) -> bool:  # inclusive cumulative count of bin k >= target
        level = int(top_level[k])  # a Python int compares in raw's type
        return level >= first and int(np.count_nonzero(raw <= level)) >= needed

    flat = raw.reshape(-1)
    sample = flat[:: max(1, flat.size // 16384)]
    rank = min(int(quantile * sample.size), sample.size - 1)
    k = min(int(np.searchsorted(top_level, np.partition(sample, rank)[rank])), nbins - 1)
    # The answer lies in [low, high] (the last bin holds every pixel). Gallop away from the guessed
    # bin until the answer is bracketed, then bisect: two probes when the guess is right.
    low, high = 0, nbins - 1
    down = k == high or reaches(k)
    if down:
        high = k
    else:
        low = k + 1
    galloping, steps = True, 0
    while low < high:
        step = 1 << max(steps - 1, 0)  # 1, 1, 2, 4, ...: the guess is usually off by one at most
        j = (high - step if down else low - 1 + step) if galloping else (low + high) // 2
        if not low <= j < high:
            galloping = False
            continue
        if reaches(j):
            high = j
            galloping = galloping and down
        else:
            low = j + 1
            galloping = galloping and not down
        steps += 1
    return float(centers[min(low + 1, nbins - 1)])


def _level_bins(first: int, last: int, scale: float, nbins: int) -> tuple[np.ndarray, np.ndarray]:
    """(highest grey level of bins 0..k for every k, bin centres) of `np.histogram` over
    `arange(first, last + 1) / scale` with the range of those values.

    np.histogram's bins are half-open [e_i, e_i+1) (the last one closed), so the levels of bins
    0..k are those whose value lies below e_k+1: a `searchsorted` of the edges instead of binning up
    to 65536 levels (1.6 ms). np.histogram of the levels on both sides of every boundary confirms
    the split; should it ever disagree, all levels are binned by np.histogram itself."""
    values = np.arange(first, last + 1, dtype=np.intp) / scale
    value_range = (float(values[0]), float(values[-1]))
    edges = np.histogram_bin_edges(values[[0, -1]], bins=nbins, range=value_range)
    below = np.searchsorted(values, edges[1:-1], side="left")  # levels in bins 0..k, k < nbins - 1
    ends = np.append(below, values.size)
    sides = np.unique(np.clip(np.concatenate([below - 1, below]), 0, values.size - 1))
    expected = np.bincount(np.searchsorted(ends, sides, side="right"), minlength=nbins)
    if not np.array_equal(np.histogram(values[sides], bins=nbins, range=value_range)[0], expected):
        ends = np.cumsum(np.histogram(values, bins=nbins, range=value_range)[0])
    return first + ends - 1, (edges[:-1] + edges[1:]) / 2


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


def unit_histogram(x: np.ndarray, nbins: int, bounds: tuple[float, float] | None = None) -> Histogram:
    """`histogram(x, nbins)`, exact and in one sweep when x's minimum is exactly 0, its maximum
    exactly 1 (a min-max normalised channel) and `nbins` a power of two. bounds: x's (min, max)
    when the caller already has them."""
    if nbins & (nbins - 1):
        return histogram(x, nbins)
    if bounds is None:
        counts, lo, hi = unit_counts_and_bounds(x, nbins)
    else:
        lo, hi = bounds
        counts = unit_counts(x, nbins) if (lo, hi) == (0.0, 1.0) else None
    if counts is None:
        return histogram(x, nbins)
    return counts, unit_centers(nbins)


def unit_centers(nbins: int) -> np.ndarray:
    edges = np.linspace(0.0, 1.0, nbins + 1)
    return (edges[:-1] + edges[1:]) / 2


def unit_counts(x: np.ndarray, nbins: int) -> np.ndarray:
    """Bin counts of values in [0, 1] over `nbins` (a power of two) equal bins, the last one closed."""
    counts = unit_counts_and_bounds(x, nbins)[0]
    if counts is None:
        raise ValueError("unit_counts needs values spanning exactly [0, 1]")
    return counts


def unit_counts_and_bounds(x: np.ndarray, nbins: int) -> tuple[np.ndarray | None, float, float]:
    """(counts, min, max) of x in one cache-blocked sweep; counts is None unless x spans exactly
    [0, 1]. bin = min(floor(x * nbins), nbins - 1), exact because x * nbins is (nbins a power of
    two).

    Up to 256 bins the bin numbers fit a byte; two neighbouring bytes read as one uint16 are
    counted together (`np.bincount` over half as many values, 65536 counters) and the pair counts
    are folded back per byte, about twice as fast as counting every value."""
    if nbins < 1 or nbins & (nbins - 1):
        raise ValueError(f"the exact unit bins need a power-of-two bin count, not {nbins}")
    values = x.reshape(-1)
    if values.size == 0:
        raise ValueError("histogram of an empty array")
    index = np.empty(values.size, dtype=np.uint8 if nbins <= 256 else np.intp)
    scaled = np.empty(min(BLOCK_ELEMENTS, values.size), dtype=np.float64)
    lows, highs = [], []
    for part in blocks(values.size):
        source, block = values[part], scaled[: part.stop - part.start]
        lows.append(float(source.min()))
        highs.append(float(source.max()))
        np.multiply(source, nbins, out=block)
        np.clip(block, 0, nbins - 1, out=block)  # x == 1.0 belongs to the last bin
        np.copyto(index[part], block, casting="unsafe")  # truncation = floor for x >= 0
    lo, hi = min(lows), max(highs)
    if (lo, hi) != (0.0, 1.0):
        return None, lo, hi
    if nbins > 256:
        return np.bincount(index, minlength=nbins), lo, hi
    odd = index.size % 2
    pairs = np.bincount(index[odd:].view(np.uint16), minlength=65536).reshape(256, 256)
    counts = pairs.sum(axis=0) + pairs.sum(axis=1)
    if odd:
        counts[index[0]] += 1
    return counts[:nbins].astype(np.intp), lo, hi


def quantile_cutoff(x: np.ndarray, quantile: float, nbins: int = HIST_BINS) -> float:
    """`findHistCutoff(histogram(x, nbins), quantile)` for a float array."""
    return cutoff_from_histogram(*histogram(x, nbins), quantile)
