import numpy as np
import pytest
from skimage import exposure

from bioims.imaging.normalize import (
    log_background,
    minmax_inplace,
    normalize_channel,
    normalize_for_thumbnail,
    normalize_to_uint16,
    thumbnail_background,
    to_uint16,
    top_cutoff,
)
from tests.unit.imaging import original_loops as original


def _original_normalized(raw: np.ndarray, background: np.ndarray) -> np.ndarray:
    x = original.norm_image_data(raw.astype(np.float64))
    cut = original.find_hist_cutoff(exposure.histogram(x, 100), 0.99)
    original.apply_image_cutoff(x, cut)
    original.normalize_channel(background, x)
    return x


def _background(shape, seed=0) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[-2], 0 : shape[-1]]
    return (0.004 + 0.001 * np.sin(yy / 7.0) * np.cos(xx / 5.0)).reshape(shape).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normalize_channel_equals_the_original_loops_16bit(seed):
    rng = np.random.default_rng(seed)
    raw = (rng.gamma(2.0, 150.0, (1, 40, 50)) + 200).astype(np.uint16)
    raw[0, 10:20, 10:25] += 3000  # bright objects far above background
    flat = _background(raw.shape)
    ours = normalize_channel(raw, log_background(flat))
    ref = _original_normalized(raw, flat)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    assert ours.min() == 0.0 and ours.max() == 1.0


def test_normalize_channel_equals_the_original_loops_8bit():
    rng = np.random.default_rng(7)
    raw = rng.integers(2, 250, (1, 30, 40)).astype(np.uint8)
    flat = (_background(raw.shape) * 65535 / 255 * 4).astype(np.float32)  # 8-bit scale background
    np.testing.assert_allclose(
        normalize_channel(raw, log_background(flat)), _original_normalized(raw, flat), atol=1e-12
    )


def test_top_cutoff_is_the_99_percent_bin_rule():
    raw = np.random.default_rng(3).integers(100, 5000, (25, 25)).astype(np.uint16)
    expected = original.find_hist_cutoff(exposure.histogram(raw / 65535, 100), 0.99)
    assert top_cutoff(raw) == expected


def test_constant_log_image_gives_zeros_where_the_original_kept_the_clamped_logs():
    raw = np.full((1, 12, 14), 3000, dtype=np.uint16)
    raw[0, 0, 0] = 3100
    tiny_flat = np.full(raw.shape, 1e-5, dtype=np.float32)  # every ratio far above e^5
    ref = _original_normalized(raw, tiny_flat)
    assert np.all(ref == 5.0)  # the original's defect: not rescaled
    ours = normalize_channel(raw, log_background(tiny_flat))
    assert np.all(ours == 0.0)


def test_zero_flat_field_is_safe():
    raw = np.zeros((1, 10, 10), dtype=np.uint16)
    raw[0, :5] = 2000
    raw[0, 5:, :5] = 500
    flat = np.full(raw.shape, 0.01, dtype=np.float32)
    flat[0, 5:] = 0.0  # a zero background under zero and non-zero pixels
    with np.errstate(all="ignore"):
        ref = _original_normalized(raw, flat)
    assert np.isnan(ref).any()  # the original divides 0 by 0
    ours = normalize_channel(raw, log_background(flat))
    assert np.all(np.isfinite(ours))
    assert np.all(ours[0, 5:, 5:] == 0.0)  # zero pixel over zero background: no signal
    assert np.all(ours[0, 5:, :5] == 1.0)  # bright pixel over zero background saturates, as the original's inf did


def test_all_zero_channel_gives_zeros():
    raw = np.zeros((1, 8, 9), dtype=np.uint16)
    out = normalize_channel(raw, log_background(np.full(raw.shape, 0.01)))
    assert out.shape == raw.shape and not out.any()


def test_log_background_rejects_non_finite_flat_fields():
    with pytest.raises(ValueError, match="non-finite"):
        log_background(np.array([[np.nan, 1.0]]))


def test_minmax_and_uint16_truncation():
    values = np.array([2.0, 3.0, 4.0])
    np.testing.assert_array_equal(minmax_inplace(values), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(to_uint16(np.array([0.0, 0.5, 1.0, 0.99999])), [0, 32767, 65535, 65534])
    assert not minmax_inplace(np.full(4, 7.0)).any()


def test_thumbnail_normalisation_equals_the_original_loops():
    rng = np.random.default_rng(9)
    raw = (rng.gamma(2.0, 200.0, (1, 30, 40)) + 300).astype(np.uint16)
    raw[0, 5:12, 5:15] = 4000
    x = raw / 65535
    cut = original.find_hist_cutoff(exposure.histogram(x, 100), 0.20)
    background = original.find_cutoff_avg(x.copy(), cut)
    assert thumbnail_background(raw) == pytest.approx(background, rel=1e-12)
    original.normalize_channel(background, x)
    np.testing.assert_allclose(normalize_for_thumbnail(raw), x, atol=1e-12)


def test_blocked_uint16_normalisation_equals_the_whole_array_steps():
    """normalize_to_uint16 (cache-blocked) gives the bits of the previous whole-array
    normalize_channel + to_uint16, for sizes that are not a multiple of the block, views and a
    broadcast background."""
    from tests.unit.imaging import previous_pipeline as previous

    rng = np.random.default_rng(4)
    raw = (rng.gamma(2.0, 150.0, (2, 300, 457)) + 200).astype(np.uint16)
    raw[:, 40:90, 100:180] += 4000
    background = np.broadcast_to(_background((1, *raw.shape[1:])), raw.shape) * np.float32(1.1)
    cases = [
        (raw, log_background(background)),
        (raw[:, ::2, 3:], log_background(background[:, ::2, 3:])),  # a non-contiguous view
        (raw, log_background(np.float32(0.004))),  # a scalar background broadcast
        (raw[:1, :5, :7], log_background(_background((1, 5, 7)))),  # smaller than one block
    ]
    for image, background in cases:
        expected_float = previous.normalize_channel(image, background)
        expected = previous.to_uint16(expected_float.copy())
        out = np.empty(image.shape, dtype=np.uint16)
        scratch = np.empty(image.shape, dtype=np.float64)
        normalized = normalize_to_uint16(image, background, out, scratch)
        assert normalized is scratch and out.tobytes() == expected.tobytes()
        assert scratch.tobytes() == expected_float.tobytes()
        assert normalize_channel(image, background).tobytes() == expected_float.tobytes()


def test_blocked_normalisation_rejects_unusable_buffers():
    raw = np.ones((1, 6, 8), dtype=np.uint16)
    background = log_background(_background(raw.shape))
    good_scratch = np.empty(raw.shape)
    with pytest.raises(ValueError, match="uint16"):
        normalize_to_uint16(raw, background, np.empty(raw.shape, dtype=np.float32), good_scratch)
    with pytest.raises(ValueError, match="uint16"):
        normalize_to_uint16(raw, background, np.empty((1, 6, 16), dtype=np.uint16)[:, :, ::2], good_scratch)
    with pytest.raises(ValueError, match="float64"):
        normalize_to_uint16(raw, background, np.empty(raw.shape, dtype=np.uint16), np.empty(raw.shape, np.float32))
