"""Inspection reads only the header of a baseline TIFF (`channel_geometry`): for every file, in a
local directory and in S3 (moto), it must tell the shape and dtype `read_channel` returns, or fail
with the same error, damaged files included."""

from __future__ import annotations

import logging
import warnings

import boto3
import numpy as np
import pytest
from moto import mock_aws

from bioims.imaging.errors import ImagingError
from bioims.imaging.inspection import inspect_image
from bioims.imaging.io import channel_geometry, read_channel
from bioims.imaging.tiff import baseline_tiff_layout
from bioims.store.localfs import LocalObjectStore
from bioims.store.s3 import S3ObjectStore
from tests.unit.imaging.test_tiff import handmade_tiff, tiff_bytes


def _outcome(call):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except ImagingError as exc:
        return type(exc), str(exc)


def assert_geometry_as_read(store, key: str) -> tuple:
    """channel_geometry agrees with read_channel on this object: same (shape, dtype) or same error."""
    told = _outcome(lambda: channel_geometry(store, key, "img"))
    read = _outcome(lambda: read_channel(store, key, "img"))
    if isinstance(read, np.ndarray):
        assert told == (read.shape, read.dtype), (told, read.shape, read.dtype)
        assert str(told[1]) == str(read.dtype)
    else:
        assert told == read
    return told


def _variants() -> list[bytes]:
    rng = np.random.default_rng(5)
    out = []
    for dtype in (np.uint8, np.uint16):
        image = rng.integers(0, np.iinfo(dtype).max + 1, (37, 53)).astype(dtype)
        for byteorder in ("<", ">"):
            for rows in (None, 1, 10):
                out.append(tiff_bytes(image, byteorder=byteorder, rowsperstrip=rows, photometric="minisblack"))
        out.append(handmade_tiff(image, order=">", rows=4))
    ones = np.ones((20, 30), np.uint16)
    out += [
        tiff_bytes(ones, compression="zlib", photometric="minisblack"),  # decoded: not baseline
        tiff_bytes(np.ones((3, 20, 30), np.uint16), photometric="minisblack"),  # a z-stack
        tiff_bytes(np.ones((20, 30), np.float32), photometric="minisblack"),  # unsupported type
        tiff_bytes(np.ones((20, 30, 3), np.uint8), photometric="rgb"),  # several samples
        tiff_bytes(ones, imagej=True),
    ]
    return out


def test_header_geometry_equals_the_decoded_channel_locally_and_on_s3(tmp_path):
    datas = _variants()
    local = LocalObjectStore(tmp_path / "bucket")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="src")
        remote = S3ObjectStore("src", s3)
        for index, data in enumerate(datas):
            for store in (local, remote):
                store.put_bytes(f"f{index}.tif", data)
                assert_geometry_as_read(store, f"f{index}.tif")
        for store in (local, remote):  # a missing object: the same "missing" error
            told = assert_geometry_as_read(store, "absent.tif")
            assert "missing" in told[1]
    baseline = [d for d in datas if baseline_tiff_layout(d) is not None]
    assert len(baseline) == 14  # every variant written as a baseline TIFF took the header path


def test_truncated_and_damaged_files_give_the_errors_decoding_gives(tmp_path):
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    store = LocalObjectStore(tmp_path / "bucket")
    image = np.random.default_rng(6).integers(0, 65536, (40, 50)).astype(np.uint16)
    data = tiff_bytes(image, photometric="minisblack", rowsperstrip=8)
    for cut in (0, 9, 200, len(data) // 2, len(data) - 1):
        store.put_bytes("cut.tif", data[:cut])
        told = assert_geometry_as_read(store, "cut.tif")
        assert told[0].__name__ == "ImageReadError" and "not a readable TIFF" in told[1]
    rng = np.random.default_rng(7)
    header_read = 0
    for _ in range(300):  # byte flips in the header and directory
        damaged = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            damaged[int(rng.integers(0, 300))] = int(rng.integers(0, 256))
        if baseline_tiff_layout(bytes(damaged)) is None:
            continue  # decoded as before (tifffile takes seconds on some damaged files)
        header_read += 1
        store.put_bytes("damaged.tif", bytes(damaged))
        assert_geometry_as_read(store, "damaged.tif")
    assert header_read > 50  # flips that leave a valid baseline header (pixels, unused tag bytes)


@pytest.mark.parametrize("cut", [True, False])
def test_inspection_of_a_truncated_channel_is_invalid(tmp_path, cut):
    store = LocalObjectStore(tmp_path / "src")
    image = np.zeros((64, 80), np.uint16)
    whole = tiff_bytes(image, photometric="minisblack")
    store.put_bytes("a.tif", whole)
    store.put_bytes("b.tif", whole[: len(whole) - 1] if cut else whole)

    class Buckets:
        def bucket(self, name):
            assert name == store.bucket
            return store

    row = {
        "imageId": "img",
        "bucket": store.bucket,
        "key": "",
        "channelKeys": [{"name": "a", "keysuffix": "a.tif"}, {"name": "b", "keysuffix": "b.tif"}],
    }
    result = inspect_image(Buckets(), row)
    if cut:
        assert not result.valid and "channel b" in result.error and "not a readable TIFF" in result.error
    else:
        assert result.valid and (result.width, result.height, result.depth, result.dtype) == (80, 64, 1, "uint16")
