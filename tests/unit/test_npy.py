"""The ast-free .npy/.npz reader gives what numpy wrote, refuses what it must, and never parses
Python (numpy's own reader calls ast.literal_eval, unsafe from threads on CPython < 3.11.8)."""

from __future__ import annotations

import ast
import io
import threading

import numpy as np
import pytest

from bioims.npy import NpyFormatError, read_npy, read_npz

ARRAYS = [
    np.arange(24, dtype=np.uint16).reshape(2, 3, 1, 2, 2),
    np.array([-1, 5, 7], dtype=np.int32),
    np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4),
    np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
    np.array(3.5),
    np.zeros((0, 3, 1, 8, 8), dtype=np.uint16),
    np.array(["img-a", "image-bb"]),
    np.array([True, False]),
    np.array([1 + 2j], dtype=np.complex64),
    np.arange(6, dtype=">i4").reshape(2, 3),
]


def _npy(array, version=None) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
@pytest.mark.parametrize("version", [None, (2, 0)])
def test_bytes_and_mapped_files_equal_numpy(array, version, tmp_path):
    data = _npy(array, version)
    from_bytes = read_npy(data)
    assert from_bytes.dtype == array.dtype and from_bytes.shape == array.shape
    np.testing.assert_array_equal(from_bytes, array)
    assert from_bytes.flags.writeable
    path = tmp_path / "a.npy"
    path.write_bytes(data)
    for mmap in (False, True):
        loaded = read_npy(path, mmap=mmap)
        np.testing.assert_array_equal(loaded, array)
        assert loaded.dtype == array.dtype


def test_npz_archives(tmp_path):
    for save in (np.savez, np.savez_compressed):
        buffer = io.BytesIO()
        save(buffer, imageIds=np.array(["a", "b"]), embeddings=np.ones((2, 4), dtype=np.float32))
        arrays = read_npz(buffer.getvalue())
        assert sorted(arrays) == ["embeddings", "imageIds"]
        assert arrays["imageIds"].tolist() == ["a", "b"] and arrays["embeddings"].sum() == 8


@pytest.mark.parametrize(
    "data, message",
    [
        (b"not numpy at all", "not an .npy"),
        (_npy(np.arange(10))[:-8], "fewer bytes"),
        (_npy(np.arange(10))[:9], "truncated"),
        (_npy(np.array([{"a": 1}], dtype=object)), "object arrays"),
    ],
)
def test_bad_files_are_clear_errors(data, message):
    with pytest.raises(NpyFormatError, match=message):
        read_npy(data)
    with pytest.raises(NpyFormatError, match="npz"):
        read_npz(b"nope")


def test_reading_never_parses_python(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("ast.parse called")

    monkeypatch.setattr(ast, "parse", forbidden)
    monkeypatch.setattr(ast, "literal_eval", forbidden)
    np.testing.assert_array_equal(read_npy(_npy(ARRAYS[0])), ARRAYS[0])


def test_many_threads_read_at_once():
    payloads = [_npy(np.full((4, 4), i, dtype=np.float32)) for i in range(50)]
    errors: list[BaseException] = []

    def worker():
        try:
            for _ in range(20):
                for i, data in enumerate(payloads):
                    assert read_npy(data)[0, 0] == i
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
