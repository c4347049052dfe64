"""Per-ROI CellProfiler measurements: the regions, and the packed measurement equal to cp-measure
run on each ROI alone."""

from __future__ import annotations

import numpy as np
import pytest

from bioims.features.cellprofiler import DEFAULT_GROUPS, FeatureError, feature_names, measure_mosaic, pack, roi_features
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


def test_packed_measurement_equals_cp_measure_per_roi():
    """Packing many ROIs into one mosaic must not change any object's values."""
    rng = np.random.default_rng(1)
    rois = np.stack([two_cells(rng, shift=s) for s in (0.0, 1.0, 2.0, -2.0, 3.0)])
    groups = (*DEFAULT_GROUPS, "correlation")
    matrix, names = roi_features(rois, CHANNELS, 0, groups)
    assert names == feature_names(CHANNELS, groups) and matrix.shape == (5, len(names)) and matrix.dtype == np.float32
    assert any(n.startswith("Nuclei_Intensity_MeanIntensity_dapi") for n in names)
    assert any(n.startswith("Cells_Correlation_Pearson_tubulin_actin") for n in names)
    assert not any("Center_" in n or "BoundingBoxMinimum" in n for n in names)
    stack = rois.astype(np.float32) / 65535
    nucleus, cell = roi_regions(stack, 0)
    for i in range(len(rois)):
        alone = measure_mosaic(pack(stack[i : i + 1], nucleus[i : i + 1], cell[i : i + 1]), 1, CHANNELS, groups)
        values = np.array([alone[n][0] for n in names], dtype=np.float32)
        np.testing.assert_allclose(matrix[i], values, rtol=1e-4, atol=1e-6, equal_nan=True)
    # IntegratedIntensity / MeanIntensity of a channel is the object's area in pixels
    area = matrix[:, names.index("Cells_Intensity_IntegratedIntensity_actin")] / matrix[:, names.index("Cells_Intensity_MeanIntensity_actin")]
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
