import numpy as np
import pytest
import tifffile

from bioims.config import Settings
from bioims.imaging.errors import ImageReadError, ImageShapeError, UnsupportedImageError
from bioims.imaging.io import (
    SINGLE_CHANNEL_NAME,
    ChannelSource,
    channel_sources,
    decode_tiff,
    read_channel,
    read_image,
    write_tiff_bytes,
)
from bioims.store import Stores
from bioims.store.localfs import LocalObjectStore


class RemoteLike(LocalObjectStore):
    """A store without local paths, so reads go through get_bytes as on S3."""

    def local_path(self, key):
        return None


@pytest.mark.parametrize("remote", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_reads_8_and_16_bit_channels_as_zyx(tmp_path, dtype, remote):
    store = (RemoteLike if remote else LocalObjectStore)(tmp_path)
    image = np.random.default_rng(0).integers(0, np.iinfo(dtype).max, (20, 30)).astype(dtype)
    store.put_bytes("p/w1.tif", write_tiff_bytes(image))
    out = read_channel(store, "p/w1.tif")
    assert out.dtype == dtype and out.shape == (1, 20, 30)
    np.testing.assert_array_equal(out[0], image)


def test_reads_a_z_stack(tmp_path):
    stack = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    assert decode_tiff(write_tiff_bytes(stack), "stack").shape == (3, 4, 5)


def test_missing_corrupt_and_unsupported_files_have_clear_errors(tmp_path):
    store = LocalObjectStore(tmp_path)
    with pytest.raises(ImageReadError, match="missing"):
        read_channel(store, "nope.tif", "image X channel dapi")
    with pytest.raises(ImageReadError, match="missing"):
        read_channel(RemoteLike(tmp_path), "nope.tif")
    good = write_tiff_bytes(np.ones((50, 60), dtype=np.uint16))
    store.put_bytes("truncated.tif", good[: len(good) // 3])
    store.put_bytes("text.tif", b"this is not a tiff")
    for key in ("truncated.tif", "text.tif"):
        with pytest.raises(ImageReadError, match="not a readable TIFF"):
            read_channel(store, key)
    store.put_bytes("float.tif", write_tiff_bytes(np.ones((4, 4), dtype=np.float32)))
    with pytest.raises(UnsupportedImageError, match="float32"):
        read_channel(store, "float.tif")
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    with pytest.raises(UnsupportedImageError, match="samples per pixel"):
        read_channel(store, "rgb.tif")
    store.put_bytes("4d.tif", write_tiff_bytes(np.zeros((2, 2, 4, 4), dtype=np.uint16)))
    with pytest.raises(UnsupportedImageError, match="expected"):
        read_channel(store, "4d.tif")


def test_channel_sources_follow_the_origin_row():
    row = {
        "imageId": "i1",
        "bucket": "/data/bbbc021",
        "key": "",
        "channelKeys": [{"name": "dapi", "keysuffix": "W1/a.tif"}, {"name": "actin", "keysuffix": "W1/b.tif"}],
    }
    assert channel_sources(row) == [
        ChannelSource("dapi", "/data/bbbc021", "W1/a.tif"),
        ChannelSource("actin", "/data/bbbc021", "W1/b.tif"),
    ]
    assert channel_sources({"imageId": "i2", "bucket": "b", "key": "one.tif"}) == [
        ChannelSource(SINGLE_CHANNEL_NAME, "b", "one.tif")
    ]
    for bad in (
        {"imageId": "x", "key": "k"},
        {"imageId": "x", "bucket": "b"},
        {"imageId": "x", "bucket": "b", "channelKeys": [{"name": "dapi"}]},
        {
            "imageId": "x",
            "bucket": "b",
            "channelKeys": [{"name": "a", "keysuffix": "1"}, {"name": "a", "keysuffix": "2"}],
        },
    ):
        with pytest.raises(ImageReadError):
            channel_sources(bad)


def test_read_image_checks_channel_shapes(tmp_path):
    stores = Stores(Settings(home=tmp_path / "home"))
    root = tmp_path / "src"
    store = stores.bucket(str(root))
    store.put_bytes("a.tif", write_tiff_bytes(np.ones((10, 12), dtype=np.uint16)))
    store.put_bytes("b.tif", write_tiff_bytes(np.ones((10, 12), dtype=np.uint8)))
    store.put_bytes("c.tif", write_tiff_bytes(np.ones((10, 11), dtype=np.uint16)))
    sources = [ChannelSource("dapi", str(root), "a.tif"), ChannelSource("actin", str(root), "b.tif")]
    channels = read_image(stores, sources, "i1")
    assert [c.dtype for c in channels] == [np.uint16, np.uint8]
    with pytest.raises(ImageShapeError, match="channel 'tubulin' has shape"):
        read_image(stores, sources + [ChannelSource("tubulin", str(root), "c.tif")], "i1")


@pytest.mark.parametrize(
    "array",
    [np.zeros((0, 3, 1, 16, 16), np.uint16), np.arange(12, dtype=np.int32), np.ones((5, 7), np.float32)[:, ::2]],
)
def test_npy_bytes_equal_np_save(array, tmp_path):
    from bioims.imaging.io import npy_bytes

    path = tmp_path / "a.npy"
    np.save(path, array)
    assert npy_bytes(array) == path.read_bytes()
