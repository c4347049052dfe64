"""Reading .npy and .npz files without the `ast` module.

numpy parses an .npy header with `ast.literal_eval`. On CPython before 3.11.8, `ast` parsing from
several threads at once can corrupt the interpreter's AST recursion counter
(python/cpython#106905), after which every `ast.parse` in the process fails with "SystemError: AST
constructor recursion depth mismatch". The pipeline reads many small arrays from thread pools
(training-set checks, search snapshots), so it reads headers here with a strict parser of the
documented format instead (numpy's NEP 1: magic, version, little-endian header length, a dict
literal with 'descr', 'fortran_order' and 'shape'). Object arrays are refused (no pickles).
"""

from __future__ import annotations

import io
import os
import re
import struct
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

MAGIC = b"\x93NUMPY"
_DESCR = re.compile(r"""['"]descr['"]\s*:\s*['"]([^'"]+)['"]""")
_FORTRAN = re.compile(r"""['"]fortran_order['"]\s*:\s*(True|False)""")
_SHAPE = re.compile(r"""['"]shape['"]\s*:\s*\(([^)]*)\)""")


class NpyFormatError(ValueError):
    """Not an .npy file this reader accepts; the message says why."""


def _read_header(stream: IO[bytes], name: str) -> tuple[np.dtype, bool, tuple[int, ...], int]:
    """(dtype, fortran_order, shape, data offset) of the .npy file at the stream's start."""
    prefix = stream.read(8)
    if len(prefix) < 8 or prefix[:6] != MAGIC:
        raise NpyFormatError(f"{name}: not an .npy file")
    major = prefix[6]
    if major == 1:
        raw = stream.read(2)
        length, start = (struct.unpack("<H", raw)[0] if len(raw) == 2 else -1), 10
    elif major in (2, 3):
        raw = stream.read(4)
        length, start = (struct.unpack("<I", raw)[0] if len(raw) == 4 else -1), 12
    else:
        raise NpyFormatError(f"{name}: unsupported .npy format version {major}")
    if length < 0:
        raise NpyFormatError(f"{name}: truncated .npy header")
    header = stream.read(length)
    if len(header) != length:
        raise NpyFormatError(f"{name}: truncated .npy header")
    text = header.decode("utf-8" if major == 3 else "latin1")
    descr, fortran, shape = _DESCR.search(text), _FORTRAN.search(text), _SHAPE.search(text)
    if not (descr and fortran and shape):
        raise NpyFormatError(f"{name}: .npy header without a plain dtype, order and shape: {text.strip()!r}")
    try:
        dtype = np.dtype(descr.group(1))
        dims = tuple(int(part) for part in shape.group(1).split(",") if part.strip())
    except (TypeError, ValueError) as exc:
        raise NpyFormatError(f"{name}: bad .npy header {text.strip()!r}: {exc}") from None
    if dtype.hasobject:
        raise NpyFormatError(f"{name}: object arrays are not read (they would need pickle)")
    if any(d < 0 for d in dims):
        raise NpyFormatError(f"{name}: negative dimension in shape {dims}")
    return dtype, fortran.group(1) == "True", dims, start + length


def npy_header(stream: IO[bytes], name: str = "array") -> tuple[np.dtype, bool, tuple[int, ...], int]:
    """(dtype, fortran_order, shape, data offset) of an .npy stream, reading only its header."""
    return _read_header(stream, name)


def _from_bytes(data: bytes, name: str) -> np.ndarray:
    dtype, fortran, shape, offset = _read_header(io.BytesIO(data), name)
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - offset < count * dtype.itemsize:
        raise NpyFormatError(f"{name}: file holds fewer bytes than shape {shape} of {dtype} needs")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran else "C").copy(order="K")


def read_npy(source: bytes | str | os.PathLike, *, mmap: bool = False, name: str | None = None) -> np.ndarray:
    """The array of an .npy file given as bytes or a path; `mmap` maps a path read-only."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(source), name or "array")
    path = Path(source)
    label = name or str(path)
    if not mmap:
        return _from_bytes(path.read_bytes(), label)
    with open(path, "rb") as stream:
        dtype, fortran, shape, offset = _read_header(stream, label)
    count = int(np.prod(shape, dtype=np.int64))
    if count == 0:
        return np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    if path.stat().st_size - offset < count * dtype.itemsize:
        raise NpyFormatError(f"{label}: file holds fewer bytes than shape {shape} of {dtype} needs")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def read_npz(source: bytes | str | os.PathLike, *, name: str | None = None) -> dict[str, np.ndarray]:
    """Every array of an .npz archive (as written by np.savez / np.savez_compressed)."""
    label = name or ("archive" if isinstance(source, (bytes, bytearray, memoryview)) else str(source))
    stream = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else open(source, "rb")
    try:
        with zipfile.ZipFile(stream) as archive:
            return {
                member[: -len(".npy")] if member.endswith(".npy") else member: _from_bytes(
                    archive.read(member), f"{label}:{member}"
                )
                for member in archive.namelist()
            }
    except zipfile.BadZipFile as exc:
        raise NpyFormatError(f"{label}: not an .npz archive ({exc})") from None
    finally:
        stream.close()
