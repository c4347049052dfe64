"""Per-ROI CellProfiler measurements: the regions, and the packed measurement equal to cp-measure
called directly on each ROI's own window with its own regions (so a change of batching cannot
silently change a number)."""

from __future__ import annotations

import numpy as np
import pytest

from bioims.features.cellprofiler import DEFAULT_GROUPS, GROUPS, ROI_SCALE, FeatureError, feature_names, roi_features
from bioims.features.regions import roi_regions
from tests.unit.features import require_cp_measure

require_cp_measure()

SIZE = 40
CHANNELS = ("dapi", "tubulin", "actin")


def _disc(cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.indices((SIZE, SIZE))
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def two_cells(rng: np.random.Generator, shift: float = 0.0) -> np.ndarray:
    """uint16 (3, SIZE, SIZE): a centred nucleus in its cell and a neighbour at the right edge."""
    centre = (SIZE - 1) / 2 + shift
    nucleus, neighbour = _disc(centre, centre, 5), _disc(centre, SIZE - 4, 4)
    cell = _disc(centre, centre, 11) | _disc(centre, SIZE - 4, 9)
    image = np.zeros((3, SIZE, SIZE))
    image[0] = 0.9 * (nucleus | neighbour)
    image[1] = 0.5 * cell + 0.2 * _disc(centre - 3, centre, 3)
    image[2] = 0.3 * cell + 0.1 * rng.random((SIZE, SIZE)) * cell
    image += rng.normal(0, 0.01, image.shape)
    return (np.clip(image, 0, 1) * 65535).astype(np.uint16)


def test_regions_are_the_central_nucleus_and_its_share_of_the_cytoplasm():
    rng = np.random.default_rng(0)
    rois = np.stack([two_cells(rng), two_cells(rng, shift=3.0)]).astype(np.float32) / 65535
    nucleus, cell = roi_regions(rois, 0)
    centre = (SIZE - 1) / 2
    for i, shift in enumerate((0.0, 3.0)):
        expected = _disc(centre + shift, centre + shift, 5)
        assert (nucleus[i] ^ expected).sum() <= 8  # the opening rounds a few edge pixels
        assert not nucleus[i][_disc(centre + shift, SIZE - 4, 4)].any()  # the neighbour is not ours
        assert (cell[i] & nucleus[i]).sum() == nucleus[i].sum()
        assert cell[i].sum() > 2.5 * nucleus[i].sum()
        assert not cell[i][_disc(centre + shift, SIZE - 4, 4)].any()  # the neighbour keeps its cytoplasm
    # a window with a constant nucleus channel still gets one (3x3) nucleus
    blank = rois[:1].copy()
    blank[:, 0] = 0.2
    nucleus, cell = roi_regions(blank, 0)
    assert nucleus[0].sum() == 9 and cell[0][nucleus[0]].all() and cell[0].sum() > 9


def _direct(window: np.ndarray, nucleus: np.ndarray, cell: np.ndarray, groups) -> dict[str, float]:
    """cp-measure's public functions called on one ROI's whole window (float64, its own regions
    as a one-object label image each), named as roi_features names them."""
    from itertools import combinations

    from cp_measure.bulk import get_core_measurements, get_correlation_measurements

    core, pairs = get_core_measurements(), get_correlation_measurements()
    kinds = {"correlation": ("pearson", "manders_fold"), "rwc": ("rwc",), "costes": ("costes",)}
    out: dict[str, float] = {}
    for obj, mask in (("Nuclei", nucleus), ("Cells", cell)):
        labels = mask.astype(np.int32)
        for group in groups:
            if group in ("sizeshape", "zernike", "feret"):
                out.update({f"{obj}_AreaShape_{k}": v[0] for k, v in core[group](labels, None).items()})
            elif group in kinds:
                for a, b in combinations(range(len(CHANNELS)), 2):
                    for kind in kinds[group]:
                        extra = {"scale_max": int(ROI_SCALE)} if kind == "costes" else {}
                        result = pairs[kind](window[a], window[b], labels, **extra)
                        out.update({f"{obj}_{k}_{CHANNELS[a]}_{CHANNELS[b]}": v[0] for k, v in result.items()})
            else:
                name = {"radial": "radial_distribution"}.get(group, group)
                for c, channel in enumerate(CHANNELS):
                    out.update({f"{obj}_{k}_{channel}": v[0] for k, v in core[name](labels, window[c]).items()})
    return out


# Zernike moments move with an object's place on the pixel grid inside cp-measure itself (the same
# nucleus one pixel further gives other values), and granularity sees past the object (its
# background is an opening of the image around it): neither can equal a call on another layout.
EXACT = tuple(g for g in GROUPS if g not in ("zernike", "granularity"))


@pytest.mark.parametrize("groups", [DEFAULT_GROUPS, EXACT], ids=["default", "all-placement-free"])
def test_packed_measurement_equals_cp_measure_on_each_roi(groups):
    """Every feature of every ROI equals cp-measure's own function on that ROI's window; the
    default groups to the last bit."""
    rng = np.random.default_rng(1)
    rois = np.stack([two_cells(rng, shift=s) for s in (0.0, 1.0, 2.0, -2.0, 3.0)])
    matrix, names = roi_features(rois, CHANNELS, 0, groups)
    assert names == feature_names(CHANNELS, groups) and matrix.shape == (5, len(names)) and matrix.dtype == np.float32
    assert not any("Center_" in n or "Location_" in n or "BoundingBoxMinimum" in n for n in names)
    stack = rois.astype(np.float32) / 65535
    nucleus, cell = roi_regions(stack, 0)
    for i in range(len(rois)):
        direct = _direct(stack[i].astype(np.float64), nucleus[i], cell[i], groups)
        expected = np.array([direct[n] for n in names], dtype=np.float32)
        if groups == DEFAULT_GROUPS:
            np.testing.assert_array_equal(matrix[i], expected)
        else:
            np.testing.assert_allclose(matrix[i], expected, rtol=1e-5, atol=1e-7, equal_nan=True)
    # IntegratedIntensity / MeanIntensity of a channel is the object's area in pixels
    area = (
        matrix[:, names.index("Cells_Intensity_IntegratedIntensity_actin")]
        / matrix[:, names.index("Cells_Intensity_MeanIntensity_actin")]
    )
    np.testing.assert_allclose(area, cell.sum(axis=(1, 2)), rtol=1e-4)


def test_bad_input_is_a_clear_error():
    rois = np.zeros((2, 3, 1, SIZE, SIZE), dtype=np.uint16)
    with pytest.raises(FeatureError, match="uint16"):
        roi_features(rois.astype(np.float32), CHANNELS, 0)
    with pytest.raises(FeatureError, match="channel names"):
        roi_features(rois, CHANNELS[:2], 0)
    with pytest.raises(FeatureError, match="unknown or no feature group"):
        roi_features(rois, CHANNELS, 0, ("intensity", "nope"))
    empty, names = roi_features(rois[:0], CHANNELS, 0)
    assert empty.shape == (0, len(names))
