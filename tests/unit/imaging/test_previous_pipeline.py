"""The ROI pipeline is bit-identical to the one it replaced (tests/unit/imaging/previous_pipeline.py,
a verbatim copy): same ROI tensor bytes, windows, centres, component count and ROI JSON, on
full-size BBBC021 fields from the synthetic generator (written as TIFFs and decoded as a job
reads them) and on edge cases (8-bit, z-stacks, constant and dark channels, other parameters)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from bioims.imaging.flatfield import FlatField, compute_flat_field
from bioims.imaging.io import decode_tiff
from bioims.imaging.params import RoiParameters
from bioims.imaging.pipeline import preprocess_image
from tests.unit.imaging import previous_pipeline as previous
from tests.unit.imaging.synthetic import CHANNELS, synthetic_field


def assert_identical(channel_names, field, flats, parameters=RoiParameters()) -> int:
    new = preprocess_image(channel_names, field, flats, parameters, "img")
    old = previous.preprocess_image(channel_names, field, flats, parameters, "img")
    assert new.tensor.dtype == old.tensor.dtype and new.tensor.shape == old.tensor.shape
    assert new.tensor.tobytes() == old.tensor.tobytes()
    for name in ("starts", "centres"):
        a, b = getattr(new, name), getattr(old, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
    assert new.extent == old.extent and new.components == old.components and new.channels == old.channels
    assert new.roi_document(parameters) == old.roi_document(parameters)
    return new.count


def flat_fields(fields, names=CHANNELS) -> list[FlatField]:
    return [FlatField.from_array(name, compute_flat_field([f[c] for f in fields])) for c, name in enumerate(names)]


@pytest.fixture(scope="module")
def bbbc021_fields(tmp_path_factory) -> list[list[np.ndarray]]:
    """Three full-size 1024 x 1280 fields of the synthetic BBBC021, each channel written as a TIFF
    the way the generator stores it and decoded by `decode_tiff`."""
    from bioims.bbbc021.design import load_design
    from bioims.bbbc021.synthetic.model import SynthConfig, SyntheticBbbc021

    design = load_design()
    plate = design.plates[0]
    world = SyntheticBbbc021(SynthConfig(seed=3), design)
    root = tmp_path_factory.mktemp("bbbc021")
    fields = []
    for i, row in enumerate(design.plate_fields(plate).iloc[:3].itertuples()):
        field, _ = world.render_with_truth(plate, row.well, int(row.site))
        channels = []
        for c in range(3):
            path = root / f"f{i}_c{c}.tif"
            tifffile.imwrite(path, field[c], photometric="minisblack")
            channels.append(decode_tiff(str(path), path.name))
            np.testing.assert_array_equal(channels[-1][0], field[c])
        fields.append(channels)
    return fields


def test_full_size_bbbc021_fields_are_bit_identical(bbbc021_fields):
    flats = flat_fields(bbbc021_fields)
    counts = [assert_identical(CHANNELS, field, flats) for field in bbbc021_fields]
    assert all(n > 20 for n in counts), counts  # real work: many nuclei per field
    assert bbbc021_fields[0][0].shape == (1, 1024, 1280)


def test_other_parameters_and_channel_orders_are_bit_identical(bbbc021_fields):
    flats = flat_fields(bbbc021_fields)
    field = bbbc021_fields[1]
    for parameters in (RoiParameters(64, 50), RoiParameters(15, 20), RoiParameters(200, 400)):
        assert assert_identical(CHANNELS, field, flats, parameters) > 0
    # segmenting another channel, channels in another order
    order = [2, 0, 1]
    names = tuple(CHANNELS[c] for c in order)
    reordered_flats = [flats[c] for c in order]
    assert_identical(names, [field[c] for c in order], reordered_flats, RoiParameters(segmentation_channel="actin"))


def test_full_size_fields_whose_size_is_not_a_multiple_of_the_block(bbbc021_fields):
    fields = [[c[:, :1000, :1277] for c in f] for f in bbbc021_fields[:2]]  # also non-contiguous views
    flats = flat_fields(fields)
    for field in fields:
        assert_identical(CHANNELS, field, flats)


def test_eight_bit_and_z_stack_fields_are_bit_identical():
    eight = [synthetic_field(s, shape=(300, 410), nuclei=30, nucleus_radius=8.0, dtype=np.uint8) for s in (1, 2)]
    flats = flat_fields(eight)
    for field in eight:
        assert assert_identical(CHANNELS, field, flats, RoiParameters(32, 40)) > 0
    planes = [synthetic_field(s, shape=(120, 150), nuclei=15, nucleus_radius=6.0) for s in range(9)]
    stacks = [[np.concatenate([planes[3 * i + z][c] for z in range(3)]) for c in range(3)] for i in range(3)]
    flats = flat_fields(stacks)
    for field in stacks:
        assert field[0].shape == (3, 120, 150)
        assert assert_identical(CHANNELS, field, flats, RoiParameters(16, 30)) > 0


def test_degenerate_channels_are_bit_identical():
    fields = [synthetic_field(s, shape=(200, 260), nuclei=20, nucleus_radius=8.0) for s in (5, 6)]
    flats = flat_fields(fields)
    base = fields[0]
    cases = {
        "constant segmentation channel": [np.full_like(base[0], 900), base[1], base[2]],
        "constant other channel": [base[0], np.full_like(base[1], 7), base[2]],
        "dark channel, all below its flat field": [base[0], np.zeros_like(base[1]), base[2]],
        "saturated pixels": [np.where(base[0] > 1500, 65535, base[0]).astype(np.uint16), base[1], base[2]],
        "one bright pixel": [np.where(np.arange(base[0].size).reshape(base[0].shape) == 999, 60000, 10), *base[1:]],
        "all zero": [np.zeros_like(c) for c in base],
    }
    for name, field in cases.items():
        field = [np.asarray(c, dtype=np.uint16) for c in field]
        try:
            assert_identical(CHANNELS, field, flats, RoiParameters(16, 20))
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
