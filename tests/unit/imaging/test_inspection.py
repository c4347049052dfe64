import numpy as np

from bioims.config import Settings
from bioims.imaging.inspection import inspect_image
from bioims.imaging.io import write_tiff_bytes
from bioims.store import Stores


def _setup(tmp_path, shapes, dtype=np.uint16):
    stores = Stores(Settings(home=tmp_path / "home"))
    root = str(tmp_path / "src")
    store = stores.bucket(root)
    channel_keys = []
    for i, shape in enumerate(shapes):
        store.put_bytes(f"c{i}.tif", write_tiff_bytes(np.ones(shape, dtype=dtype)))
        channel_keys.append({"name": f"ch{i}", "keysuffix": f"c{i}.tif"})
    return stores, {"imageId": "img", "bucket": root, "key": "", "channelKeys": channel_keys}


def test_valid_image_reports_geometry_and_type(tmp_path):
    stores, row = _setup(tmp_path, [(16, 20)] * 3)
    result = inspect_image(stores, row)
    assert result.as_dict() == {
        "imageId": "img",
        "valid": True,
        "width": 20,
        "height": 16,
        "depth": 1,
        "channels": 3,
        "dtype": "uint16",
    }


def test_every_dimension_is_compared(tmp_path):
    # the original compared widths only and would have accepted this image
    stores, row = _setup(tmp_path, [(16, 20), (17, 20)])
    result = inspect_image(stores, row)
    assert not result.valid and (result.width, result.height, result.depth, result.channels) == (-1, -1, -1, -1)
    assert "20x17x1" in result.error and "20x16x1" in result.error


def test_unreadable_channels_and_single_files(tmp_path):
    stores, row = _setup(tmp_path, [(8, 8), (8, 8)])
    stores.bucket(row["bucket"]).delete("c1.tif")
    result = inspect_image(stores, row)
    assert not result.valid and "missing" in result.error
    single = {"imageId": "one", "bucket": row["bucket"], "key": "c0.tif"}
    assert inspect_image(stores, single).as_dict()["channels"] == 1
    stack = {"imageId": "z", "bucket": row["bucket"], "key": "z.tif"}
    stores.bucket(row["bucket"]).put_bytes("z.tif", write_tiff_bytes(np.ones((4, 6, 7), dtype=np.uint8)))
    assert inspect_image(stores, stack).as_dict() == {
        "imageId": "z",
        "valid": True,
        "width": 7,
        "height": 6,
        "depth": 4,
        "channels": 1,
        "dtype": "uint8",
    }
    assert not inspect_image(stores, {"imageId": "nobucket", "key": "x"}).valid
