import json

import numpy as np
import pytest

from bioims import keys
from bioims.imaging.errors import ImageShapeError, MissingFlatField
from bioims.imaging.flatfield import FlatField
from bioims.imaging.outputs import (
    NO_LABEL_TEXT,
    ImageOutputKeys,
    flat_field_exists,
    outputs_complete,
    read_flat_field,
    read_roi_tensor,
    write_flat_field,
    write_image_outputs,
)
from bioims.imaging.params import RoiParameters
from bioims.imaging.pipeline import preprocess_image
from bioims.store.localfs import LocalObjectStore
from tests.unit.imaging.synthetic import CHANNELS

PARAMETERS = RoiParameters(16, 20)


class FailingStore(LocalObjectStore):
    """Fails the n-th put, like a crash or a full disk between two objects."""

    def __init__(self, root, fail_at: int):
        super().__init__(root)
        self.puts = 0
        self.fail_at = fail_at

    def put_bytes(self, key, data, *, content_type=None):
        self.puts += 1
        if self.puts == self.fail_at:
            raise OSError("disk full")
        super().put_bytes(key, data, content_type=content_type)


@pytest.fixture
def result(plate_fields, flat_field_objects):
    return preprocess_image(CHANNELS, plate_fields[0], flat_field_objects, PARAMETERS)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_written_set_is_complete_and_readable(store, result):
    out = ImageOutputKeys.for_image("emb", "plate1", "img1")
    assert out.tensor == keys.roi_tensor_key("emb", "plate1", "img1")
    assert not outputs_complete(store, out, PARAMETERS)
    write_image_outputs(store, out, result, PARAMETERS, label_index=4, subclass_index=7)
    assert outputs_complete(store, out, PARAMETERS)
    np.testing.assert_array_equal(read_roi_tensor(store, out), result.tensor)
    label = np.load(store.local_path(out.label))
    subclass = np.load(store.local_path(out.subclass))
    assert label.dtype == np.int32 and label.tolist() == [4] * result.count
    assert subclass.dtype == np.int32 and subclass.tolist() == [7] * result.count
    document = json.loads(store.get_bytes(out.roi))
    assert document["count"] == result.count and len(document["roi"]) == result.count


def test_changed_parameters_or_missing_companions_make_a_set_incomplete(store, result):
    out = ImageOutputKeys.for_image("emb", "plate1", "img1")
    write_image_outputs(store, out, result, PARAMETERS, label_index=None)
    assert store.get_bytes(out.no_label) == NO_LABEL_TEXT and not store.exists(out.label)
    assert outputs_complete(store, out, PARAMETERS)
    assert not outputs_complete(store, out, RoiParameters(32, 20))
    store.delete(out.subclass)
    assert not outputs_complete(store, out, PARAMETERS)


def test_label_state_change_removes_the_stale_variant(store, result):
    out = ImageOutputKeys.for_image("emb", "plate1", "img1")
    write_image_outputs(store, out, result, PARAMETERS, label_index=None)
    write_image_outputs(store, out, result, PARAMETERS, label_index=2)
    assert store.exists(out.label) and not store.exists(out.no_label)


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4])
def test_a_failure_between_objects_leaves_nothing_and_a_rerun_is_byte_identical(tmp_path, result, fail_at):
    clean_root = tmp_path / "clean"
    out = ImageOutputKeys.for_image("emb", "plate1", "img1")
    write_image_outputs(LocalObjectStore(clean_root), out, result, PARAMETERS, label_index=1, subclass_index=3)

    failing = FailingStore(tmp_path / "failing", fail_at)
    with pytest.raises(OSError):
        write_image_outputs(failing, out, result, PARAMETERS, label_index=1, subclass_index=3)
    assert not outputs_complete(failing, out, PARAMETERS)
    assert _files(tmp_path / "failing") == {}
    write_image_outputs(failing, out, result, PARAMETERS, label_index=1, subclass_index=3)
    assert _files(tmp_path / "failing") == _files(clean_root)


def test_zero_rois_are_recorded(store, flat_field_objects):
    black = [np.zeros((1, 96, 128), dtype=np.uint16) for _ in CHANNELS]
    empty = preprocess_image(CHANNELS, black, flat_field_objects, PARAMETERS)
    out = ImageOutputKeys.for_image("emb", "plate1", "dark")
    write_image_outputs(store, out, empty, PARAMETERS, label_index=0)
    assert outputs_complete(store, out, PARAMETERS)
    assert read_roi_tensor(store, out).shape == (0, 3, 1, 16, 16)
    assert json.loads(store.get_bytes(out.roi))["roi"] == []


def test_flat_field_round_trip(store):
    flat = FlatField.from_array("dapi", np.random.default_rng(0).random((12, 14)).astype(np.float32))
    assert not flat_field_exists(store, "plate1", "dapi")
    key = write_flat_field(store, "plate1", flat)
    assert key == keys.flatfield_key("plate1", "dapi") and flat_field_exists(store, "plate1", "dapi")
    assert np.load(store.local_path(key)).shape == (12, 14)  # stored 2-D, like the original
    back = read_flat_field(store, "plate1", "dapi", (1, 12, 14))
    np.testing.assert_array_equal(back.array, flat.array)
    with pytest.raises(ImageShapeError):
        read_flat_field(store, "plate1", "dapi", (1, 12, 15))
    with pytest.raises(MissingFlatField, match="run plate preprocessing first"):
        read_flat_field(store, "plate1", "actin")
