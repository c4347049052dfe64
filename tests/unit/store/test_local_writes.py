"""Writes of the local object store: the same bytes on the direct-I/O path (from 1 MiB) and the
buffered one, at every alignment boundary; the fallback where a filesystem refuses O_DIRECT; what
put_bytes accepts (bytes-like or a tuple of parts) on the local store and on S3 (moto)."""

from __future__ import annotations

import errno
import fcntl
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from bioims.imaging.io import npy_bytes, npy_parts
from bioims.store import directio
from bioims.store.localfs import LocalObjectStore

T = directio.DIRECT_MIN_BYTES
SIZES = [0, 1, 4095, 4096, 4097, T - 1, T, T + 1, 8 * 1024 * 1024 + 128, directio.CHUNK + 4097]
needs_o_direct = pytest.mark.skipif(not directio.O_DIRECT, reason="this platform has no O_DIRECT")


@pytest.fixture(autouse=True)
def fresh_refusals(monkeypatch):
    """Each test starts with no remembered refusal (they are per process)."""
    monkeypatch.setattr(directio, "_allowed", {})
    monkeypatch.setattr(directio, "_refused_devices", set())


@pytest.fixture
def opens(monkeypatch):
    """The flags of every temporary the store opens."""
    seen: list[int] = []
    real = os.open

    def spy(path, flags, *args, **kwargs):
        fd = real(path, flags, *args, **kwargs)
        if str(path).endswith(".tmp"):
            seen.append(flags)
        return fd

    monkeypatch.setattr(os, "open", spy)
    return seen


def _data(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob(".*"))


@pytest.mark.parametrize("size", SIZES)
def test_every_size_is_stored_byte_for_byte(size, tmp_path, opens):
    store = LocalObjectStore(tmp_path / "bucket")
    data = _data(size, seed=size)
    third = size // 3
    store.put_bytes("p/bytes", data)
    store.put_bytes("p/parts", (data[:third], bytearray(data[third : 2 * third]), memoryview(data)[2 * third :]))
    store.put_bytes("p/view", memoryview(bytearray(data)))
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    store.put_file("p/file", str(source))
    for key in ("p/bytes", "p/parts", "p/view", "p/file"):
        path = tmp_path / "bucket" / key
        assert path.stat().st_size == size, key
        assert path.read_bytes() == data, key
        assert store.get_bytes(key) == data, key
    direct = [bool(flags & directio.O_DIRECT) for flags in opens] if directio.O_DIRECT else [False] * len(opens)
    assert direct == [bool(directio.O_DIRECT) and size >= T] * 4
    assert _leftovers(tmp_path / "bucket") == []


def test_rewrites_replace_larger_and_smaller_objects_exactly(tmp_path):
    store = LocalObjectStore(tmp_path)
    for size in (8 * 1024 * 1024 + 1, T + 5, 3, T * 3 + 4095, 0):
        data = _data(size, seed=size)
        store.put_bytes("k", data)
        assert store.get_bytes("k") == data


def test_an_npy_written_in_parts_equals_np_save(tmp_path):
    store = LocalObjectStore(tmp_path)
    tensor = np.random.default_rng(1).integers(0, 65535, (85, 3, 1, 128, 128), dtype=np.uint16)
    header, pixels = npy_parts(tensor)
    assert pixels.obj is not None and np.shares_memory(np.asarray(pixels), tensor)  # no copy before the store's
    store.put_bytes("r-train.npy", (header, pixels))
    saved = io.BytesIO()
    np.save(saved, tensor)
    assert store.get_bytes("r-train.npy") == saved.getvalue() == npy_bytes(tensor)
    np.testing.assert_array_equal(np.load(tmp_path / "r-train.npy"), tensor)
    # A multi-dimensional buffer of another item type is stored as its bytes, in C order.
    store.put_bytes("raw", memoryview(tensor))
    assert store.get_bytes("raw") == tensor.tobytes()


@pytest.mark.parametrize(
    "bad",
    ["text", 42, None, (b"ok", "text"), np.zeros((4, 4), np.uint8)[:, ::2], memoryview(b"abcdef")[::2]],
    ids=["str", "int", "None", "tuple-with-str", "strided-array", "strided-view"],
)
def test_data_that_is_not_bytes_like_is_refused_and_writes_nothing(bad, tmp_path):
    store = LocalObjectStore(tmp_path)
    store.put_bytes("k", b"before")
    with pytest.raises(TypeError, match="bytes-like"):
        store.put_bytes("k", bad)
    assert store.get_bytes("k") == b"before" and _leftovers(tmp_path) == []


@needs_o_direct
def test_refused_at_open_falls_back_and_is_remembered_per_device(tmp_path, monkeypatch):
    """As Linux does on a filesystem without direct I/O: the file is created, then open fails."""
    real = os.open
    tried: list[str] = []

    def refusing(path, flags, *args, **kwargs):
        if flags & directio.O_DIRECT:
            os.close(real(path, flags & ~directio.O_DIRECT, *args, **kwargs))
            tried.append(str(path))
            raise OSError(errno.EINVAL, "Invalid argument", str(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    store = LocalObjectStore(tmp_path)
    big = _data(3 * T + 17)
    store.put_bytes("a/one", big)
    store.put_bytes("a/two", big)
    store.put_bytes("b/three", big)  # another directory on the same device
    source = tmp_path / "src.bin"
    source.write_bytes(big)
    store.put_file("c/four", str(source))
    for key in ("a/one", "a/two", "b/three", "c/four"):
        assert store.get_bytes(key) == big
    assert len(tried) == 1  # refused once, then never tried again on that device
    assert _leftovers(tmp_path) == []


@needs_o_direct
def test_refused_at_write_falls_back_to_buffered(tmp_path, monkeypatch):
    real = os.pwrite
    refusals = []

    def refusing(fd, data, offset):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & directio.O_DIRECT:
            refusals.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", refusing)
    store = LocalObjectStore(tmp_path)
    big = _data(directio.CHUNK * 2 + 4097)
    store.put_bytes("a/one", big)
    store.put_bytes("a/two", big)
    assert store.get_bytes("a/one") == big and store.get_bytes("a/two") == big
    assert refusals == [0]
    assert _leftovers(tmp_path) == []


@needs_o_direct
def test_a_short_direct_write_is_completed(tmp_path, monkeypatch):
    """The kernel may write less than asked; when that leaves the offset unaligned, the rest goes
    buffered (not counted as a refusal), and the bytes are the same."""
    real = os.pwrite
    shortened = []

    def short_once(fd, data, offset):
        if shortened:
            return real(fd, data, offset)
        shortened.append(offset)
        side = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)  # no O_DIRECT: 1000 bytes may be written
        try:
            return real(side, memoryview(data)[:1000], offset)
        finally:
            os.close(side)

    monkeypatch.setattr(os, "pwrite", short_once)
    store = LocalObjectStore(tmp_path)
    big = _data(2 * T + 3)
    store.put_bytes("k", big)
    assert store.get_bytes("k") == big and shortened == [0]
    assert False not in directio._allowed.values()


def test_on_tmpfs_the_bytes_are_the_same_whether_or_not_it_takes_o_direct():
    """tmpfs refuses O_DIRECT before Linux 6.6 and takes it since: either way, same bytes."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no writable tmpfs at /dev/shm")
    root = Path(tempfile.mkdtemp(dir=shm, prefix="bioims-test-"))
    try:
        store = LocalObjectStore(root)
        for size in (T - 1, T, 5 * T + 4097):
            data = _data(size, seed=size)
            store.put_bytes(f"k{size}", data)
            assert store.get_bytes(f"k{size}") == data
        assert _leftovers(root) == []
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("size", [10, 3 * T])
def test_a_failed_write_removes_its_temporary_and_keeps_the_old_object(size, tmp_path, monkeypatch):
    store = LocalObjectStore(tmp_path)
    store.put_bytes("k", b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        store.put_bytes("k", _data(size))
    monkeypatch.undo()
    assert store.get_bytes("k") == b"old" and _leftovers(tmp_path) == []


def test_put_bytes_takes_views_and_parts_on_every_backend(backend_ctx):
    """The same payload types through the port on the local store and on S3 (moto)."""
    store = backend_ctx.stores.data
    data = _data(T + 5)
    tensor = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    store.put_bytes("t/view", memoryview(data)[5:])
    store.put_bytes("t/bytearray", bytearray(b"abc"))
    store.put_bytes("t/parts", (b"head", memoryview(data)))
    store.put_bytes("t/npy", npy_parts(tensor), content_type="application/octet-stream")
    assert store.get_bytes("t/view") == data[5:]
    assert store.get_bytes("t/bytearray") == b"abc"
    assert store.get_bytes("t/parts") == b"head" + data
    assert store.get_bytes("t/npy") == npy_bytes(tensor)
