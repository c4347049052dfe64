import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import filters, morphology

from bioims.imaging.segment import components, mask_runs, nucleus_mask, open_cross, otsu_threshold
from tests.unit.imaging import original_loops as original


def _skimage_double_opening(mask: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return morphology.binary_opening(morphology.binary_opening(mask))


@pytest.mark.parametrize("shape", [(40, 50), (1, 40, 50), (4, 20, 30), (1, 1, 7)])
@pytest.mark.parametrize("density", [0.3, 0.6, 0.9])
def test_one_opening_equals_scikit_images_two(shape, density):
    rng = np.random.default_rng(int(density * 10) + len(shape))
    mask = ndi.binary_dilation(rng.random(shape) < density * 0.3) | (rng.random(shape) < density * 0.2)
    np.testing.assert_array_equal(open_cross(mask), _skimage_double_opening(mask))


def test_opening_keeps_the_full_image_and_clears_specks():
    assert open_cross(np.ones((5, 6), dtype=bool)).all()  # outside counts as set for the erosion
    speck = np.zeros((9, 9), dtype=bool)
    speck[4, 4] = True
    assert not open_cross(speck).any()


def test_otsu_equals_scikit_image_on_normalised_channels():
    rng = np.random.default_rng(1)
    for _ in range(5):
        s = rng.beta(0.5, 2.0, (60, 70))
        s = (s - s.min()) / (s.max() - s.min())
        assert otsu_threshold(s) == filters.threshold_otsu(s)


def test_constant_channel_has_no_threshold_and_no_mask():
    s = np.zeros((1, 10, 10))
    assert otsu_threshold(s) is None
    assert not nucleus_mask(s).any()


def test_component_centres_equal_the_per_voxel_loop():
    rng = np.random.default_rng(2)
    mask = ndi.binary_opening(rng.random((80, 90)) < 0.55)[np.newaxis]
    labels, count = ndi.label(mask)
    found = components(mask, min_voxels=6)
    expected = original.find_centers_from_labels(labels, count, 6)
    assert len(expected) > 5 and found.total == count
    np.testing.assert_array_equal(found.centres, np.array(expected))
    assert np.all(found.sizes >= 6)
    # label order is kept: centres come in the order scipy numbered the components
    assert np.all(np.diff(found.labels) > 0)


def test_components_of_an_empty_mask():
    found = components(np.zeros((1, 5, 5), dtype=bool), 1)
    assert found.centres.shape == (0, 3) and found.total == 0


def test_four_connectivity_in_the_plane():
    mask = np.zeros((1, 6, 6), dtype=bool)
    mask[0, 1, 1] = mask[0, 2, 2] = True  # diagonal neighbours: two components
    assert components(mask, 1).centres.shape[0] == 2


def _label_every_pixel(mask: np.ndarray, min_voxels: int):
    """The components rule computed pixel by pixel with scipy.ndimage.label (the previous code)."""
    from tests.unit.imaging.previous_pipeline import components as previous_components

    return previous_components(mask, min_voxels)


def test_components_from_runs_equal_labelling_every_pixel():
    rng = np.random.default_rng(21)
    for _ in range(300):
        shape = tuple(int(n) for n in rng.integers(1, 25, rng.integers(1, 5)))
        mask = rng.random(shape) < rng.random()
        if rng.random() < 0.5:
            mask = ndi.binary_opening(mask)
        min_voxels = int(rng.integers(1, 10))
        ours, reference = components(mask, min_voxels), _label_every_pixel(mask, min_voxels)
        assert ours.total == reference.total
        for name in ("centres", "sizes", "labels"):
            a, b = getattr(ours, name), getattr(reference, name)
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), (shape, name)


def test_components_follow_scipy_numbering_on_shapes_that_merge_late():
    # a U open at the top: its two arms start as separate runs and join only at the bottom row;
    # a component starting further left but lower comes later in raster order
    mask = np.zeros((1, 8, 12), dtype=bool)
    mask[0, 1:6, 6] = mask[0, 1:6, 9] = mask[0, 5, 6:10] = True
    mask[0, 3:7, 1:3] = True
    labels, count = ndi.label(mask)
    found = components(mask, 1)
    assert count == found.total == 2
    np.testing.assert_array_equal(found.labels, [1, 2])
    np.testing.assert_allclose(found.centres[0], ndi.center_of_mass(mask, labels, 1), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(found.sizes, [12, 8])


def test_mask_runs_are_rows_starts_and_exclusive_ends():
    mask = np.array([[0, 1, 1, 0, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=bool)
    rows, starts, ends = mask_runs(mask)
    np.testing.assert_array_equal(rows, [0, 0, 1])
    np.testing.assert_array_equal(starts, [1, 4, 0])
    np.testing.assert_array_equal(ends, [3, 5, 5])
