import numpy as np
import pytest
from skimage import exposure

from bioims.imaging.histogram import (
    cutoff_from_histogram,
    histogram,
    integer_cutoff,
    integer_histogram,
    quantile_cutoff,
    unit_counts,
    unit_counts_and_bounds,
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


def _images(rng, count):
    """Integer images of many shapes and distributions, including sorted ones (the worst case for
    the subsample guess of integer_cutoff) and non-contiguous views."""
    for _ in range(count):
        dtype = rng.choice([np.uint8, np.uint16])
        top = int(rng.integers(1, np.iinfo(dtype).max + 1))
        shape = tuple(int(n) for n in rng.integers(1, 40, rng.integers(1, 4)))
        kind = rng.integers(0, 5)
        if kind == 0:
            raw = rng.integers(0, top + 1, shape)
        elif kind == 1:
            raw = np.minimum(rng.exponential(top / 10, shape), top)
        elif kind == 2:
            raw = np.full(shape, top)
        elif kind == 3:
            raw = rng.integers(0, 3, shape) * top // 2
        else:  # a dim background with a few saturated pixels
            raw = np.where(rng.random(shape) < 0.02, top, rng.integers(0, top // 50 + 1, shape))
        raw = raw.astype(dtype)
        if rng.random() < 0.3:
            raw = np.sort(raw, axis=None).reshape(raw.shape)
        if rng.random() < 0.2:
            raw = raw[..., ::-1]
        yield raw, np.iinfo(dtype).max


def test_integer_cutoff_equals_the_cutoff_of_the_integer_histogram():
    rng = np.random.default_rng(11)
    for raw, scale in _images(rng, 600):
        quantile = float(rng.choice([0.0, 0.3, 0.99, 1.0, rng.random()]))
        nbins = int(rng.choice([1, 3, 100, 256]))
        expected = cutoff_from_histogram(*integer_histogram(raw, scale, nbins), quantile)
        assert integer_cutoff(raw, scale, quantile, nbins) == expected, (raw.dtype, raw.shape, quantile, nbins)


def test_integer_cutoff_on_a_full_size_channel_and_its_errors():
    rng = np.random.default_rng(12)
    raw = (rng.gamma(2.0, 150.0, (1, 1024, 1280)) + 90).astype(np.uint16)
    raw[0, 100:300, 200:500] += 5000
    for quantile in (0.2, 0.3, 0.99):
        assert integer_cutoff(raw, 65535, quantile) == cutoff_from_histogram(
            *integer_histogram(raw, 65535, 100), quantile
        )
    with pytest.raises(TypeError, match="unsigned"):
        integer_cutoff(raw.astype(np.int32), 65535, 0.5)
    with pytest.raises(ValueError, match="quantile"):
        integer_cutoff(raw, 65535, 1.5)
    with pytest.raises(ValueError, match="empty"):
        integer_cutoff(raw[:, :0], 65535, 0.5)


@pytest.mark.parametrize("size", [2, 3, 999, 2**17 + 3])
@pytest.mark.parametrize("nbins", [2, 256, 512])
def test_unit_counts_equal_numpy_for_odd_sizes_and_many_bins(size, nbins):
    rng = np.random.default_rng(size + nbins)
    x = rng.random(size)
    x[rng.random(size) < 0.3] = 0.0
    x[: size // 3] = rng.integers(0, nbins + 1, size // 3) / nbins  # on bin edges
    x[0], x[-1] = 0.0, 1.0
    np.testing.assert_array_equal(unit_counts(x, nbins), np.histogram(x, nbins, range=(0.0, 1.0))[0])


def test_level_bins_equal_numpy_binning_every_level():
    from bioims.imaging.histogram import _level_bins

    rng = np.random.default_rng(13)
    cases = [(0, 65535, 65535, 100), (5, 5, 65535, 100), (0, 0, 255, 100), (3, 250, 255, 256), (0, 1, 255, 100)]
    cases += [
        (int(a), int(a + rng.integers(0, 9000)), 65535, int(rng.choice([1, 2, 100, 256])))
        for a in rng.integers(0, 50000, 40)
    ]
    for first, last, scale, nbins in cases:
        values = np.arange(first, last + 1) / scale
        counts, edges = np.histogram(values, bins=nbins, range=(values[0], values[-1]))
        top_level, centers = _level_bins(first, last, scale, nbins)
        np.testing.assert_array_equal(top_level, first + np.cumsum(counts) - 1)
        np.testing.assert_array_equal(centers, (edges[:-1] + edges[1:]) / 2)


def test_unit_counts_and_bounds_report_other_ranges_without_counts():
    x = np.random.default_rng(14).random(1000) * 0.5 + 0.1
    counts, lo, hi = unit_counts_and_bounds(x, 256)
    assert counts is None and (lo, hi) == (x.min(), x.max())
    with pytest.raises(ValueError, match="spanning"):
        unit_counts(x, 256)
    with pytest.raises(ValueError, match="power-of-two"):
        unit_counts_and_bounds(x, 100)
