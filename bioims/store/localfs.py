"""Objects in a local directory: `<root>/<key>`.

Writes are atomic: the object is written to a temporary file in the same directory, fsync'ed and
renamed over the key, so a reader or a crash never sees half an object; an error removes the
temporary, and the one a killed writer left is removed when a later process writes into that
directory (bioims.atomic says when, at O(1) amortised cost per write).

Objects of 1 MiB and more (a field's ROI tensor is ~8 MB) are written with direct I/O from an
aligned buffer, padded to the block size and truncated to their exact length: on this project's
VMs the page-cache allocation of a buffered 8 MB write cost 3-9x the CPU (bioims.store.directio says
why, how the threshold was chosen, and how a filesystem without direct I/O falls back to buffered
writes). The bytes stored are the same either way.

`put_bytes` takes any C-contiguous bytes-like object, or a tuple of them stored one after the
other (e.g. a .npy header and a view of the array's pixels, `bioims.imaging.io.npy_parts`): the
parts are copied once, into the aligned buffer, never joined into a new bytes object first.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from bioims.atomic import temporary_beside
from bioims.store import directio
from bioims.store.ports import ObjectInfo, ObjectNotFound, Payload


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or "\\" in key or any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"invalid object key {key!r}")
    return key


def _check_prefix(prefix: str) -> str:
    """A list prefix stays inside the root like a key does: every part before the last '/' is a
    plain directory name (the last part may be any partial name, or empty)."""
    parts = prefix.split("/")
    if (
        prefix.startswith("/")
        or "\\" in prefix
        or any(part in ("", ".", "..") for part in parts[:-1])
        or parts[-1] in (".", "..")
    ):
        raise ValueError(f"invalid object key prefix {prefix!r}")
    return prefix


class LocalObjectStore:
    def __init__(self, root: Path, bucket: str | None = None):
        self.root = Path(root)
        self.bucket = bucket or self.root.name

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put_bytes(self, key: str, data: Payload, *, content_type: str | None = None) -> None:
        path = self._path(key)
        parts = _byte_views(key, data)
        size = sum(part.nbytes for part in parts)

        def write(fd: int, direct: bool) -> None:
            if direct:
                directio.write_chunks(fd, directio.fill_from_parts(parts), direct=True, directory=str(path.parent))
            else:
                directio.write_parts(fd, parts)

        _write_atomically(path, size, write)

    def put_file(self, key: str, path: str, *, content_type: str | None = None) -> None:
        target = self._path(key)
        with open(path, "rb", buffering=0) as src:
            size = os.fstat(src.fileno()).st_size

            def write(fd: int, direct: bool) -> None:
                directio.write_chunks(fd, directio.fill_from_stream(src), direct=direct, directory=str(target.parent))

            _write_atomically(target, size, write)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"{self.bucket}: no object {key!r}") from None

    def open(self, key: str) -> IO[bytes]:
        try:
            return open(self._path(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"{self.bucket}: no object {key!r}") from None

    def download(self, key: str, path: str) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, self.open(key) as src:
                shutil.copyfileobj(src, out, 1 << 20)
            os.replace(tmp, target)
        except BaseException:
            _silent_unlink(tmp)
            raise

    def head(self, key: str) -> ObjectInfo | None:
        try:
            stat = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not self._path(key).is_file():
            return None
        return ObjectInfo(key, stat.st_size, stat.st_mtime)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        _check_prefix(prefix)
        if not self.root.exists():
            return
        # Walk only the directory part of the prefix, then filter on the full prefix.
        base_dir = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / base_dir if base_dir else self.root
        if not start.is_dir():
            return
        found: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for filename in filenames:
                if filename.startswith(".") and filename.endswith(".tmp"):
                    continue
                full = Path(dirpath) / filename
                key = full.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    stat = full.stat()
                    found.append(ObjectInfo(key, stat.st_size, stat.st_mtime))
        yield from sorted(found, key=lambda info: info.key)

    def delete(self, key: str) -> None:
        _silent_unlink(self._path(key))

    def local_path(self, key: str) -> str | None:
        return str(self._path(key))


def _silent_unlink(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _byte_views(key: str, data: Payload) -> list[memoryview]:
    """The payload as flat byte views (no copy); a clear error, before anything is written, for
    anything else."""
    views = []
    for part in data if isinstance(data, tuple) else (data,):
        try:
            view = memoryview(part)
            if not view.c_contiguous:
                raise TypeError("not C-contiguous")
            views.append(view if view.ndim == 1 and view.format == "B" else view.cast("B"))
        except TypeError:
            raise TypeError(
                f"object {key!r}: data must be a C-contiguous bytes-like object or a tuple of them, "
                f"not {type(part).__name__}"
            ) from None
    return views


def _write_atomically(path: Path, size: int, write: Callable[[int, bool], None]) -> None:
    """Create a temporary beside `path` (O_DIRECT when worthwhile and allowed), let `write(fd,
    direct)` fill it, fsync, rename over `path`; on any error remove the temporary."""
    directory = str(path.parent)
    flags = directio.direct_flags(directory, size)
    try:
        fd, tmp = temporary_beside(path, flags=flags)
    except OSError as exc:
        if not flags or not directio.is_refusal(exc):
            raise
        directio.note_refusal(directory)
        flags = 0
        fd, tmp = temporary_beside(path)
    try:
        try:
            write(fd, bool(flags))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        _silent_unlink(tmp)
        raise
