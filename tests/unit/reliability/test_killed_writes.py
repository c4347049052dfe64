"""A writer of the local object store killed with SIGKILL in the middle of a write (a large,
direct-I/O one and a small, buffered one): readers see the old object or none, never a part; the
killed writer's temporary is removed when a new process writes into that directory, and within a
bounded number of writes by a process that was already writing there; a live writer's temporary
is never removed. Directory listings for that cleanup cost O(1) amortised per write."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bioims import atomic
from bioims.store import directio
from bioims.store.localfs import LocalObjectStore

ROOT = Path(__file__).resolve().parents[3]
LARGE = 2 * directio.CHUNK + 5000  # several direct-I/O chunks
SMALL = 5000

# Writes one object and stops for good after its first chunk reached the file (the test kills
# it there), or, with "finish", writes it completely.
WRITER = """
import sys, time
from bioims.store import directio
from bioims.store.localfs import LocalObjectStore

root, key, size, seed, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
data = bytes((i * 7 + seed) % 251 for i in range(251)) * (size // 251 + 1)
real = directio._pwrite_all

def pause_after_first_chunk(fd, view, offset):
    real(fd, view, offset)
    print("mid-write", flush=True)
    time.sleep(600)

if mode == "pause":
    directio._pwrite_all = pause_after_first_chunk
LocalObjectStore(root).put_bytes(key, data[:size])
print("done", flush=True)
"""


def _content(size: int, seed: int) -> bytes:
    return (bytes((i * 7 + seed) % 251 for i in range(251)) * (size // 251 + 1))[:size]


def _writer(root: Path, key: str, size: int, seed: int, mode: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), key, str(size), str(seed), mode],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def _paused_writer(root: Path, key: str, size: int, seed: int) -> subprocess.Popen:
    """A writer stopped in the middle of its write (its temporary holds the first chunk)."""
    proc = _writer(root, key, size, seed, "pause")
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "mid-write":
        proc.kill()
        pytest.fail(f"the writer did not reach the middle of its write: {line!r}")
    return proc


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL


def _temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(".*.tmp"))


@pytest.mark.parametrize("size", [LARGE, SMALL], ids=["direct", "buffered"])
@pytest.mark.parametrize("existing", [True, False], ids=["rewrite", "first-write"])
def test_a_writer_killed_mid_write_leaves_the_old_object_or_none(size, existing, tmp_path):
    root, key = tmp_path / "bucket", "plate/img1-train.npy"
    store = LocalObjectStore(root)
    old = _content(size + 1, seed=1)
    if existing:
        store.put_bytes(key, old)
    proc = _paused_writer(root, key, size, seed=2)
    try:
        (temporary,) = _temporaries(root / "plate")
        written = (root / "plate" / temporary).stat().st_size
        assert 0 < written < size if size == LARGE else written == size  # part of it, or not renamed yet
        if existing:
            assert store.get_bytes(key) == old  # a reader during the write sees the old object
        else:
            assert not store.exists(key)
    finally:
        _kill(proc)
    if existing:
        assert store.get_bytes(key) == old
    else:
        assert not store.exists(key) and [i.key for i in store.list("")] == []
    assert _temporaries(root / "plate") == [temporary]  # the killed writer's litter

    # The re-run: a new process writes the key again; the litter goes, the object is complete.
    rerun = _writer(root, key, size, seed=2, mode="finish")
    assert rerun.communicate(timeout=120)[0].strip() == "done" and rerun.returncode == 0
    assert store.get_bytes(key) == _content(size, seed=2)
    assert _temporaries(root / "plate") == []


def test_a_process_already_writing_there_removes_a_killed_writers_litter_soon(tmp_path):
    """This test's process swept the directory before the writer was killed; its own writes
    into that directory remove the litter within as many writes as the directory holds."""
    root = tmp_path / "bucket"
    store = LocalObjectStore(root)
    for i in range(20):
        store.put_bytes(f"plate/img{i}-label.npy", b"x")
    proc = _paused_writer(root, "plate/img0-train.npy", LARGE, seed=3)
    _kill(proc)
    assert len(_temporaries(root / "plate")) == 1
    entries = len(os.listdir(root / "plate"))
    for i in range(entries + 1):
        store.put_bytes(f"plate/later{i}-label.npy", b"y")
        if not _temporaries(root / "plate"):
            break
    assert _temporaries(root / "plate") == []
    assert not store.exists("plate/img0-train.npy")


def test_a_live_writers_temporary_is_left_alone(tmp_path):
    root, key = tmp_path / "bucket", "plate/img1-train.npy"
    store = LocalObjectStore(root)
    proc = _paused_writer(root, key, LARGE, seed=4)
    try:
        live = _temporaries(root / "plate")
        assert atomic.remove_stale_in(root / "plate") == []
        assert atomic.remove_stale(root / key) == []
        store.put_bytes(key, b"concurrent writer")  # another writer of the same key
        assert _temporaries(root / "plate") == live
        assert store.get_bytes(key) == b"concurrent writer"
    finally:
        _kill(proc)
    assert atomic.remove_stale(root / key) == live  # the per-key removal, at once
    assert _temporaries(root / "plate") == []


def test_sweeps_cost_o1_amortised_per_write(tmp_path, monkeypatch):
    """Writing n objects into a directory lists at most ~2n entries in all (the old code listed
    the whole directory on every write: n^2/2), and a fresh process sweeps at its first write."""
    monkeypatch.setattr(atomic._sweeps, "state", {})
    listed: list[int] = []
    real = os.scandir

    class Counting:
        def __init__(self, path):
            listed.append(0)  # a listing tried (the directory may not exist yet)
            self.inner = real(path)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.inner.close()

        def __iter__(self):
            for entry in self.inner:
                listed[-1] += 1
                yield entry

    monkeypatch.setattr(os, "scandir", Counting)
    store = LocalObjectStore(tmp_path)
    writes = 300
    for i in range(writes):
        store.put_bytes(f"plate/img{i:04d}-label.npy", b"x")
    assert sum(listed) <= 2 * writes
    assert len(listed) <= 12  # one listing per doubling of the directory
    assert listed[0] == 0  # the first write in the directory (new to this process) swept it
