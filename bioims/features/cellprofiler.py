"""Per-ROI CellProfiler measurements with cp-measure, on each ROI's nucleus and cell regions.

Feature groups (cp-measure's names; CellProfiler module in brackets):
  intensity       per channel and object  [MeasureObjectIntensity]
  sizeshape       per object              [MeasureObjectSizeShape, without Zernike/Feret]
  zernike         per object              [MeasureObjectSizeShape, Zernike shape moments]
  feret           per object              [MeasureObjectSizeShape, Feret diameters]
  correlation     per channel pair/object [MeasureColocalization: Pearson, Manders]
  rwc             per channel pair/object [MeasureColocalization: rank-weighted colocalisation]
  granularity     per channel and object  [MeasureGranularity]
  radial          per channel and object  [MeasureObjectIntensityDistribution]
  texture         per channel and object  [MeasureTexture, Haralick]
  costes          per channel pair/object [MeasureColocalization, Costes thresholds]

DEFAULT_GROUPS are chosen by cost per 1024x1280 field against the imaging pipeline's own time per
field (benchmarks/cellprofiler.py: CPU time on one core, 72 ROIs per field, one run on a loaded
machine). The regions alone cost 1.5x the pipeline (a second segmentation of every ROI window,
which every group needs); intensity (15 measurements x 3 channels x 2 objects) adds 2.9x, because
cp-measure measures object by object in Python (about 0.3 ms per object and channel, however the
objects are batched). So the default is intensity alone, 4.5x the pipeline, less than either
network's inference on the same ROIs (6.7x, 5.8x): no group that measures the cells' stains
brings a field within 3x. Left out for their cost, available by name (what each adds per field,
same run): feret (+0.5x for 4 features), correlation (Pearson + Manders, +2.4x), zernike (+2.7x),
rwc (+3.2x), sizeshape (regionprops moments and per-object distance transforms, +5.0x), radial
(+27x), granularity (+27x), costes (+62x) and texture (Haralick, +74x).

Speed: the ROIs of one image are cut to each object's bounding box (a nucleus's box for nuclei,
its cell's for cells) and packed side by side into one mosaic per object with one-pixel gaps, so
each cp-measure function runs once per image and object over one label image of all ROIs, never
once per ROI. Feret diameters are measured on each object's inner boundary (its convex hull is
the hull of those pixels: the same values, a fraction of the pixels). Features that describe where
an object lies in the mosaic (centre, bounding-box corners) are dropped: they carry no information
about the cell. Every value equals cp-measure called on the ROI's own window with its own regions
(tests/unit/features), except Zernike moments, which move with an object's place on the pixel
grid inside cp-measure itself, and granularity, which sees past the object.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from bioims.features.regions import roi_regions

OBJECTS = ("Nuclei", "Cells")
GROUPS: tuple[str, ...] = (
    "intensity",
    "feret",
    "correlation",
    "sizeshape",
    "zernike",
    "rwc",
    "granularity",
    "radial",
    "texture",
    "costes",
)
DEFAULT_GROUPS: tuple[str, ...] = ("intensity",)
ROI_SCALE = 65535.0
_POSITION = ("Center_", "Location_", "BoundingBoxMinimum", "BoundingBoxMaximum")


class FeatureError(ValueError):
    """ROIs or groups that cannot be measured as asked; the message says why."""


def check_groups(groups: Sequence[str]) -> tuple[str, ...]:
    unknown = [g for g in groups if g not in GROUPS]
    if unknown or not groups:
        raise FeatureError(f"unknown or no feature group(s) {list(unknown)}; choose from {', '.join(GROUPS)}")
    return tuple(dict.fromkeys(groups))


def cp_measure_version() -> str | None:
    """The installed cp-measure's version; None where it is not installed (e.g. a Lambda that
    only records a training: the Batch job that measures has it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cp-measure")
    except PackageNotFoundError:
        return None


def _functions() -> dict[str, Callable]:
    """cp-measure's functions by our group names (imported here: cp-measure is an optional extra)."""
    try:
        from cp_measure.bulk import get_core_measurements, get_correlation_measurements
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise FeatureError(
            "CellProfiler features need cp-measure: pip install 'bioimage-search[cellprofiler]'"
        ) from exc
    core = get_core_measurements(sanitize=False)
    pairs = get_correlation_measurements(sanitize=False)
    return {
        "intensity": core["intensity"],
        "sizeshape": lambda labels, image: core["sizeshape"](labels, None),
        "zernike": lambda labels, image: core["zernike"](labels, None),
        "feret": lambda labels, image: core["feret"](labels, None),
        "granularity": core["granularity"],
        "radial": core["radial_distribution"],
        "texture": core["texture"],
        "pearson": pairs["pearson"],
        "manders_fold": pairs["manders_fold"],
        "rwc": pairs["rwc"],
        "costes": lambda a, b, labels: pairs["costes"](a, b, labels, scale_max=int(ROI_SCALE)),
    }


@dataclass(frozen=True)
class Mosaic:
    """ROIs packed side by side: image (C, H, W) float and labels (H, W) int32 of one object
    (ROI i is label i + 1)."""

    image: np.ndarray
    labels: np.ndarray


def pack(rois: np.ndarray, objects: np.ndarray, box: np.ndarray | None = None, gap: int = 1) -> Mosaic:
    """Cut each ROI to the bounding box of `box` (default: the object itself) and pack the boxes
    in rows (shelves) of about the square root of their total area, with `gap` background pixels
    around every box (so an object cut by its window's edge has an edge there, as it would with
    background beyond it). objects, box: (n, R, R) boolean masks, each box mask holding its object."""
    box = objects if box is None else box
    n, channels = rois.shape[:2]
    rows_any, cols_any = np.asarray(box.any(axis=2)), np.asarray(box.any(axis=1))
    y0, y1 = rows_any.argmax(axis=1), rows_any.shape[1] - rows_any[:, ::-1].argmax(axis=1)
    x0, x1 = cols_any.argmax(axis=1), cols_any.shape[1] - cols_any[:, ::-1].argmax(axis=1)
    heights, widths = y1 - y0 + gap, x1 - x0 + gap
    target = max(int(np.sqrt((heights * widths).sum()) * 1.2), int(widths.max())) + gap
    order = np.argsort(-heights, kind="stable")
    places = np.zeros((n, 2), dtype=np.int64)
    y = x = gap
    shelf = 0
    for i in order.tolist():
        if x + widths[i] > target:
            y, x, shelf = y + shelf, gap, 0
        places[i] = (y, x)
        x += widths[i]
        shelf = max(shelf, heights[i])
    height, width = y + shelf, target
    image = np.zeros((channels, height, width), dtype=np.float64)
    labels = np.zeros((height, width), dtype=np.int32)
    for i in range(n):
        py, px = places[i]
        cut = (slice(y0[i], y1[i]), slice(x0[i], x1[i]))
        into = (slice(py, py + y1[i] - y0[i]), slice(px, px + x1[i] - x0[i]))
        image[(slice(None), *into)] = rois[(i, slice(None), *cut)]
        labels[into][objects[(i, *cut)]] = i + 1
    return Mosaic(image, labels)


def inner_edge(labels: np.ndarray) -> np.ndarray:
    """`labels` kept only on each object's inner boundary (a pixel with a 4-neighbour of another
    label or outside the image), 0 elsewhere. An object's convex hull is the hull of these pixels
    (an interior pixel is the midpoint of two of its neighbours), so cp-measure's Feret diameters
    come out the same from them, at a fraction of the pixels."""
    padded = np.pad(labels, 1)
    centre = padded[1:-1, 1:-1]
    edge = (
        (centre != padded[:-2, 1:-1])
        | (centre != padded[2:, 1:-1])
        | (centre != padded[1:-1, :-2])
        | (centre != padded[1:-1, 2:])
    )
    return np.where(edge, labels, 0)


def _as_float(rois: np.ndarray) -> np.ndarray:
    rois = np.asarray(rois)
    if rois.ndim == 5:
        if rois.shape[2] != 1:
            raise FeatureError(f"3-D ROIs (depth {rois.shape[2]}) are not supported; depth must be 1")
        rois = rois[:, :, 0]
    if rois.ndim != 4:
        raise FeatureError(f"ROIs must be (n, C, R, R) or (n, C, 1, R, R), got {rois.shape}")
    if rois.dtype != np.uint16:
        raise FeatureError(f"ROIs must be uint16 (normalised x 65535), got {rois.dtype}")
    return rois.astype(np.float32) / np.float32(ROI_SCALE)


def _columns(prefix: str, result: dict, n: int) -> dict[str, np.ndarray]:
    out = {}
    for name, values in result.items():
        if any(p in name for p in _POSITION):
            continue
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.shape[0] != n:
            raise FeatureError(f"{prefix}{name}: {values.shape[0]} values for {n} objects")
        out[prefix + name] = values
    return out


def measure_object(
    mosaic: Mosaic, obj: str, n: int, channels: Sequence[str], groups: Sequence[str]
) -> dict[str, np.ndarray]:
    """{feature name: (n,) values} of every group on one object's mosaic; CellProfiler-style
    names `<Object>_<Measurement>[_<channel>[_<channel>]]`."""
    functions = _functions()
    out: dict[str, np.ndarray] = {}
    labels = mosaic.labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty-edge and zero-variance cases give NaN, kept as NaN
        for group in groups:
            if group in ("sizeshape", "zernike", "feret"):
                result = functions[group](inner_edge(labels) if group == "feret" else labels, None)
                out.update(_columns(f"{obj}_AreaShape_", result, n))
            elif group in ("intensity", "granularity", "radial", "texture"):
                for c, name in enumerate(channels):
                    result = functions[group](labels, mosaic.image[c])
                    out.update({k + f"_{name}": v for k, v in _columns(f"{obj}_", result, n).items()})
            else:
                kinds = {"correlation": ("pearson", "manders_fold"), "rwc": ("rwc",), "costes": ("costes",)}[group]
                for a, b in combinations(range(len(channels)), 2):
                    for kind in kinds:
                        result = functions[kind](mosaic.image[a], mosaic.image[b], labels)
                        suffix = f"_{channels[a]}_{channels[b]}"
                        out.update({k + suffix: v for k, v in _columns(f"{obj}_", result, n).items()})
    return out


def measure(
    stack: np.ndarray, nucleus: np.ndarray, cell: np.ndarray, channels: Sequence[str], groups: Sequence[str]
) -> dict[str, np.ndarray]:
    """{feature name: (n,) values} of every group on both objects of n ROIs ((n, C, R, R) float
    stack, (n, R, R) nucleus and cell masks), in the order Nuclei then Cells, groups as given.

    Each object is packed cut to its own bounding box (a nucleus's box is about an eighth of its cell's:
    cp-measure's whole-image passes then cover far fewer pixels); granularity alone looks past an
    object's pixels (its background is an opening of the image around it), so for granularity the
    nuclei keep their cell's box, as one mosaic of cells would give them."""
    n = stack.shape[0]
    mosaics: dict[tuple[str, bool], Mosaic] = {}

    def mosaic(obj: str, group: str) -> Mosaic:
        wide = obj == "Nuclei" and group == "granularity"
        if (obj, wide) not in mosaics:
            objects = nucleus if obj == "Nuclei" else cell
            mosaics[obj, wide] = pack(stack, objects, cell if wide else None)
        return mosaics[obj, wide]

    out: dict[str, np.ndarray] = {}
    for obj in OBJECTS:
        for group in groups:
            out.update(measure_object(mosaic(obj, group), obj, n, channels, (group,)))
    return out


def roi_features(
    rois: np.ndarray,
    channels: Sequence[str],
    segmentation: int,
    groups: Sequence[str] = DEFAULT_GROUPS,
) -> tuple[np.ndarray, list[str]]:
    """CellProfiler measurements of every ROI: (float32 (n, d) matrix, d feature names).

    rois: the stored uint16 tensor (n, C, 1, R, R) or (n, C, R, R); channels: the C channel names;
    segmentation: index of the nucleus channel. The names depend only on channels and groups, so
    every image of a plate gives the same columns; NaN marks a measurement undefined for an object.
    """
    groups = check_groups(groups)
    stack = _as_float(rois)
    if stack.shape[1] != len(channels):
        raise FeatureError(f"{len(channels)} channel names for ROIs with {stack.shape[1]} channels")
    if not 0 <= segmentation < stack.shape[1]:
        raise FeatureError(f"segmentation channel index {segmentation} outside 0..{stack.shape[1] - 1}")
    if stack.shape[0] == 0:
        names = feature_names(channels, groups)
        return np.zeros((0, len(names)), dtype=np.float32), names
    nucleus, cell = roi_regions(stack, segmentation)
    measured = measure(stack, nucleus, cell, channels, groups)
    names = list(measured)
    return np.stack([measured[k] for k in names], axis=1).astype(np.float32), names


def feature_names(channels: Sequence[str], groups: Sequence[str] = DEFAULT_GROUPS) -> list[str]:
    """The feature names `roi_features` gives, from a tiny synthetic ROI (cp-measure decides them)."""
    size = 16
    yy, xx = np.indices((size, size))
    disc = ((yy - 7.5) ** 2 + (xx - 7.5) ** 2 < 16).astype(np.float64)
    ring = ((yy - 7.5) ** 2 + (xx - 7.5) ** 2 < 36).astype(np.float64)
    roi = np.stack([disc if c == 0 else ring * (0.5 + 0.1 * c) + 0.01 * ((xx + c) % 3) for c in range(len(channels))])
    nucleus, cell = disc[None] > 0, ring[None] > 0
    measured = measure(roi[None], nucleus, cell, channels, check_groups(groups))
    return list(measured)
