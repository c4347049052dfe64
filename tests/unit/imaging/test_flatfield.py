import numpy as np
import pytest

from bioims.imaging.errors import ImageShapeError, ImagingError
from bioims.imaging.flatfield import FlatField, FlatFieldAccumulator, compute_flat_field
from bioims.imaging.io import npy_bytes
from tests.unit.imaging import original_loops as original
from tests.unit.imaging.synthetic import synthetic_field


def test_flat_field_equals_the_original_up_to_its_65536_scale(plate_fields, plate_flat_fields):
    for c in range(3):
        ref = original.flat_field([field[c] for field in plate_fields])
        ours = plate_flat_fields[c]
        assert ours.dtype == np.float32 and ours.shape == (1, 96, 128)
        # the original divided by 65536, ours by 65535 (one scale for flat field and image)
        np.testing.assert_allclose(ours[0], ref * 65536 / 65535, rtol=2e-6)


def test_flat_field_is_a_smooth_background_level(plate_fields, plate_flat_fields):
    dapi_mean = np.mean([field[0] / 65535 for field in plate_fields], axis=0)
    flat = plate_flat_fields[0]
    assert flat.max() < np.percentile(dapi_mean, 50)  # clipped at the ~30 % level, below the nuclei
    assert np.abs(np.diff(flat, axis=-1)).max() < 1e-4  # sigma 50: no structure left


def test_order_and_partial_sums_do_not_change_a_byte(plate_fields):
    channel = [field[1] for field in plate_fields]
    forward = compute_flat_field(channel)
    backward = compute_flat_field(channel[::-1])
    left, right = FlatFieldAccumulator(channel[0].shape), FlatFieldAccumulator(channel[0].shape)
    for raw in channel[:1]:
        left.add(raw)
    for raw in channel[1:]:
        right.add(raw)
    left.merge(right)
    assert npy_bytes(forward) == npy_bytes(backward) == npy_bytes(left.flat_field())


def test_eight_bit_fields_share_the_sixteen_bit_scale():
    fields16 = [synthetic_field(seed)[0] for seed in range(3)]
    fields8 = [(f // 257).astype(np.uint8) for f in fields16]
    as16 = [f.astype(np.uint16) * 257 for f in fields8]
    np.testing.assert_array_equal(compute_flat_field(fields8), compute_flat_field(as16))


def test_streaming_accumulator_rejects_other_shapes_and_empty_plates():
    acc = FlatFieldAccumulator((1, 8, 8))
    with pytest.raises(ImageShapeError, match="differs"):
        acc.add(np.zeros((1, 8, 9), dtype=np.uint16), "field B02")
    with pytest.raises(ImagingError, match="no readable fields"):
        acc.flat_field()
    with pytest.raises(ImagingError):
        compute_flat_field([])


def test_stored_flat_fields_are_validated():
    good = FlatField.from_array("dapi", np.ones((8, 9), dtype=np.float32), (1, 8, 9))
    assert good.array.shape == (1, 8, 9) and good.to_storage().shape == (8, 9)
    assert np.all(good.log == 0.0)
    with pytest.raises(ImageShapeError, match="image has"):
        FlatField.from_array("dapi", np.ones((8, 9), dtype=np.float32), (1, 8, 10))
    with pytest.raises(ImagingError, match="non-finite"):
        FlatField.from_array("dapi", np.full((4, 4), np.nan, dtype=np.float32))
    with pytest.raises(ImagingError, match="float expected"):
        FlatField.from_array("dapi", np.ones((4, 4), dtype=np.uint16))


@pytest.mark.parametrize("shape", [(1, 96, 128), (2, 40, 30), (1, 1024, 1280), (1, 1, 700)])
def test_fft_smoothing_equals_ndimage_gaussian_filter(shape):
    from scipy import ndimage as ndi

    from bioims.imaging.flatfield import gaussian_in_plane

    rng = np.random.default_rng(len(shape) + shape[-1])
    y, x = np.mgrid[0 : shape[1], 0 : shape[2]]
    array = 0.02 + 0.01 * np.exp(-((y - shape[1] / 3) ** 2 + (x - shape[2] / 2) ** 2) / 4e4) + 0.004 * rng.random(shape)
    array[..., : shape[1] // 4, :] = 0.05  # a step at an edge: the padding must be ndimage's "nearest"
    expected = ndi.gaussian_filter(array, sigma=[0, 50, 50], mode="nearest", truncate=4.0)
    ours = gaussian_in_plane(array, 50)
    assert ours.shape == array.shape and ours.dtype == np.float64
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(ours.astype(np.float32), expected.astype(np.float32))


def test_sums_widen_before_they_could_overflow(monkeypatch):
    from bioims.imaging import flatfield

    assert flatfield.UINT32_FIELDS == 65537  # 65,537 x 65,535 < 2**32
    fields = [np.full((1, 4, 5), 65535 - k, dtype=np.uint16) for k in range(5)]
    monkeypatch.setattr(flatfield, "UINT32_FIELDS", 2)  # widen after two fields instead of 65,537
    acc = FlatFieldAccumulator((1, 4, 5))
    for raw in fields[:2]:
        acc.add(raw)
    assert acc.total.dtype == np.uint32
    acc.add(fields[2])
    assert acc.total.dtype == np.uint64
    other = FlatFieldAccumulator((1, 4, 5))
    for raw in fields[3:]:
        other.add(raw)
    acc.merge(other)
    assert acc.count == 5 and acc.total.dtype == np.uint64
    np.testing.assert_array_equal(acc.total, sum(int(65535 - k) for k in range(5)))
