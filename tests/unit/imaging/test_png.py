import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from bioims.imaging import png
from bioims.imaging.png import encode_png, sub_filtered

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("filter_type", sorted(png.FILTERS))
@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 7, 3), (9, 1, 3), (80, 100, 3), (33, 47), (1, 1)])
def test_pil_decodes_exactly_the_encoded_pixels(shape, filter_type):
    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    pixels[: shape[0] // 2] = 0  # runs of background, as in a dark field
    image = Image.open(io.BytesIO(encode_png(pixels, filter_type=filter_type)))
    assert image.format == "PNG" and image.mode == ("RGB" if len(shape) == 3 else "L")
    assert image.size == (shape[1], shape[0])
    np.testing.assert_array_equal(np.asarray(image), pixels)


def test_non_contiguous_input_is_encoded_as_its_values():
    pixels = np.arange(2 * 5 * 6 * 3, dtype=np.uint8).reshape(10, 6, 3)[::2, ::-1]
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(pixels)))), pixels)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4, 3), np.uint16),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
        np.zeros(4, np.uint8),
    ],
)
def test_unsupported_pixels_are_refused(bad):
    with pytest.raises(ValueError, match="PNG|empty"):
        encode_png(bad)


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk after the signature, each CRC checked with zlib's."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, payload = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + payload), kind
        chunks.append((kind, payload))
        at += 12 + length
    return chunks


def _dark_field(height: int, width: int) -> np.ndarray:
    """RGB pixels like a thumbnail's: smooth bright patches over a black background, with noise."""
    rng = np.random.default_rng(height * width)
    coarse = rng.random((height // 16 + 2, width // 16 + 2))
    smooth = ndi.zoom(coarse, 16, order=1)[:height, :width]
    value = np.clip((smooth - 0.55) * 700 + rng.normal(0, 6, (height, width)), 0, 255)
    return (value[..., None] * np.array([0.9, 0.5, 0.3])).astype(np.uint8)


def test_isal_is_installed_and_is_the_default_compressor():
    # a base dependency (pyproject.toml, image-constraints.txt and the Dockerfiles that run imaging)
    import isal  # noqa: F401

    assert png.deflate is png.isal_deflate


@pytest.mark.parametrize("filter_type", [None, *sorted(png.FILTERS)])
@pytest.mark.parametrize("compress", [png.isal_deflate, png.zlib_deflate], ids=["isal", "zlib"])
def test_the_idat_is_a_standard_zlib_stream_of_the_filtered_rows(compress, filter_type):
    pixels = _dark_field(800, 1000)  # a medium thumbnail's size: a multi-block deflate stream
    if filter_type is None:  # the default
        data, filter_type = encode_png(pixels, compress), png.NONE_FILTER
    else:
        data = encode_png(pixels, compress, filter_type=filter_type)
    chunks = _chunks(data)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (1000, 800, 8, 2, 0, 0, 0)
    stream = chunks[1][1]
    # zlib header (RFC 1950): deflate with a 32 KiB window (the largest any inflater must accept),
    # a valid check value and no preset dictionary, which PNG decoders do not support
    assert stream[0] == 0x78 and (stream[0] << 8 | stream[1]) % 31 == 0 and not stream[1] & 0x20
    scanlines = zlib.decompress(stream)  # the adler-32 trailer is checked too
    assert scanlines == png.FILTERS[filter_type](pixels, None).tobytes()
    assert scanlines[:: 1 + 1000 * 3] == bytes([filter_type]) * 800  # every row's filter byte
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)


def test_isal_and_zlib_files_differ_but_decode_to_the_same_pixels():
    pixels = _dark_field(80, 100)
    by_isal, by_zlib = encode_png(pixels, png.isal_deflate), encode_png(pixels, png.zlib_deflate)
    assert by_isal != by_zlib  # two different encoders really ran
    for data in (by_isal, by_zlib):
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)


def test_without_isal_the_encoder_falls_back_to_zlib():
    code = (
        "import io, sys\n"
        "sys.modules['isal'] = None  # as if it were not installed\n"
        "import numpy as np\n"
        "from PIL import Image\n"
        "from bioims.imaging import png\n"
        "assert png.deflate is png.zlib_deflate\n"
        "pixels = np.arange(40 * 30 * 3, dtype=np.uint32).astype(np.uint8).reshape(40, 30, 3)\n"
        "assert (np.asarray(Image.open(io.BytesIO(png.encode_png(pixels)))) == pixels).all()\n"
        "try:\n"
        "    png.isal_deflate(b'x')\n"
        "except RuntimeError as error:\n"
        "    print(error)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "isal package is not installed" in run.stdout


def test_the_filters_scanlines():
    pixels = np.array([[[10, 20, 30], [15, 5, 30]], [[0, 0, 0], [255, 1, 2]]], dtype=np.uint8)
    none = [[0, 10, 20, 30, 15, 5, 30], [0, 0, 0, 0, 255, 1, 2]]
    np.testing.assert_array_equal(png.unfiltered(pixels), none)
    sub = [[1, 10, 20, 30, 5, 241, 0], [1, 0, 0, 0, 255, 1, 2]]  # differences mod 256
    np.testing.assert_array_equal(sub_filtered(pixels), sub)
    with pytest.raises(ValueError, match="filter type"):
        encode_png(pixels, filter_type=2)


@pytest.mark.parametrize("filter_type", sorted(png.FILTERS))
def test_scanlines_go_into_the_callers_buffer_with_the_same_bytes(filter_type):
    pixels = np.random.default_rng(4).integers(0, 256, (21, 13, 3), dtype=np.uint8)
    buffer = np.full(png.scanline_shape(pixels), 7, dtype=np.uint8)
    assert buffer.shape == (21, 1 + 13 * 3)
    assert png.FILTERS[filter_type](pixels, buffer) is buffer
    np.testing.assert_array_equal(buffer, png.FILTERS[filter_type](pixels, None))
    assert encode_png(pixels, scanlines=buffer) == encode_png(pixels)
    assert encode_png(pixels, scanlines=buffer, filter_type=filter_type) == encode_png(pixels, filter_type=filter_type)
    grey = pixels[..., 0]
    assert png.scanline_shape(grey) == (21, 14)
    assert encode_png(grey, scanlines=np.empty((21, 14), np.uint8)) == encode_png(grey)
    for bad in (np.empty((21, 39), np.uint8), np.empty((21, 40), np.uint16)):
        with pytest.raises(ValueError, match="scanline buffer"):
            encode_png(pixels, scanlines=bad)
