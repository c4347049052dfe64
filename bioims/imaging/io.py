"""Reading image channels and writing arrays through the ObjectStore port.

Channels are single-sample TIFFs of 8 or 16 bits, 2-D (Y, X) or a z-stack (Z, Y, X); every channel
comes back as a (Z, Y, X) array of its own dtype. A local object is read in place from its path;
a remote one is fetched as bytes. Failures are `ImageReadError`s that name the channel and key.
Baseline uncompressed single-image grey TIFFs are decoded by `bioims.imaging.tiff` (struct + one
read into the array), everything else by tifffile.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tifffile

from bioims.imaging.errors import ImageReadError, ImageShapeError, UnsupportedImageError
from bioims.imaging.tiff import baseline_tiff_layout, read_baseline_tiff
from bioims.npy import read_npy
from bioims.store.ports import ObjectNotFound, ObjectStore

# Full-scale value of each supported pixel type: the single scaling constant that maps raw grey
# levels to [0, 1] for the flat field, the image and the thumbnails alike.
FULL_SCALE: dict[np.dtype, int] = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}
SINGLE_CHANNEL_NAME = "image"  # name of the only channel of an image stored as one file


def full_scale(dtype: np.dtype) -> int:
    try:
        return FULL_SCALE[np.dtype(dtype)]
    except KeyError:
        raise UnsupportedImageError(
            f"pixel type {np.dtype(dtype)} is not supported (8- or 16-bit unsigned only)"
        ) from None


@dataclass(frozen=True)
class ChannelSource:
    """Where one channel of an image lives."""

    name: str
    bucket: str
    key: str


def channel_sources(row: Mapping[str, Any]) -> list[ChannelSource]:
    """The channel files of an image origin row: `key + keysuffix` per entry of `channelKeys` (in
    order), or `key` alone for a single-file image (docs/original.md §3.1)."""
    bucket = row.get("bucket")
    if not isinstance(bucket, str) or not bucket:
        raise ImageReadError(f"image {row.get('imageId')!r} has no source bucket")
    prefix = row.get("key") or ""
    channel_keys = row.get("channelKeys")
    if not channel_keys:
        if not prefix:
            raise ImageReadError(f"image {row.get('imageId')!r} has neither key nor channelKeys")
        return [ChannelSource(SINGLE_CHANNEL_NAME, bucket, prefix)]
    sources = []
    for entry in channel_keys:
        name, suffix = entry.get("name"), entry.get("keysuffix")
        if not name or not suffix:
            raise ImageReadError(f"image {row.get('imageId')!r}: channel entry {entry!r} needs name and keysuffix")
        sources.append(ChannelSource(str(name), bucket, prefix + str(suffix)))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ImageReadError(f"image {row.get('imageId')!r}: duplicate channel names {names}")
    return sources


def decode_tiff(source: bytes | str, label: str) -> np.ndarray:
    """Decode one channel TIFF (bytes or a file path) into a (Z, Y, X) array of uint8/uint16.
    Baseline uncompressed single-image grey TIFFs (what microscopes and tifffile write) are read by
    `bioims.imaging.tiff` without tifffile's parsing overhead; every other file, and every damaged
    one, goes through tifffile (equal arrays either way)."""
    try:
        array = read_baseline_tiff(source)
        if array is None:
            array = _decode_with_tifffile(source, label)
    except (UnsupportedImageError, ImageReadError):
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{label}: file not found") from None
    except Exception as exc:  # tifffile raises many types for corrupt or truncated data
        raise ImageReadError(f"{label}: not a readable TIFF ({type(exc).__name__}: {exc})") from None
    return as_zyx(array, label)


def _decode_with_tifffile(source: bytes | str, label: str) -> np.ndarray:
    with tifffile.TiffFile(io.BytesIO(source) if isinstance(source, bytes) else source) as tif:
        series = tif.series[0]
        samples = series.keyframe.samplesperpixel
        if samples > 1:
            raise UnsupportedImageError(f"{label}: {samples} samples per pixel; one grey channel per file expected")
        return series.asarray()


def as_zyx(array: np.ndarray, label: str) -> np.ndarray:
    """Check type and shape of one channel and give it the (Z, Y, X) layout."""
    full_scale(array.dtype)  # raises for unsupported types
    while array.ndim > 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim != 3:
        raise UnsupportedImageError(f"{label}: shape {array.shape}; 2-D (Y, X) or 3-D (Z, Y, X) expected")
    if 0 in array.shape:
        raise UnsupportedImageError(f"{label}: empty image of shape {array.shape}")
    return array


def read_channel(store: ObjectStore, key: str, label: str | None = None) -> np.ndarray:
    """Read one channel from a store; local objects are decoded from their path without a copy."""
    label = label or f"{store.bucket}/{key}"
    return decode_tiff(_stored_source(store, key, label), label)


def channel_geometry(store: ObjectStore, key: str, label: str | None = None) -> tuple[tuple[int, ...], np.dtype]:
    """The (Z, Y, X) shape and dtype (native byte order) that `read_channel` would return, with its
    errors. A baseline TIFF (`bioims.imaging.tiff`) tells them in its header, and its pixels cannot
    fail to read once its strips are known to lie inside the file, so only the header is read;
    every other file is decoded."""
    label = label or f"{store.bucket}/{key}"
    source = _stored_source(store, key, label)
    try:
        layout = baseline_tiff_layout(source)
    except FileNotFoundError:
        raise ImageReadError(f"{label}: file not found") from None
    if layout is not None:
        return (1, layout.height, layout.width), layout.dtype.newbyteorder("=")
    array = decode_tiff(source, label)
    return array.shape, array.dtype


def _stored_source(store: ObjectStore, key: str, label: str) -> bytes | str:
    """A local object's path (read in place), else the object's bytes."""
    path = store.local_path(key)
    if path is not None:
        if not store.exists(key):
            raise ImageReadError(f"{label}: missing (no object {key!r} in {store.bucket})")
        return path
    try:
        return store.get_bytes(key)
    except ObjectNotFound:
        raise ImageReadError(f"{label}: missing (no object {key!r} in {store.bucket})") from None


def read_image(stores: Any, sources: Sequence[ChannelSource], image_id: str = "") -> list[np.ndarray]:
    """Read every channel of an image (`stores.bucket(name)` gives each store); all channels must
    have the same (Z, Y, X) shape."""
    if not sources:
        raise ImageReadError(f"image {image_id!r} has no channels")
    channels = [
        read_channel(stores.bucket(s.bucket), s.key, f"image {image_id} channel {s.name} ({s.bucket}/{s.key})")
        for s in sources
    ]
    check_same_shape([s.name for s in sources], channels, image_id)
    return channels


def check_same_shape(names: Sequence[str], channels: Sequence[np.ndarray], image_id: str = "") -> None:
    first = channels[0].shape
    for name, channel in zip(names, channels, strict=True):
        if channel.shape != first:
            raise ImageShapeError(
                f"image {image_id}: channel {name!r} has shape {channel.shape} but {names[0]!r} has {first}"
            )


def write_tiff_bytes(array: np.ndarray) -> bytes:
    """Encode a 2-D or (Z, Y, X) channel as an uncompressed TIFF (tests, synthetic data)."""
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.asarray(array), photometric="minisblack")
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """The bytes `np.save` writes for an array (format 1.0 header + C-order data), built without
    the stream copies of `np.save` into a BytesIO; deterministic for equal arrays."""
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject:
        raise TypeError("object arrays are not stored")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    # one copy of the data, not two; arrays are buffers (numpy's stubs declare it only from Python 3.12)
    return b"".join((header.getvalue(), array.reshape(-1).view(np.uint8)))  # type: ignore[arg-type]


def load_npy(data: bytes, label: str) -> np.ndarray:
    try:
        return read_npy(data, name=label)
    except Exception as exc:
        raise ImageReadError(f"{label}: not a readable .npy array ({type(exc).__name__}: {exc})") from None


def json_bytes(value: Any) -> bytes:
    """Canonical JSON (sorted keys, compact) so equal outputs are byte-identical."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def npy_parts(array: np.ndarray) -> tuple[bytes, memoryview]:
    """The `.npy` file of an array (the bytes `npy_bytes` returns) as (header, view of the array's
    data): `ObjectStore.put_bytes` stores the parts one after the other, so a large array (a
    field's ~8 MB ROI tensor) is copied once, into the store's write buffer, instead of first into
    a joined bytes object. The view shares the array's memory: do not change the array until the
    write returns."""
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject:
        raise TypeError("object arrays are not stored")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    return header.getvalue(), memoryview(array.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
