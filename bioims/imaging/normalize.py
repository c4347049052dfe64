"""Per-channel intensity normalisation (docs/original.md §4.0 `normalizeChannel`, §4.2 step 6, §4.3 step 4).

Per pixel the value is `minmax(min(ln(max(min(x, p) / b, 1)), 5))` with x the channel
scaled to [0, 1], p its ~99th-percentile cut-off and b the background (the plate's flat field, or a
scalar for thumbnails). It is formed in the log domain:

    l = clip(min(ln x, ln p) - ln b, 0, 5)

`ln x` depends only on the grey level, so it is a lookup table over the 256 or 65536 levels (one
gather instead of a division and a logarithm per pixel), and `ln b` of a flat field is computed once
per plate channel and reused for every image. Results equal the per-pixel formula up to
floating-point rounding (~1e-15).

Degenerate inputs give defined values (docs/original.md §8.4 #27): a constant log image gives zeros;
a zero background is floored at the smallest normal float, so a bright pixel over it saturates at 5
and a zero pixel gives 0 (never inf or NaN); an all-zero channel gives zeros.
"""

from __future__ import annotations

import functools
from typing import cast

import numpy as np

from bioims.imaging.histogram import cutoff_from_histogram, integer_cutoff, level_histogram
from bioims.imaging.io import full_scale
from bioims.imaging.params import HIST_BINS, LOG_RATIO_MAX, ROI_SCALE, THUMBNAIL_BACKGROUND_QUANTILE, TOP_CLIP_QUANTILE

_TINY = np.finfo(np.float64).tiny


@functools.lru_cache(maxsize=4)
def _log_levels(dtype_str: str) -> np.ndarray:
    scale = full_scale(np.dtype(dtype_str))
    with np.errstate(divide="ignore"):
        table = np.log(np.arange(scale + 1, dtype=np.float64) / scale)
    table.setflags(write=False)
    return table


def log_levels(dtype: np.dtype) -> np.ndarray:
    """ln(level / full_scale) for every grey level of an 8- or 16-bit type (ln 0 = -inf); read-only."""
    return _log_levels(np.dtype(dtype).str)


def log_background(background: np.ndarray | float) -> np.ndarray | float:
    """ln of a background (flat field or scalar), floored so that zero backgrounds stay finite."""
    if np.isscalar(background):
        return float(np.log(max(float(cast(float, background)), _TINY)))
    array = np.asarray(background, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError("background contains non-finite values")
    return np.log(np.maximum(array, _TINY))


def minmax_inplace(values: np.ndarray) -> np.ndarray:
    """Rescale to [0, 1] over the whole array, in place; a constant array becomes zeros.
    Subtracting a minimum of +0.0 (the usual case after clipping at 0) changes no bit, so that
    pass is skipped."""
    lo, hi = values.min(), values.max()
    if hi == lo:
        values.fill(0.0)
        return values
    if lo != 0 or np.signbit(lo):
        values -= lo
    values /= hi - lo
    return values


def top_cutoff(raw: np.ndarray, quantile: float = TOP_CLIP_QUANTILE, nbins: int = HIST_BINS) -> float:
    """The original's ~p-quantile cut-off of `raw / full_scale` (one bin high)."""
    return integer_cutoff(raw, full_scale(raw.dtype), quantile, nbins)


def normalize_channel(
    raw: np.ndarray,
    log_flat_field: np.ndarray,
    *,
    top_quantile: float | None = TOP_CLIP_QUANTILE,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Normalise one raw channel against its plate flat field.

    raw: (Z, Y, X) uint8/uint16. log_flat_field: ln of the flat field scaled to [0, 1], broadcastable
    to raw (see `log_background`). Returns float64 of raw's shape in [0, 1]: 0 at or below
    background, log-compressed foreground, saturating at e^5 times background. out: an optional
    C-contiguous float64 array of raw's shape to write into (a scratch buffer reused across
    channels saves a 10 MB allocation per channel).
    """
    levels = log_levels(raw.dtype)
    if top_quantile is not None:
        cut = top_cutoff(raw, top_quantile)
        levels = np.minimum(levels, np.log(cut) if cut > 0 else -np.inf)
    # The table has an entry for every level of raw's type, so "clip" never moves an index; it only
    # skips the bounds check ("raise" mode also buffers when given `out`).
    values = np.take(levels, raw, mode="clip", out=out)
    np.subtract(values, log_flat_field, out=values)
    np.clip(values, 0.0, LOG_RATIO_MAX, out=values)
    return minmax_inplace(values)


def thumbnail_background(raw: np.ndarray, quantile: float = THUMBNAIL_BACKGROUND_QUANTILE) -> float:
    """The original's scalar thumbnail background: mean of `raw / full_scale` clipped at its
    ~20th-percentile cut-off (`findCutoffAvg`), computed from the grey-level counts."""
    return _background_from_levels(np.bincount(raw.ravel()), full_scale(raw.dtype), quantile)


def _background_from_levels(level_counts: np.ndarray, scale: int, quantile: float) -> float:
    cut = cutoff_from_histogram(*level_histogram(level_counts, scale), quantile)
    levels = np.arange(level_counts.size) / scale
    return float(np.dot(np.minimum(levels, cut), level_counts) / level_counts.sum())


def thumbnail_table(raw: np.ndarray, quantile: float = THUMBNAIL_BACKGROUND_QUANTILE) -> tuple[np.ndarray, np.ndarray]:
    """The thumbnail normalisation as a table over grey levels: (values, present), float64 and
    bool of length max(raw) + 1. `values[raw]` is `normalize_for_thumbnail(raw)`; the table is
    non-decreasing in the level, so it commutes with a maximum over z."""
    scale = full_scale(raw.dtype)
    level_counts = np.bincount(raw.ravel())
    present = level_counts > 0
    background = _background_from_levels(level_counts, scale, quantile)
    table = log_levels(raw.dtype)[: level_counts.size] - log_background(background)
    np.clip(table, 0.0, LOG_RATIO_MAX, out=table)
    lo, hi = table[present].min(), table[present].max()
    if hi == lo:
        table.fill(0.0)
        return table, present
    table -= lo
    table /= hi - lo
    return table, present


def normalize_for_thumbnail(raw: np.ndarray, quantile: float = THUMBNAIL_BACKGROUND_QUANTILE) -> np.ndarray:
    """Thumbnail normalisation of one channel: log ratio to its scalar background, clamped to
    [0, 5], min-max over the image. Every pixel of a grey level gets the same value, so the whole
    computation is a table over the levels present, then one gather."""
    return thumbnail_table(raw, quantile)[0][raw]


def to_uint16(normalized: np.ndarray, *, in_place: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """x65535 then truncate to uint16, as the original stored ROI crops (in_place reuses the input
    as scratch space; out: a uint16 array of the input's shape to write into)."""
    scaled = np.multiply(normalized, ROI_SCALE, out=normalized if in_place else None)
    if out is None:
        return scaled.astype(np.uint16)
    np.copyto(out, scaled, casting="unsafe")  # the same float-to-integer conversion as astype
    return out
