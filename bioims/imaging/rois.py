"""ROI geometry and cropping (docs/original.md §4.2 steps 8-10), for all centres at once.

Per axis of length L, ROI edge R and half edge h = R/2:
* extent = R, or L when L < R;
* edge rule: with m = max(R - L/4, 0), a centre p is dropped when p + m < h or p - m > (L - 1) - h
  (for 1024 x 1280 fields and R = 128: keep 64 <= y <= 959 and 64 <= x <= 1215);
* window start: 0 if p < h; L - R (at least 0) if p + h > L; else trunc(p - h). The window is
  [start, start + extent).

The start is computed once, so the window always has the extent: truncating both ends separately
after floating-point shifts can make a window pushed back from the far edge one pixel too wide
(e.g. L=128, R=64, p=101.046: p0 = 63.99999... -> 63), which aborted the original's job with
"ROI dimension invalid" (docs/original.md §4.2 step 8, §8.4 #30).
"""

from __future__ import annotations

import numpy as np


def roi_extent(shape: tuple[int, ...], roi_size: int) -> np.ndarray:
    """ROI extent per axis: R, or the axis length where the image is smaller."""
    return np.minimum(np.asarray(shape, dtype=np.int64), roi_size)


def inside_edges(centres: np.ndarray, shape: tuple[int, ...], roi_size: int) -> np.ndarray:
    """Boolean (n,) mask of the centres the original's edge rule keeps."""
    length = np.asarray(shape, dtype=np.float64)
    half = roi_size / 2
    margin = np.maximum(roi_size - length / 4, 0.0)
    dropped = (centres + margin < half) | (centres - margin > (length - 1) - half)
    return ~np.any(dropped, axis=1)


def roi_starts(centres: np.ndarray, shape: tuple[int, ...], roi_size: int) -> np.ndarray:
    """(n, ndim) int64 window starts for centres that passed the edge rule."""
    length = np.asarray(shape, dtype=np.int64)
    half = roi_size / 2
    starts = np.trunc(centres - half).astype(np.int64)
    starts = np.where(centres + half > length, np.maximum(length - roi_size, 0), starts)
    starts = np.where(centres < half, 0, starts)
    return starts


def crop(stack: np.ndarray, starts: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """Cut (n, C, *extent) windows from a (C, *spatial) stack, one slice copy per ROI."""
    out = np.empty((len(starts), stack.shape[0], *extent.tolist()), dtype=stack.dtype)
    for i, start in enumerate(starts.tolist()):
        window = tuple(slice(s, s + e) for s, e in zip(start, extent.tolist(), strict=True))
        out[i] = stack[(slice(None), *window)]
    return out
