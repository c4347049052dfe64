"""Per-channel intensity normalisation (docs/original.md §4.0 `normalizeChannel`, §4.2 step 6, §4.3 step 4).

Per pixel the value is `minmax(min(ln(max(min(x, p) / b, 1)), 5))` with x the channel
scaled to [0, 1], p its ~99th-percentile cut-off and b the background (the plate's flat field, or a
scalar for thumbnails). It is formed in the log domain:

    l = clip(min(ln x, ln p) - ln b, 0, 5)

`ln x` depends only on the grey level, so it is a lookup table over the 256 or 65536 levels (one
gather instead of a division and a logarithm per pixel), and `ln b` of a flat field is computed once
per plate channel and reused for every image. Results equal the per-pixel formula up to
floating-point rounding (~1e-15).

The ROI path (`normalize_to_uint16`) runs gather, subtraction, clip, min/max, rescaling and the
uint16 conversion block by block (`bioims.imaging.blocks`), so a block stays in cache across the
steps instead of every step streaming 10 MB; each pixel gets the same float operations in the same
order as the whole-array steps (`normalize_channel` + `to_uint16`), so the bits are the same
(tests/unit/imaging/test_previous_pipeline.py compares them with the previous code). The 99% cut-off
counts pixels at or below a few bin edges instead of counting all 65536 grey levels
(`histogram.integer_cutoff`).

Degenerate inputs give defined values (docs/original.md §8.4 #27): a constant log image gives zeros;
a zero background is floored at the smallest normal float, so a bright pixel over it saturates at 5
and a zero pixel gives 0 (never inf or NaN); an all-zero channel gives zeros.
"""

from __future__ import annotations

import functools
from typing import cast

import numpy as np

from bioims.imaging.blocks import BLOCK_ELEMENTS, blocks
from bioims.imaging.histogram import cutoff_from_histogram, integer_cutoff, level_histogram
from bioims.imaging.io import full_scale
from bioims.imaging.levels import level_counts as count_levels
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


def clipped_log_levels(raw: np.ndarray, top_quantile: float | None = TOP_CLIP_QUANTILE) -> np.ndarray:
    """`min(ln level, ln p)` for every grey level of raw's type, p raw's top cut-off (None: no cut)."""
    levels = log_levels(raw.dtype)
    if top_quantile is None:
        return levels
    cut = top_cutoff(raw, top_quantile)
    return np.minimum(levels, np.log(cut) if cut > 0 else -np.inf)


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
    values = np.empty(raw.shape, dtype=np.float64) if out is None else out
    _normalize(raw, log_flat_field, top_quantile, values, None)
    return values


def normalize_to_uint16(
    raw: np.ndarray,
    log_flat_field: np.ndarray,
    out: np.ndarray,
    scratch: np.ndarray,
    *,
    top_quantile: float | None = TOP_CLIP_QUANTILE,
) -> np.ndarray:
    """`to_uint16(normalize_channel(raw, log_flat_field))` written into `out` (uint16, raw's shape),
    in one cache-blocked sweep; `scratch` (C-contiguous float64, raw's shape) is returned holding
    the normalised channel."""
    if out.shape != raw.shape or out.dtype != np.uint16 or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous uint16 of shape {raw.shape}, not {out.dtype} {out.shape}")
    _normalize(raw, log_flat_field, top_quantile, scratch, out)
    return scratch


def _normalize(
    raw: np.ndarray,
    log_flat_field: np.ndarray,
    top_quantile: float | None,
    values: np.ndarray,
    scaled: np.ndarray | None,
) -> None:
    """The whole-array steps, block by block (bioims.imaging.blocks): per element the same float
    operations in the same order as `np.minimum(levels)[raw] - ln F`, `clip`, `minmax_inplace`,
    `to_uint16`, so the same bits; the minimum and maximum are exact, so taking them per block and
    then over blocks changes nothing either."""
    if values.shape != raw.shape or values.dtype != np.float64 or not values.flags.c_contiguous:
        raise ValueError(f"the float buffer must be C-contiguous float64 of shape {raw.shape}")
    levels = clipped_log_levels(raw, top_quantile)
    grey = raw.reshape(-1)
    background = np.broadcast_to(log_flat_field, raw.shape).reshape(-1)  # a view unless broadcast
    flat_values = values.reshape(-1)
    lows, highs = [], []
    for part in blocks(grey.size):
        block = flat_values[part]
        # The table has an entry for every level of raw's type, so "clip" never moves an index; it
        # only skips the bounds check ("raise" mode also buffers the output).
        np.take(levels, grey[part], mode="clip", out=block)
        np.subtract(block, background[part], out=block)
        np.clip(block, 0.0, LOG_RATIO_MAX, out=block)
        lows.append(block.min())
        highs.append(block.max())
    lo, hi = min(lows), max(highs)
    flat_scaled = None if scaled is None else scaled.reshape(-1)
    if hi == lo:  # a constant channel normalises to zeros
        values.fill(0.0)
        if flat_scaled is not None:
            flat_scaled.fill(0)
        return
    shift = lo != 0 or np.signbit(lo)  # subtracting +0.0 changes no bit
    width = hi - lo
    product = np.empty(min(BLOCK_ELEMENTS, grey.size), dtype=np.float64)
    for part in blocks(grey.size):
        block = flat_values[part]
        if shift:
            np.subtract(block, lo, out=block)
        np.divide(block, width, out=block)
        if flat_scaled is not None:
            times = product[: block.size]
            np.multiply(block, ROI_SCALE, out=times)
            np.copyto(flat_scaled[part], times, casting="unsafe")  # the float-to-integer cast of astype


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
    level_counts = count_levels(raw)
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
