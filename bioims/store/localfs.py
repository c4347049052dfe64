"""Objects in a local directory: `<root>/<key>`. Writes are atomic (temporary file in the same
directory, fsync, rename), so a reader or a crash never sees half an object; the temporary a
killed writer left is removed when the key is written again (bioims.atomic)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from bioims.atomic import temporary_beside
from bioims.store.ports import ObjectInfo, ObjectNotFound


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

    def _atomic_target(self, key: str):
        path = self._path(key)
        fd, tmp = temporary_beside(path)  # also removes temporaries a killed writer of this key left
        return path, fd, tmp

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        path, fd, tmp = self._atomic_target(key)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            _silent_unlink(tmp)
            raise

    def put_file(self, key: str, path: str, *, content_type: str | None = None) -> None:
        target, fd, tmp = self._atomic_target(key)
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            _silent_unlink(tmp)
            raise

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
