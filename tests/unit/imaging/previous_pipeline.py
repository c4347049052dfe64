"""A verbatim copy of the ROI pipeline and the TIFF decoder as they were before their speed-ups
(commit a519cbc: bioims/imaging/histogram.py, the ROI part of normalize.py, segment.py, rois.py,
pipeline.py and io.py's decode_tiff), kept as the reference the current code must reproduce byte
for byte (tests/unit/imaging/test_previous_pipeline.py, test_tiff.py) and as the baseline of
benchmarks/roi_pipeline.py. Do not edit: it is the "before" of bit-identical optimisations."""

# ruff: noqa

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import io

import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from bioims.imaging.errors import ImageReadError, ImageShapeError, ParameterError, UnsupportedImageError
from bioims.imaging.flatfield import FlatField
from bioims.imaging.io import as_zyx, check_same_shape, full_scale
from bioims.imaging.params import (
    HIST_BINS,
    LOG_RATIO_MAX,
    OTSU_BINS,
    ROI_SCALE,
    TOP_CLIP_QUANTILE,
    RoiParameters,
)


# --- bioims/imaging/histogram.py -----------------------------------------------------------------------

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


# --- bioims/imaging/normalize.py -----------------------------------------------------------------------

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
    """Rescale to [0, 1] over the whole array, in place; a constant array becomes zeros."""
    lo, hi = values.min(), values.max()
    if hi == lo:
        values.fill(0.0)
        return values
    values -= lo
    values /= hi - lo
    return values


def top_cutoff(raw: np.ndarray, quantile: float = TOP_CLIP_QUANTILE, nbins: int = HIST_BINS) -> float:
    """The original's ~p-quantile cut-off of `raw / full_scale` (one bin high)."""
    return cutoff_from_histogram(*integer_histogram(raw, full_scale(raw.dtype), nbins), quantile)


def normalize_channel(
    raw: np.ndarray,
    log_flat_field: np.ndarray,
    *,
    top_quantile: float | None = TOP_CLIP_QUANTILE,
) -> np.ndarray:
    """Normalise one raw channel against its plate flat field.

    raw: (Z, Y, X) uint8/uint16. log_flat_field: ln of the flat field scaled to [0, 1], broadcastable
    to raw (see `log_background`). Returns float64 of raw's shape in [0, 1]: 0 at or below
    background, log-compressed foreground, saturating at e^5 times background.
    """
    levels = log_levels(raw.dtype)
    if top_quantile is not None:
        cut = top_cutoff(raw, top_quantile)
        levels = np.minimum(levels, np.log(cut) if cut > 0 else -np.inf)
    values = levels[raw]
    values -= log_flat_field
    np.clip(values, 0.0, LOG_RATIO_MAX, out=values)
    return minmax_inplace(values)


def to_uint16(normalized: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """x65535 then truncate to uint16, as the original stored ROI crops (in_place reuses the input
    as scratch space)."""
    scaled = np.multiply(normalized, ROI_SCALE, out=normalized if in_place else None)
    return scaled.astype(np.uint16)


# --- bioims/imaging/segment.py -------------------------------------------------------------------------


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


# --- bioims/imaging/rois.py ----------------------------------------------------------------------------


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


# --- bioims/imaging/pipeline.py ------------------------------------------------------------------------


@dataclass(frozen=True)
class RoiResult:
    """ROIs of one image."""

    tensor: np.ndarray  # (n, C, Dz, Dy, Dx) uint16: normalised crops x65535
    starts: np.ndarray  # (n, 3) int64: (z, y, x) of each window's first voxel, tensor order
    centres: np.ndarray  # (n, 3) float64: the nucleus centres the windows were cut around
    extent: tuple[int, ...]  # (Dz, Dy, Dx)
    channels: tuple[str, ...]
    components: int  # components of at least min_voxels before the edge rule

    @property
    def count(self) -> int:
        return int(self.tensor.shape[0])

    def roi_document(self, parameters: RoiParameters) -> dict:
        """The ROI JSON: the original's `roisize` and `roi` (window corners, tensor order) plus the
        count, channel order and the parameters that produced it."""
        dz, dy, dx = self.extent
        return {
            "roisize": {"z": dz, "y": dy, "x": dx},
            "roi": [{"z": z, "y": y, "x": x} for z, y, x in self.starts.tolist()],
            "count": self.count,
            "channels": list(self.channels),
            "parameters": parameters.as_dict(),
        }


def segmentation_index(channel_names: Sequence[str], wanted: str) -> int:
    """Index of the configured segmentation channel; a single-channel image uses its only channel."""
    names = list(channel_names)
    if wanted in names:
        return names.index(wanted)
    if len(names) == 1:
        return 0
    raise ParameterError(
        f"segmentation channel {wanted!r} is not among the image's channels {names}; "
        "set configuration key image-preprocessing-segmentation-channel"
    )


def preprocess_image(
    channel_names: Sequence[str],
    channels: Sequence[np.ndarray],
    flat_fields: Sequence[FlatField],
    parameters: RoiParameters = RoiParameters(),
    image_id: str = "",
) -> RoiResult:
    """Normalise every channel against its flat field, find nuclei on the segmentation channel and
    cut ROIs around them. channels: (Z, Y, X) uint8/uint16 arrays of equal shape, in the order of
    channel_names; flat_fields: same order. Zero nuclei (also: a constant segmentation channel) give
    an empty (0, C, ...) tensor."""
    if not channels or len(channels) != len(channel_names) or len(flat_fields) != len(channels):
        raise ParameterError(
            f"image {image_id}: {len(channel_names)} names, {len(channels)} channels, {len(flat_fields)} flat fields"
        )
    check_same_shape(channel_names, channels, image_id)
    shape = channels[0].shape
    for name, flat in zip(channel_names, flat_fields, strict=True):
        if flat.array.shape != shape:
            raise ImageShapeError(
                f"image {image_id}: flat field of channel {name!r} has shape {flat.array.shape}, image has {shape}"
            )
    seg = segmentation_index(channel_names, parameters.segmentation_channel)

    stack = np.empty((len(channels), *shape), dtype=np.uint16)
    found = None
    for c, (raw, flat) in enumerate(zip(channels, flat_fields, strict=True)):
        normalized = normalize_channel(raw, flat.log)
        if c == seg:
            # A constant raw channel carries no signal: its ratio image would only trace the flat
            # field, so it has no nuclei (the original segmented that shape).
            mask = nucleus_mask(normalized) if raw.min() != raw.max() else np.zeros(shape, dtype=bool)
            found = components(mask, parameters.min_voxels)
        stack[c] = to_uint16(normalized, in_place=True)
    assert found is not None

    extent = roi_extent(shape, parameters.roi_size)
    kept = inside_edges(found.centres, shape, parameters.roi_size)
    centres = found.centres[kept]
    starts = roi_starts(centres, shape, parameters.roi_size)
    return RoiResult(
        tensor=crop(stack, starts, extent),
        starts=starts,
        centres=centres,
        extent=tuple(int(e) for e in extent),
        channels=tuple(channel_names),
        components=len(found.centres),
    )


# --- bioims/imaging/io.py (decode_tiff) --------------------------------------------------------------


def decode_tiff(source: bytes | str, label: str) -> np.ndarray:
    """Decode one channel TIFF (bytes or a file path) into a (Z, Y, X) array of uint8/uint16."""
    try:
        with tifffile.TiffFile(io.BytesIO(source) if isinstance(source, bytes) else source) as tif:
            series = tif.series[0]
            samples = series.keyframe.samplesperpixel
            if samples > 1:
                raise UnsupportedImageError(f"{label}: {samples} samples per pixel; one grey channel per file expected")
            array = series.asarray()
    except (UnsupportedImageError, ImageReadError):
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{label}: file not found") from None
    except Exception as exc:  # tifffile raises many types for corrupt or truncated data
        raise ImageReadError(f"{label}: not a readable TIFF ({type(exc).__name__}: {exc})") from None
    return as_zyx(array, label)
