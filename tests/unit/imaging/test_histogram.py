import numpy as np
import pytest
from skimage import exposure

from bioims.imaging.histogram import (
    cutoff_from_histogram,
    histogram,
    integer_histogram,
    quantile_cutoff,
    unit_histogram,
)
from tests.unit.imaging import original_loops as original


@pytest.mark.parametrize("quantile", [0.0, 0.2, 0.3, 0.5, 0.99, 1.0])
def test_cutoff_rule_equals_the_bin_walk(quantile):
    rng = np.random.default_rng(3)
    for _ in range(50):
        counts = rng.integers(0, 5, 100) * (rng.random(100) < 0.6)
        centers = np.sort(rng.random(100))
        if counts.sum() == 0:
            counts[rng.integers(100)] = 1
        assert cutoff_from_histogram(counts, centers, quantile) == original.find_hist_cutoff(
            (counts, centers), quantile
        )


def test_cutoff_of_an_empty_histogram_is_the_first_centre():
    assert cutoff_from_histogram(np.zeros(5), np.arange(5.0), 0.5) == 0.0


def test_cutoff_errs_one_bin_high():
    counts = np.array([10, 10, 10, 10])
    centers = np.array([0.5, 1.5, 2.5, 3.5])
    # half the mass is reached inside bin 1; the rule returns the centre of bin 2
    assert cutoff_from_histogram(counts, centers, 0.5) == 2.5
    assert cutoff_from_histogram(counts, centers, 1.0) == 3.5  # clamped to the last bin


def test_cutoff_rejects_bad_quantiles():
    with pytest.raises(ValueError, match="quantile"):
        cutoff_from_histogram(np.ones(3), np.arange(3.0), 1.5)


def test_float_histogram_equals_scikit_image():
    x = np.random.default_rng(0).gamma(2.0, 0.05, (40, 50))
    counts, centers = histogram(x, 100)
    ref_counts, ref_centers = exposure.histogram(x, 100)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(centers, ref_centers)


@pytest.mark.parametrize("dtype, scale, top", [(np.uint16, 65535, 4000), (np.uint8, 255, 255)])
def test_integer_histogram_equals_the_histogram_of_the_scaled_image(dtype, scale, top):
    raw = np.random.default_rng(1).integers(3, top, (60, 70)).astype(dtype)
    counts, centers = integer_histogram(raw, scale, 100)
    ref_counts, ref_centers = exposure.histogram(raw / scale, 100)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(centers, ref_centers)


def test_integer_histogram_of_a_constant_image_matches_numpy_widening():
    raw = np.full((8, 8), 700, dtype=np.uint16)
    counts, centers = integer_histogram(raw, 65535, 100)
    ref_counts, ref_centers = exposure.histogram(raw / 65535, 100)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(centers, ref_centers)


def test_unit_histogram_equals_numpy_including_bin_edges():
    rng = np.random.default_rng(2)
    x = rng.random((50, 60))
    x.flat[:300] = rng.integers(0, 257, 300) / 256  # values exactly on bin edges
    x.flat[300] = 0.0
    x.flat[301] = 1.0
    counts, centers = unit_histogram(x, 256)
    ref_counts, ref_centers = exposure.histogram(x, 256)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(centers, ref_centers)


def test_unit_histogram_falls_back_outside_its_exact_case():
    x = np.random.default_rng(4).random((20, 20)) * 0.5 + 0.1  # not spanning [0, 1]
    np.testing.assert_array_equal(unit_histogram(x, 256)[0], exposure.histogram(x, 256)[0])
    y = (x - x.min()) / (x.max() - x.min())
    np.testing.assert_array_equal(unit_histogram(y, 100)[0], exposure.histogram(y, 100)[0])


def test_quantile_cutoff_equals_the_original_on_float_images():
    x = np.random.default_rng(5).lognormal(0, 1, (30, 30))
    assert quantile_cutoff(x, 0.3) == original.find_hist_cutoff(exposure.histogram(x, 100), 0.3)
