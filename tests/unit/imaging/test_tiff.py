"""The fast baseline-TIFF reader against tifffile: the same array for every file it reads, and None
(so decode_tiff uses tifffile) for every file it should not read, damaged files included."""

from __future__ import annotations

import io
import logging
import struct
import warnings

import numpy as np
import pytest
import tifffile

from bioims.imaging.errors import ImageReadError
from bioims.imaging.io import as_zyx, decode_tiff
from bioims.imaging.tiff import read_baseline_tiff
from tests.unit.imaging import previous_pipeline as previous


def tiff_bytes(array: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **options)
    return buffer.getvalue()


def tifffile_zyx(source) -> np.ndarray | Exception:
    """What decode_tiff returned before the fast path: tifffile's first series as (Z, Y, X), or the
    exception it raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with tifffile.TiffFile(io.BytesIO(source) if isinstance(source, bytes) else source) as tif:
                return as_zyx(tif.series[0].asarray(), "x")
    except Exception as exc:
        return exc


def same_outcome(source) -> bool:
    """decode_tiff now and before: equal arrays, or the same error and message."""
    outcomes = []
    for decode in (decode_tiff, previous.decode_tiff):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcomes.append(decode(source, "img"))
        except Exception as exc:
            outcomes.append(exc)
    new, old = outcomes
    if isinstance(old, Exception):
        assert type(new) is type(old) and str(new) == str(old), (new, old)
    else:
        assert isinstance(new, np.ndarray), new
        assert new.dtype == old.dtype and new.shape == old.shape and new.tobytes() == old.tobytes()
    return True


def assert_fast_equals_tifffile(source) -> np.ndarray:
    fast = read_baseline_tiff(source)
    assert fast is not None, "expected the fast path to read this file"
    reference = tifffile_zyx(source)
    assert isinstance(reference, np.ndarray), reference
    ours = as_zyx(fast, "x")
    assert ours.dtype == reference.dtype and ours.dtype.isnative and ours.shape == reference.shape
    assert ours.tobytes() == reference.tobytes()
    assert ours.flags.writeable
    return fast


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("rowsperstrip", [None, 1, 7, 64])
@pytest.mark.parametrize("photometric", ["minisblack", "miniswhite"])
def test_written_by_tifffile_with_options(tmp_path, byteorder, dtype, rowsperstrip, photometric):
    rng = np.random.default_rng(hash((byteorder, rowsperstrip)) % 2**32)
    image = rng.integers(0, np.iinfo(dtype).max + 1, (45, 61)).astype(dtype)
    data = tiff_bytes(image, byteorder=byteorder, rowsperstrip=rowsperstrip, photometric=photometric)
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    for source in (data, str(path), path):
        np.testing.assert_array_equal(assert_fast_equals_tifffile(source), image)


@pytest.mark.parametrize(
    "options",
    [
        {"description": "plain text from a microscope", "metadata": None},
        {"metadata": None},  # no description at all
        {"metadata": {"axes": "YX"}},
        {"software": "MetaXpress", "resolution": (2.0, 2.0), "datetime": "2024:01:01 00:00:00"},
    ],
)
def test_descriptions_and_passive_tags_keep_the_fast_path(options):
    image = np.arange(30 * 40, dtype=np.uint16).reshape(30, 40)
    assert_fast_equals_tifffile(tiff_bytes(image, photometric="minisblack", **options))


def test_full_size_channel_and_a_leading_unit_axis():
    image = np.random.default_rng(0).integers(0, 65536, (1024, 1280)).astype(np.uint16)
    assert_fast_equals_tifffile(tiff_bytes(image, photometric="minisblack"))
    # a (1, Y, X) array: tifffile's description says [1, Y, X]; both give (1, Y, X)
    assert_fast_equals_tifffile(tiff_bytes(image[np.newaxis, :100], photometric="minisblack"))


def handmade_tiff(
    image: np.ndarray, *, order: str = "<", rows: int = 4, shuffle: bool = True, short_offsets: bool = False
) -> bytes:
    """A baseline TIFF laid out as other writers do: strips out of order with gaps between them and
    the image directory at the end of the file."""
    itemsize = image.dtype.itemsize
    height, width = image.shape
    pixels = image.astype(image.dtype.newbyteorder(order)).tobytes()
    strip = rows * width * itemsize
    strips = [pixels[k * strip : (k + 1) * strip] for k in range(-(-height // rows))]
    body = bytearray((b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 0))
    offsets = [0] * len(strips)
    for k in reversed(range(len(strips))) if shuffle else range(len(strips)):
        body += b"\x55" * 3  # a gap of junk
        offsets[k] = len(body)
        body += strips[k]
    if len(body) % 2:
        body += b"\0"

    tags = [
        (256, 4, [width], "I"),
        (257, 4, [height], "I"),
        (258, 3, [8 * itemsize], "H"),
        (259, 3, [1], "H"),
        (262, 3, [1], "H"),
        (273, 3, offsets, "H") if short_offsets else (273, 4, offsets, "I"),
        (277, 3, [1], "H"),
        (278, 4, [rows], "I"),
        (279, 4, [len(s) for s in strips], "I"),
    ]
    extra = bytearray()
    ifd_offset = len(body)
    entries_size = 2 + 12 * len(tags) + 4
    entries = bytearray(struct.pack(order + "H", len(tags)))
    for code, kind, values, fmt in tags:
        packed = struct.pack(order + fmt * len(values), *values)
        if len(packed) <= 4:
            field = packed.ljust(4, b"\0")
        else:
            field = struct.pack(order + "I", ifd_offset + entries_size + len(extra))
            extra += packed
        entries += struct.pack(order + "HHI", code, kind, len(values)) + field
    entries += struct.pack(order + "I", 0)
    body += entries + extra
    body[4:8] = struct.pack(order + "I", ifd_offset)
    return bytes(body)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_strips_out_of_order_with_gaps_and_the_directory_at_the_end(order, dtype):
    image = np.random.default_rng(1).integers(0, np.iinfo(dtype).max + 1, (23, 17)).astype(dtype)
    for rows, short in ((4, False), (1, True), (23, False), (50, False)):
        data = handmade_tiff(image, order=order, rows=rows, short_offsets=short and image.nbytes < 60000)
        np.testing.assert_array_equal(assert_fast_equals_tifffile(data), image)


@pytest.mark.parametrize(
    "array, options",
    [
        (np.ones((20, 30), np.uint16), {"compression": "zlib"}),
        (np.ones((20, 30), np.uint16), {"compression": "zlib", "predictor": True}),
        (np.ones((32, 48), np.uint16), {"tile": (16, 16)}),
        (np.ones((3, 20, 30), np.uint16), {}),  # a z-stack: several pages
        (np.ones((20, 30), np.uint16), {"bigtiff": True}),
        (np.ones((20, 30), np.int16), {}),
        (np.ones((20, 30), np.float32), {}),
        (np.ones((20, 30), np.uint32), {}),
        (np.ones((20, 30, 3), np.uint8), {"photometric": "rgb"}),
        (np.ones((20, 30), np.uint16), {"imagej": True}),
        (np.ones((20, 30), np.uint16), {"ome": True}),
        (np.ones((20, 30), np.uint16), {"extratags": [(65000, "s", 0, "vendor", True)]}),
        (np.ones((20, 30), np.uint16), {"software": "SI.LINE"}),
        (np.ones((20, 30), np.uint16), {"description": "shape=(20,30)", "metadata": None}),
        (np.ones((20, 30), np.uint16), {"description": '{"shape": [30, 20]}', "metadata": None}),
        (np.ones((20, 30), np.uint16), {"description": '{"shape": [2, 10, 30]}', "metadata": None}),
        (np.ones((20, 30), np.uint16), {"subfiletype": 1}),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_other_files_fall_back_to_tifffile_with_the_same_result(array, options):
    options = {"photometric": "minisblack", **options}
    data = tiff_bytes(array, **options)
    assert read_baseline_tiff(data) is None
    assert same_outcome(data)


def test_truncated_and_damaged_files_reach_tifffile_and_its_clear_errors(tmp_path):
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    image = np.random.default_rng(2).integers(0, 65536, (40, 50)).astype(np.uint16)
    data = tiff_bytes(image, photometric="minisblack", rowsperstrip=8)
    header_end = data.index(b"tifffile.py") + 12  # the directory and its values come first
    for cut in (0, 3, 7, 9, 40, header_end, header_end + 100, len(data) // 2, len(data) - 1):
        assert read_baseline_tiff(data[:cut]) is None, cut
        path = tmp_path / f"cut{cut}.tif"
        path.write_bytes(data[:cut])
        assert read_baseline_tiff(path) is None
        with pytest.raises(ImageReadError, match="not a readable TIFF"):
            decode_tiff(data[:cut], f"cut at {cut}")
        with pytest.raises(ImageReadError, match="not a readable TIFF"):
            decode_tiff(str(path), f"cut at {cut}")
        assert same_outcome(data[:cut]) and same_outcome(str(path))
    with pytest.raises(ImageReadError, match="file not found"):
        decode_tiff(str(tmp_path / "missing.tif"), "missing")
    with pytest.raises(ImageReadError, match="not a readable TIFF"):
        decode_tiff(str(tmp_path), "a directory")


def test_random_damage_never_gives_an_array_tifffile_would_not_give():
    """Byte flips in the header and directory, truncation and trailing junk: whenever the fast path
    returns an array, tifffile reads the same array."""
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    rng = np.random.default_rng(3)
    read = 0
    for _ in range(600):
        dtype = rng.choice([np.uint8, np.uint16])
        image = rng.integers(0, np.iinfo(dtype).max + 1, (int(rng.integers(1, 30)), int(rng.integers(1, 30))))
        options = {"byteorder": str(rng.choice(["<", ">"])), "photometric": "minisblack"}
        if rng.random() < 0.5:
            options["rowsperstrip"] = int(rng.integers(1, image.shape[0] + 2))
        data = bytearray(tiff_bytes(image.astype(dtype), **options))
        damage = rng.integers(0, 3)
        if damage == 0:
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(0, min(len(data), 300)))] = int(rng.integers(0, 256))
        elif damage == 1:
            data = data[: int(rng.integers(0, len(data)))]
        else:
            data += bytes(rng.integers(0, 256, int(rng.integers(1, 50)), dtype=np.uint8))
        fast = read_baseline_tiff(bytes(data))
        if fast is None:
            continue  # decode_tiff runs tifffile as before (some damaged files take it seconds)
        read += 1
        reference = tifffile_zyx(bytes(data))
        assert isinstance(reference, np.ndarray), reference
        assert as_zyx(fast, "x").tobytes() == reference.tobytes() and fast.dtype == reference.dtype
        assert same_outcome(bytes(data))
    assert read > 100  # the damage often leaves pixel data or harmless bytes alone
