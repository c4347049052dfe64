"""PNG encoding of 8-bit RGB and grey images with numpy and ISA-L's deflate, for the thumbnails.

Why not PIL's encoder: PIL picks a filter per row by trying all five (adaptive filtering) in C
before zlib sees the data, which costs more than the compression itself (a 1000 x 800 RGB
thumbnail: ~83 ms at zlib level 1). Here every row gets one filter, chosen by the caller: None
(the bytes as they are) or Sub (the byte minus the same channel's byte one pixel to the left, mod
256, one numpy subtraction for the whole image, ~0.2 ms). Which compresses better depends on the
image (benchmarks/thumbnails.py part 2, 1000-px thumbnails of 1024 x 1280 synthetic fields, ISA-L
level 2, cases interleaved: None 7.6 ms for 1.262 MB, Sub 8.7 ms for 1.274 MB; their 100-px thumbnails: None 7 %
smaller). Upscaled images are smooth along rows and favour Sub (1000-px thumbnails of 256 x 320
fields: None 18 % larger; of 512 x 640 fields: 4 %), and so does heavy noise (Gaussian noise of
40 grey levels added to the raw channels: None 2.6 % larger); with 10 levels None is still 1.5 %
smaller and faster. bioims.imaging.thumbnails picks None for downscaled thumbnails, Sub for
upscaled ones; FILTER (None) is the default for other callers.

Why ISA-L (the `isal` package) and not zlib: after filtering, deflate is nearly all of the cost.
On the Sub-filtered rows of the 1000 x 800 thumbnail of a BBBC021-size synthetic field (one core,
CPU time, benchmarks/thumbnails.py, 3 fields, three runs): zlib level 1 with its run-length strategy
(Z_RLE, the previous encoder) 30-33 ms for 1.18 MB; ISA-L level 2 9-11 ms for 1.27 MB (+8.3 %);
level 1 0.5-0.9 ms slower and 0.2 % larger than level 2, level 3 ~1.4x level 2's time for 0.4 %
less, level 0 about as fast as level 2 but +31 %. So ISA-L level 2. (zlib-ng, measured for issue
17: ~24 ms at zlib's size.) ISA-L writes standard zlib streams (32 KiB window, no preset
dictionary) that zlib, libpng and browsers inflate (tested with zlib, PIL and Chromium). Its
CRC-32 is also several times faster than zlib's. Without `isal` (a base dependency; this keeps a
checkout without it working) zlib level 1 Z_RLE is used: same pixels, ~8 % smaller, ~3x slower.

PNG is lossless, so any decoder gives back exactly the pixels that were encoded (tested).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import numpy as np

try:
    from isal import isal_zlib
except ImportError:  # isal is a base dependency; this keeps a checkout without it working (tested)
    isal_zlib = None  # type: ignore[assignment]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
NONE_FILTER = 0
SUB_FILTER = 1
FILTER = NONE_FILTER  # the filter of every row: see the module docstring for the measurements
COLOUR_TYPES = {1: 0, 3: 2}  # samples per pixel -> PNG colour type (grey, RGB)
ISAL_LEVEL = 2  # ISA-L levels are 0-3: see the module docstring for the measurements
ZLIB_LEVEL = 1  # the fallback: zlib level 1, run-length strategy


def zlib_deflate(data: np.ndarray | bytes) -> bytes:
    """A zlib stream of the bytes with zlib (level 1, Z_RLE): the encoder without ISA-L."""
    compressor = zlib.compressobj(ZLIB_LEVEL, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    # arrays are buffers; numpy's stubs declare it only from Python 3.12
    return compressor.compress(data) + compressor.flush()  # type: ignore[arg-type]


def isal_deflate(data: np.ndarray | bytes) -> bytes:
    """A zlib stream of the bytes with ISA-L (level ISAL_LEVEL, 32 KiB window)."""
    if isal_zlib is None:
        raise RuntimeError("the isal package is not installed (pip install isal)")
    return isal_zlib.compress(data, ISAL_LEVEL)


deflate: Callable[[np.ndarray | bytes], bytes] = zlib_deflate if isal_zlib is None else isal_deflate
_crc32: Callable[[bytes, int], int] = zlib.crc32 if isal_zlib is None else isal_zlib.crc32


def _chunk(kind: bytes, data: bytes) -> list[bytes]:
    """A PNG chunk as its parts (joined once for the whole file: no copies of a large IDAT)."""
    return [struct.pack(">I", len(data)), kind, data, struct.pack(">I", _crc32(data, _crc32(kind, 0)))]


def _scanline_buffer(rows: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    shape = (rows.shape[0], rows.shape[1] + 1)
    if out is None:
        return np.empty(shape, dtype=np.uint8)
    if out.shape != shape or out.dtype != np.uint8:
        raise ValueError(f"the scanline buffer must be {shape} uint8, not {out.shape} {out.dtype}")
    return out


def unfiltered(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(H, 1 + W * S) uint8 scanlines: the filter-type byte 0 (None), then the row's bytes as they
    are. out: an array of that shape and type to write them into (a buffer kept by the caller: a
    fresh 2.4 MB array per 1000-px thumbnail costs page faults)."""
    rows = pixels.reshape(pixels.shape[0], -1)
    out = _scanline_buffer(rows, out)
    out[:, 0] = NONE_FILTER
    out[:, 1:] = rows
    return out


def sub_filtered(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(H, 1 + W * S) uint8 scanlines: the filter-type byte 1 (Sub), then each byte minus the
    byte S to its left (0 left of the first pixel). out: as `unfiltered`'s."""
    samples = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = pixels.reshape(pixels.shape[0], -1)
    out = _scanline_buffer(rows, out)
    out[:, 0] = SUB_FILTER
    out[:, 1 : 1 + samples] = rows[:, :samples]
    np.subtract(rows[:, samples:], rows[:, :-samples], out=out[:, 1 + samples :])
    return out


FILTERS: dict[int, Callable[[np.ndarray, np.ndarray | None], np.ndarray]] = {
    NONE_FILTER: unfiltered,
    SUB_FILTER: sub_filtered,
}


def scanline_shape(pixels: np.ndarray) -> tuple[int, int]:
    """The shape of the scanlines of pixels: (H, 1 + W * S)."""
    return pixels.shape[0], 1 + int(np.prod(pixels.shape[1:]))


def encode_png(
    pixels: np.ndarray,
    compress: Callable[[np.ndarray | bytes], bytes] | None = None,
    *,
    scanlines: np.ndarray | None = None,
    filter_type: int = FILTER,
) -> bytes:
    """PNG bytes of a (H, W) grey or (H, W, 3) RGB uint8 image (8 bits, no interlace). compress:
    the zlib-stream compressor of the filtered rows (default: ISA-L's, or zlib's without isal).
    scanlines: a reusable uint8 buffer of `scanline_shape(pixels)` for the filtered rows;
    filter_type: the PNG filter of every row (one of FILTERS)."""
    if filter_type not in FILTERS:
        raise ValueError(f"PNG filter type must be one of {sorted(FILTERS)}, not {filter_type}")
    pixels = np.ascontiguousarray(pixels)
    if (
        pixels.dtype != np.uint8
        or pixels.ndim not in (2, 3)
        or (pixels.ndim == 3 and pixels.shape[2] not in COLOUR_TYPES)
    ):
        raise ValueError(f"PNG encoding needs (H, W) or (H, W, 3) uint8 pixels, not {pixels.shape} {pixels.dtype}")
    height, width = pixels.shape[:2]
    if height == 0 or width == 0:
        raise ValueError(f"cannot encode an empty image of shape {pixels.shape}")
    colour_type = COLOUR_TYPES[1 if pixels.ndim == 2 else pixels.shape[2]]
    data = (compress or deflate)(FILTERS[filter_type](pixels, scanlines))
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"".join([SIGNATURE, *_chunk(b"IHDR", header), *_chunk(b"IDAT", data), *_chunk(b"IEND", b"")])
