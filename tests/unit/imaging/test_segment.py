import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import filters, morphology

from bioims.imaging.segment import components, nucleus_mask, open_cross, otsu_threshold
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
