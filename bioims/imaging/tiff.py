"""A fast reader for the TIFFs most microscopes and tifffile write: one baseline (classic, not
BigTIFF) image directory holding one uncompressed 8- or 16-bit unsigned grey sample per pixel, in
one or more strips, little- or big-endian.

tifffile reads these too, but its general parsing (pages, series detection, tag objects) costs about
a millisecond per file, more than reading the 2.5 MB of pixels of a BBBC021 channel; image
preprocessing decodes each channel file several times (inspection, thumbnails, flat fields, ROIs).
Here the header and tags are unpacked with `struct` and the strips are read straight into the output
array. Anything this reader does not fully understand, or that tifffile might read differently,
returns None and the caller uses tifffile: compression, tiles, predictors, several pages or a
z-stack, BigTIFF, other sample formats or sizes, tags outside a baseline allowlist (vendor formats
such as STK, LSM, FluoView, Micro-Manager), descriptions that make tifffile reshape the data
(ImageJ, OME, a tifffile shape other than the page's), strips that do not hold exactly the image's
bytes or lie beyond the end of the file (truncated files). So the two readers return equal arrays,
and every damaged file still reaches tifffile and its error.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

_T = TypeVar("_T")

_BYTE, _ASCII, _SHORT, _LONG = 1, 2, 3, 4
_FORMATS = {_BYTE: "B", _ASCII: "s", _SHORT: "H", _LONG: "I"}
_SIZES = {_BYTE: 1, _ASCII: 1, _SHORT: 2, _LONG: 4}

WIDTH, LENGTH, BITS, COMPRESSION, PHOTOMETRIC = 256, 257, 258, 259, 262
FILL_ORDER, DESCRIPTION, STRIP_OFFSETS, ORIENTATION, SAMPLES = 266, 270, 273, 274, 277
ROWS_PER_STRIP, STRIP_BYTE_COUNTS, PLANAR, SOFTWARE, PREDICTOR, SAMPLE_FORMAT = 278, 279, 284, 305, 317, 339
NEW_SUBFILE_TYPE = 254

# Tags whose values are read and checked; the remaining allowed ones are names, dates, resolution
# and the like, which change nothing about the pixels.
_CHECKED = frozenset(
    {
        NEW_SUBFILE_TYPE,
        WIDTH,
        LENGTH,
        BITS,
        COMPRESSION,
        PHOTOMETRIC,
        FILL_ORDER,
        DESCRIPTION,
        STRIP_OFFSETS,
        ORIENTATION,
        SAMPLES,
        ROWS_PER_STRIP,
        STRIP_BYTE_COUNTS,
        PLANAR,
        SOFTWARE,
        PREDICTOR,
        SAMPLE_FORMAT,
    }
)
# DocumentName, Make, Model, Min/MaxSampleValue, X/YResolution, PageName, X/YPosition,
# ResolutionUnit, PageNumber, DateTime, Artist, HostComputer, Copyright
_PASSIVE = frozenset({269, 271, 272, 280, 281, 282, 283, 285, 286, 287, 296, 297, 306, 315, 316, 33432})
# tifffile reads these differently from a plain page (series kinds keyed on the description or
# the software tag)
_DESCRIPTION_PREFIXES = ("ImageJ=", "SCIFIO=", "Aperio ", "state.", "shape=")
_DESCRIPTION_SUFFIXES = ("OME>", "</scn>", "</DataObject>")
_SOFTWARE_PREFIXES = ("SI.", "PerkinElmer-QPI", "Philips DP", "ScanOutputManager")


class _Source:
    """Random access to the bytes of a file path or an in-memory object."""

    def __init__(self, source: bytes | str | os.PathLike[str]):
        self.data: memoryview | None = None
        self.file: Any = None
        if isinstance(source, bytes | bytearray | memoryview):
            self.data = memoryview(source).cast("B")
            self.size = len(self.data)
        else:
            self.file = open(source, "rb", buffering=0)
            self.size = os.fstat(self.file.fileno()).st_size

    def read(self, offset: int, count: int) -> bytes:
        if offset < 0 or count < 0 or offset + count > self.size:
            raise _Unsupported
        if self.data is not None:
            return bytes(self.data[offset : offset + count])
        buffer = bytearray(count)
        self.read_into(memoryview(buffer), offset)
        return bytes(buffer)

    def read_into(self, target: memoryview, offset: int) -> None:
        if self.data is not None:
            target[:] = self.data[offset : offset + len(target)]
            return
        self.file.seek(offset)
        done = 0
        while done < len(target):
            got = self.file.readinto(target[done:])
            if not got:
                raise _Unsupported  # the file shrank under us: let tifffile report it
            done += got

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class _Unsupported(Exception):
    """Not a file for the fast path."""


@dataclass(frozen=True)
class BaselineLayout:
    """Where the pixels of a baseline TIFF lie: its (Y, X) shape, its dtype (file byte order) and
    its strips, each holding exactly its rows' bytes and lying wholly inside the file."""

    height: int
    width: int
    dtype: np.dtype
    offsets: tuple[int, ...]
    counts: tuple[int, ...]


def baseline_tiff_layout(source: bytes | str | os.PathLike[str]) -> BaselineLayout | None:
    """The layout of a baseline uncompressed single-image grey TIFF, from its header alone (no
    pixel is read); None for any other file. For such a file `read_baseline_tiff` returns a
    (height, width) array of this dtype (in native byte order), so the header tells what reading
    the pixels would: inspection reads only this. FileNotFoundError propagates; other OS errors
    give None."""
    return _with_reader(source, _layout)


def read_baseline_tiff(source: bytes | str | os.PathLike[str]) -> np.ndarray | None:
    """The (Y, X) uint8/uint16 image of a baseline uncompressed single-image grey TIFF, in native
    byte order; None for any other file (use tifffile). FileNotFoundError propagates; other OS
    errors give None, so tifffile reports them as it always did."""
    return _with_reader(source, lambda reader: _pixels(reader, _layout(reader)))


def _with_reader(source: bytes | str | os.PathLike[str], work: Callable[[_Source], _T]) -> _T | None:
    try:
        reader = _Source(source)
    except FileNotFoundError:
        raise
    except OSError:
        return None
    try:
        return work(reader)
    except (_Unsupported, struct.error, OSError, ValueError, UnicodeDecodeError):
        return None
    finally:
        reader.close()


def _layout(reader: _Source) -> BaselineLayout:
    head = reader.read(0, 8)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None:
        raise _Unsupported
    magic, first = struct.unpack(order + "HI", head[2:8])
    if magic != 42 or first < 8:  # BigTIFF (43), other formats, a broken header: tifffile
        raise _Unsupported
    tags = _directory(reader, order, first)

    width, height = _one(tags, WIDTH), _one(tags, LENGTH)
    bits = set(tags.get(BITS, (1,)))
    if (
        width < 1
        or height < 1
        or len(bits) != 1
        or bits.isdisjoint({8, 16})
        or _one(tags, COMPRESSION, 1) != 1
        or _one(tags, PHOTOMETRIC) not in (0, 1)
        or _one(tags, SAMPLES, 1) != 1
        or _one(tags, PLANAR, 1) != 1
        or _one(tags, PREDICTOR, 1) != 1
        or set(tags.get(SAMPLE_FORMAT, (1,))) != {1}
        or _one(tags, FILL_ORDER, 1) != 1
        or _one(tags, NEW_SUBFILE_TYPE, 0) != 0
        or _one(tags, ORIENTATION, 1) != 1
    ):
        raise _Unsupported
    _check_texts(tags, height, width)

    itemsize = bits.pop() // 8
    rows = min(_one(tags, ROWS_PER_STRIP, 2**32 - 1), height)
    offsets, counts = tags.get(STRIP_OFFSETS, ()), tags.get(STRIP_BYTE_COUNTS, ())
    strips = -(-height // rows)
    if len(offsets) != strips or len(counts) != strips:
        raise _Unsupported
    row_bytes = width * itemsize
    expected = [min(rows, height - k * rows) * row_bytes for k in range(strips)]
    if list(counts) != expected or any(o + n > reader.size for o, n in zip(offsets, counts, strict=True)):
        raise _Unsupported  # short, padded or truncated strips: tifffile decides
    dtype = np.dtype(order + ("u1" if itemsize == 1 else "u2"))
    return BaselineLayout(height, width, dtype, tuple(offsets), tuple(counts))


def _pixels(reader: _Source, layout: BaselineLayout) -> np.ndarray:
    offsets, counts = layout.offsets, layout.counts
    image = np.empty((layout.height, layout.width), dtype=layout.dtype)
    target = memoryview(image.reshape(-1).view(np.uint8))  # type: ignore[arg-type]  # a buffer (stubs: Python 3.12+)
    contiguous = all(offsets[k + 1] == offsets[k] + counts[k] for k in range(len(offsets) - 1))
    if contiguous:
        reader.read_into(target, offsets[0])
    else:
        position = 0
        for offset, count in zip(offsets, counts, strict=True):
            reader.read_into(target[position : position + count], offset)
            position += count
    if not layout.dtype.isnative:
        image = image.byteswap().view(layout.dtype.newbyteorder("="))
    return image


def _directory(reader: _Source, order: str, offset: int) -> dict[int, tuple]:
    """The tags of the only image directory: {code: values} for the checked tags."""
    (count,) = struct.unpack(order + "H", reader.read(offset, 2))
    block = reader.read(offset + 2, count * 12 + 4)
    (following,) = struct.unpack(order + "I", block[-4:])
    if following != 0:  # more pages (a z-stack, a thumbnail): tifffile
        raise _Unsupported
    tags: dict[int, tuple] = {}
    seen = set()
    for index in range(count):
        code, kind, number, field = struct.unpack(order + "HHI4s", block[index * 12 : index * 12 + 12])
        if code in seen or (code not in _CHECKED and code not in _PASSIVE):
            raise _Unsupported
        seen.add(code)
        if code in _PASSIVE:
            continue
        if kind not in _FORMATS or (kind == _ASCII) != (code in (DESCRIPTION, SOFTWARE)):
            raise _Unsupported
        size = _SIZES[kind] * number
        data = field[:size] if size <= 4 else reader.read(struct.unpack(order + "I", field)[0], size)
        if kind == _ASCII:
            text = data.rstrip(b"\0")  # as tifffile reads it: inner NULs stay and are refused here
            if b"\0" in text:
                raise _Unsupported
            tags[code] = (text.decode("utf-8"),)
        else:
            tags[code] = struct.unpack(f"{order}{number}{_FORMATS[kind]}", data)
    return tags


def _one(tags: dict[int, tuple], code: int, default: int | None = None) -> int:
    values = tags.get(code)
    if values is None:
        if default is None:
            raise _Unsupported
        return default
    if len(values) != 1:
        raise _Unsupported
    return int(values[0])


def _check_texts(tags: dict[int, tuple], height: int, width: int) -> None:
    """Refuse descriptions and software names for which tifffile builds a different series; a
    tifffile JSON description may only restate the page's shape (with leading 1s)."""
    description = str(tags.get(DESCRIPTION, ("",))[0])
    software = str(tags.get(SOFTWARE, ("",))[0])
    if (
        description.startswith(_DESCRIPTION_PREFIXES)
        or description.rstrip().endswith(_DESCRIPTION_SUFFIXES)
        or '"mibi.' in description
        or software.startswith(_SOFTWARE_PREFIXES)
        or "Ventana" in software
    ):
        raise _Unsupported
    if description.startswith("{"):
        if '"shape":' not in description:
            return
        metadata = json.loads(description)
        shape = metadata.get("shape") if isinstance(metadata, dict) else None
        if not isinstance(shape, list) or not all(isinstance(n, int) for n in shape):
            raise _Unsupported
        leading = shape[:-2]
        if shape[-2:] != [height, width] or any(n != 1 for n in leading):
            raise _Unsupported
