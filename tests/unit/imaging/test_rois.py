import numpy as np
import pytest

from bioims.imaging.rois import crop, inside_edges, roi_extent, roi_starts
from tests.unit.imaging import original_loops as original


def _original_geometry(centres, shape, roi_size):
    """The original's edge rule and windows; None for a window where the original aborts."""
    kept, starts = [], []
    half = roi_size / 2
    for p in centres:
        margin = [max(roi_size - shape[d] / 4, 0) for d in range(3)]
        if any(p[d] + margin[d] < half or p[d] - margin[d] > (shape[d] - 1) - half for d in range(3)):
            kept.append(False)
            continue
        kept.append(True)
        try:
            starts.append([original._window(p[d], shape[d], roi_size)[0] for d in range(3)])
        except original.RoiDimensionInvalid:
            starts.append(None)
    return np.array(kept), starts


@pytest.mark.parametrize(
    "shape, roi_size",
    [((1, 1024, 1280), 128), ((1, 96, 128), 16), ((1, 96, 128), 64), ((1, 40, 50), 64), ((3, 60, 70), 32)],
)
def test_edge_rule_and_windows_equal_the_original(shape, roi_size):
    rng = np.random.default_rng(roi_size)
    centres = rng.uniform(-0.5, 1.0, (400, 3)) * (np.array(shape) - 1) + rng.normal(0, 0.3, (400, 3))
    centres[:, 0] = np.clip(centres[:, 0], 0, shape[0] - 1)
    expected_kept, expected_starts = _original_geometry(centres, shape, roi_size)
    kept = inside_edges(centres, shape, roi_size)
    np.testing.assert_array_equal(kept, expected_kept)
    starts = roi_starts(centres[kept], shape, roi_size)
    extent = roi_extent(shape, roi_size)
    compared = 0
    for ours, theirs in zip(starts.tolist(), expected_starts, strict=True):
        assert all(0 <= s and s + e <= n for s, e, n in zip(ours, extent.tolist(), shape, strict=True))
        if theirs is not None:  # where the original's float rounding aborted, ours still gives a whole window
            assert ours == theirs
            compared += 1
    assert compared >= 0.8 * len(expected_starts) > 0


def test_original_aborts_on_float_rounding_where_ours_clamps():
    # L=128, R=64, p=101.046...: the original's p0 - (p1 - L) lands a hair below 64 and truncates to 63
    p = 101.04635521655284
    with pytest.raises(original.RoiDimensionInvalid):
        original._window(p, 128, 64)
    np.testing.assert_array_equal(roi_starts(np.array([[0.0, 50.0, p]]), (1, 96, 128), 64), [[0, 18, 64]])


def test_bbbc021_edge_band():
    shape = (1, 1024, 1280)
    centres = np.array([[0, 63.9, 500], [0, 64, 500], [0, 959, 500], [0, 959.1, 500], [0, 500, 1215], [0, 500, 1215.5]])
    np.testing.assert_array_equal(inside_edges(centres, shape, 128), [False, True, True, False, True, False])
    starts = roi_starts(centres[[1, 2, 4]], shape, 128)
    np.testing.assert_array_equal(starts, [[0, 0, 436], [0, 895, 436], [0, 436, 1151]])


@pytest.mark.parametrize("roi_size", [15, 17, 33])
def test_odd_roi_sizes_give_whole_windows_inside_the_image(roi_size):
    shape = (1, 60, 70)
    rng = np.random.default_rng(roi_size)
    centres = np.column_stack([np.zeros(300), rng.uniform(0, 59, 300), rng.uniform(0, 69, 300)])
    centres = centres[inside_edges(centres, shape, roi_size)]
    starts = roi_starts(centres, shape, roi_size)
    extent = roi_extent(shape, roi_size)
    assert np.all(starts >= 0) and np.all(starts + extent <= np.array(shape))
    interior = np.all((centres[:, 1:] >= roi_size / 2) & (centres[:, 1:] + roi_size / 2 <= np.array(shape[1:])), axis=1)
    offset = starts[interior, 1:] + roi_size / 2 - centres[interior, 1:]
    assert interior.sum() > 50 and np.all(np.abs(offset) <= 1.0)  # centred within a pixel


def test_crop_cuts_every_channel_at_the_window():
    stack = np.arange(2 * 1 * 10 * 12, dtype=np.uint16).reshape(2, 1, 10, 12)
    starts = np.array([[0, 2, 3], [0, 0, 0]])
    out = crop(stack, starts, np.array([1, 4, 5]))
    assert out.shape == (2, 2, 1, 4, 5)
    np.testing.assert_array_equal(out[0], stack[:, 0:1, 2:6, 3:8])
    np.testing.assert_array_equal(out[1], stack[:, 0:1, 0:4, 0:5])
    assert crop(stack, np.zeros((0, 3), dtype=np.int64), np.array([1, 4, 5])).shape == (0, 2, 1, 4, 5)
