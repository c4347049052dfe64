import numpy as np
import pytest

from bioims.imaging.levels import COUNT_BLOCK, level_counts


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("size", [0, 1, 1000, COUNT_BLOCK, COUNT_BLOCK + 1, 3 * COUNT_BLOCK - 7, 1024 * 1280])
def test_level_counts_equal_bincount(dtype, size):
    rng = np.random.default_rng(size)
    top = np.iinfo(dtype).max + 1
    raw = rng.integers(0, top - 1, size).astype(dtype)
    if size > COUNT_BLOCK:
        raw[-5:] = top - 1  # the maximum level only in the last block
    expected = np.bincount(raw)
    counts = level_counts(raw.reshape(1, 1, -1))
    assert counts.dtype == expected.dtype and counts.shape == expected.shape
    np.testing.assert_array_equal(counts, expected)


def test_a_small_block_size_gives_the_same_counts():
    raw = np.random.default_rng(0).integers(0, 5000, (3, 64, 80)).astype(np.uint16)
    np.testing.assert_array_equal(level_counts(raw, block=1000), np.bincount(raw.ravel()))


def test_signed_or_float_images_are_refused():
    for bad in (np.zeros(4, np.int16), np.zeros(4, np.float32)):
        with pytest.raises(TypeError, match="unsigned integer"):
            level_counts(bad)
