"""Flat field per plate and channel (docs/original.md §4.1), accumulated streaming.

F = gaussian(min(A, c), sigma=50, mode="nearest", truncate=4), where A is the pixel-wise mean of
every field of the plate for that channel scaled to [0, 1] and c its ~30th-percentile cut-off
(`findHistCutoff`, one bin high). F is a heavily smoothed background level; images are later
divided by it.

Streaming: fields are added one at a time to an integer running sum of raw grey levels (8-bit
levels are widened to 16-bit units, x257, so both types share one scale). The sum is exact, so the
result does not depend on the order in which fields arrive, partial sums from several workers can
be merged, and a re-run is byte-identical. It is kept in uint32 (half the memory traffic of a
float64 sum: ~0.4 instead of ~1 ms per 1024 x 1280 field) while it cannot overflow, i.e. for up to
65,537 fields, and widened to uint64 beyond. Memory: one sum array, whatever the plate size.

Smoothing: the Gaussian is computed as one FFT convolution per in-plane axis of the edge-padded
array (the same kernel as scipy.ndimage.gaussian_filter: radius int(4 sigma + 0.5), normalised
weights, "nearest" edges), ~4x faster than ndimage's direct 401-tap sums at 1024 x 1280 (0.5 s
per channel and plate). The two agree to ~1e-15 relative in float64, below the float32 of the
stored flat field (tested against ndimage).

Scaling constant: flat fields and images both use the full scale of the pixel type (65535 for
16-bit), so a full-scale pixel is 1.0 in both (the original divided flat fields by 65536,
docs/original.md §8.4 #28). Only the image/flat-field ratio enters the ROIs, and for 16-bit data that
ratio differs from the original's by the factor 65535/65536 (1.5e-5 in log space). Min-max
normalisation over a channel's log range R turns that into about 0.98/R uint16 steps (plus one for
rounding): ROI values differ from the original's by at most one step when R is about 1.4 or more, by
more on faint fields (2 steps measured at R = 0.6-0.9 on fields with one or two dim nuclei;
tests/unit/imaging/test_original_scaling.py).

Smoothing is in-plane (Y, X); a z-stack gets each plane's own flat field from the per-plane means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft

from bioims.imaging.errors import ImageShapeError, ImagingError
from bioims.imaging.histogram import quantile_cutoff
from bioims.imaging.io import full_scale
from bioims.imaging.normalize import log_background
from bioims.imaging.params import FLATFIELD_QUANTILE, FLATFIELD_SIGMA, GAUSSIAN_MODE, GAUSSIAN_TRUNCATE

SUM_SCALE = 65535  # running sums are kept in 16-bit grey levels
UINT32_FIELDS = (2**32 - 1) // SUM_SCALE  # fields a uint32 sum of 16-bit levels holds without overflow


class FlatFieldAccumulator:
    """Running sum of one channel over the fields of a plate."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(int(n) for n in shape)
        self.total = np.zeros(self.shape, dtype=np.uint32)
        self.count = 0

    def _room_for(self, fields: int) -> None:
        if self.total.dtype == np.uint32 and self.count + fields > UINT32_FIELDS:
            self.total = self.total.astype(np.uint64)

    def add(self, raw: np.ndarray, label: str = "") -> None:
        """Add one (Z, Y, X) field of uint8/uint16 grey levels."""
        if raw.shape != self.shape:
            raise ImageShapeError(f"{label or 'field'}: shape {raw.shape} differs from the plate's {self.shape}")
        factor = SUM_SCALE // full_scale(raw.dtype)
        self._room_for(1)
        if factor == 1:
            self.total += raw
        else:
            self.total += raw.astype(self.total.dtype) * factor
        self.count += 1

    def merge(self, other: FlatFieldAccumulator) -> None:
        if other.shape != self.shape:
            raise ImageShapeError(f"cannot merge flat-field sums of shapes {other.shape} and {self.shape}")
        self._room_for(other.count)
        self.total += other.total
        self.count += other.count

    def mean(self) -> np.ndarray:
        """Pixel-wise mean scaled to [0, 1] (float64)."""
        if self.count == 0:
            raise ImagingError("no readable fields to compute a flat field from")
        return self.total / (self.count * SUM_SCALE)

    def flat_field(self) -> np.ndarray:
        return flat_field_from_mean(self.mean())


def flat_field_from_mean(mean: np.ndarray) -> np.ndarray:
    """Clip the plate mean at its ~30th-percentile cut-off and smooth it (sigma 50, in-plane).
    Returns float32 of the mean's shape."""
    cut = quantile_cutoff(mean, FLATFIELD_QUANTILE)
    clipped = np.minimum(mean, cut)
    return gaussian_in_plane(clipped, FLATFIELD_SIGMA).astype(np.float32)


def gaussian_kernel(sigma: float, truncate: float = GAUSSIAN_TRUNCATE) -> np.ndarray:
    """scipy.ndimage's 1-D Gaussian weights: radius int(truncate * sigma + 0.5), summing to 1."""
    radius = int(truncate * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 / (float(sigma) * float(sigma)) * offsets**2)
    return weights / weights.sum()


def gaussian_in_plane(array: np.ndarray, sigma: float) -> np.ndarray:
    """`ndimage.gaussian_filter(array, [0, ..., sigma, sigma], mode="nearest", truncate=4)`
    (float64, Y then X) computed with one FFT convolution per axis of the edge-padded array."""
    if GAUSSIAN_MODE != "nearest":
        raise ImagingError(f"the FFT smoothing implements 'nearest' edges, not {GAUSSIAN_MODE!r}")
    weights = gaussian_kernel(sigma)
    radius = weights.size // 2
    out = np.asarray(array, dtype=np.float64)
    for axis in (out.ndim - 2, out.ndim - 1):
        length = out.shape[axis]
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="edge")
        size = sfft.next_fast_len(padded.shape[axis] + weights.size - 1, real=True)
        spectrum = sfft.rfft(padded, size, axis=axis)
        shape = [1] * out.ndim
        shape[axis] = -1
        spectrum *= sfft.rfft(weights, size).reshape(shape)
        full = sfft.irfft(spectrum, size, axis=axis)
        # full[k] = sum_j weights[j] * padded[k - j]; output pixel i sits at padded index i + radius
        out = np.take(full, np.arange(2 * radius, 2 * radius + length), axis=axis)
    return out


def compute_flat_field(fields) -> np.ndarray:
    """Flat field of an iterable of (Z, Y, X) raw fields (streamed: one field in memory at a time)."""
    accumulator: FlatFieldAccumulator | None = None
    for raw in fields:
        if accumulator is None:
            accumulator = FlatFieldAccumulator(raw.shape)
        accumulator.add(raw)
    if accumulator is None:
        raise ImagingError("no fields to compute a flat field from")
    return accumulator.flat_field()


@dataclass
class FlatField:
    """One channel's flat field as used by image preprocessing, with its logarithm cached (the
    logarithm is the only per-pixel transcendental work, done once per plate channel)."""

    channel: str
    array: np.ndarray  # (Z, Y, X) float32
    _log: np.ndarray | None = field(default=None, repr=False)

    @staticmethod
    def from_array(channel: str, array: np.ndarray, expected_shape: tuple[int, ...] | None = None) -> FlatField:
        """Validate a stored flat field: finite floats, (Y, X) or (Z, Y, X), matching the image."""
        array = np.asarray(array)
        if array.dtype.kind != "f":
            raise ImagingError(f"flat field of channel {channel!r} has type {array.dtype}, float expected")
        if array.ndim == 2:
            array = array[np.newaxis]
        if array.ndim != 3:
            raise ImageShapeError(f"flat field of channel {channel!r} has shape {array.shape}")
        if expected_shape is not None and array.shape != tuple(expected_shape):
            raise ImageShapeError(
                f"flat field of channel {channel!r} has shape {array.shape} but the image has {tuple(expected_shape)}"
            )
        if not np.all(np.isfinite(array)):
            raise ImagingError(f"flat field of channel {channel!r} has non-finite values")
        return FlatField(channel, array)

    @property
    def log(self) -> np.ndarray:
        if self._log is None:
            self._log = np.asarray(log_background(self.array))
        return self._log

    def check_shape(self, shape: tuple[int, ...]) -> None:
        if self.array.shape != tuple(shape):
            raise ImageShapeError(
                f"flat field of channel {self.channel!r} has shape {self.array.shape} but the image has {tuple(shape)}"
            )

    def to_storage(self) -> np.ndarray:
        """The array as stored: (Y, X) for single-plane fields, like the original's files."""
        return self.array[0] if self.array.shape[0] == 1 else self.array
