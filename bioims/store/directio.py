"""Writing large files with direct I/O (O_DIRECT), for the local object store.

Why: a buffered write first copies the data into freshly allocated page-cache pages. On the
virtual machines this project runs on, allocating those pages is what costs: a persistent 8 MB
file (a field's ROI tensor) took 8-32 ms of CPU (mostly kernel) buffered, 2-3.3 ms with O_DIRECT
from an aligned buffer, and less wall time too (benchmarks/store_writes.py, several runs; the
buffered cost varies with the machine's memory state). Direct I/O needs the memory address, the file offset
and the length aligned to the device's block size: the data is copied once into a page-aligned
scratch buffer (one per thread, reused, so its pages are allocated once), the last block is
zero-padded to a multiple of ALIGN, and the file is then truncated to the exact length.

When: objects of at least DIRECT_MIN_BYTES (1 MiB). Measured on this project's VM
(`benchmarks/store_writes.py --threshold`, CPU ms per write buffered/direct, one run): 64-512
KiB the same (0.8-0.9, fsync included), 1 MiB 1.04/0.92, 2 MiB 7.5/1.4, 4 MiB 16.9/1.9, 8 MiB
32.2/2.8; at 1 MiB direct was a little cheaper in each of three runs, never dearer. Below 1 MiB
nothing is gained, and small objects (JSON markers, thumbnails) are often read back soon, which
the page cache then serves.

Where it is refused: a filesystem without direct I/O answers EINVAL (or EOPNOTSUPP) at open or at
the first write (tmpfs before Linux 6.6, some network and FUSE filesystems; macOS has no O_DIRECT
at all). The write then goes on buffered, transparently, and the refusal is remembered for the
directory and its device, so it is not tried again in this process.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
from collections.abc import Callable, Sequence
from typing import BinaryIO

ALIGN = 4096  # page size: a multiple of every logical block size in use (512, 4096)
DIRECT_MIN_BYTES = 1 << 20
CHUNK = 16 << 20  # scratch buffer per thread: an 8 MB ROI tensor goes in one write
O_DIRECT: int = getattr(os, "O_DIRECT", 0)
_REFUSALS = {errno.EINVAL, getattr(errno, "EOPNOTSUPP", errno.EINVAL), getattr(errno, "ENOTSUP", errno.EINVAL)}
_ZEROS = bytes(ALIGN)

_allowed: dict[str, bool] = {}  # directory -> direct I/O allowed
_refused_devices: set[int] = set()
_local = threading.local()

Fill = Callable[[memoryview], int]


def direct_flags(directory: str, size: int) -> int:
    """os.O_DIRECT when an object of `size` bytes should be written into `directory` with direct
    I/O, else 0."""
    if not O_DIRECT or size < DIRECT_MIN_BYTES:
        return 0
    allowed = _allowed.get(directory)
    if allowed is None:
        try:
            allowed = os.stat(directory).st_dev not in _refused_devices
            _allowed[directory] = allowed
        except FileNotFoundError:  # to be created, on the device of its nearest existing ancestor
            allowed = _device(directory) not in _refused_devices
    return O_DIRECT if allowed else 0


def is_refusal(exc: OSError) -> bool:
    """Whether an error of an O_DIRECT open or write means 'this filesystem has no direct I/O'."""
    return exc.errno in _REFUSALS


def note_refusal(directory: str) -> None:
    """Remember that the filesystem of `directory` refused direct I/O."""
    _allowed[directory] = False
    device = _device(directory)
    if device is not None:
        _refused_devices.add(device)


def _device(directory: str) -> int | None:
    """st_dev of `directory`, or of its nearest existing ancestor; None if none can be read."""
    while True:
        try:
            return os.stat(directory).st_dev
        except FileNotFoundError:
            parent = os.path.dirname(directory)
            if parent == directory:
                return None
            directory = parent
        except OSError:
            return None


def write_chunks(fd: int, fill: Fill, *, direct: bool, directory: str) -> int:
    """Write what `fill` puts into this thread's scratch buffer, chunk after chunk, at offset 0 of
    `fd` (opened with O_DIRECT when `direct`); returns the length written. `fill(view)` fills
    view from its start and returns the count, less than len(view) only at the end. With direct
    I/O the last chunk is zero-padded to ALIGN and the file truncated to the exact length."""
    scratch = _scratch()
    offset = end = 0
    while True:
        count = fill(scratch)
        if count == 0:
            break
        if direct:
            padded = -(-count // ALIGN) * ALIGN
            scratch[count:padded] = _ZEROS[: padded - count]
            try:
                _pwrite_all(fd, scratch[:padded], offset)
                end = max(end, offset + padded)
            except OSError as exc:
                if not is_refusal(exc):
                    raise
                note_refusal(directory)
                _clear_direct(fd)
                direct = False
                _pwrite_all(fd, scratch[:count], offset)  # earlier chunks were whole and aligned
        else:
            _pwrite_all(fd, scratch[:count], offset)
        offset += count
        if count < len(scratch):
            break
    if end > offset:
        os.ftruncate(fd, offset)
    return offset


def write_parts(fd: int, parts: Sequence[memoryview]) -> int:
    """Buffered: write the parts one after the other at offset 0, without copying them."""
    offset = 0
    for part in parts:
        _pwrite_all(fd, part, offset)
        offset += part.nbytes
    return offset


def fill_from_parts(parts: Sequence[memoryview]) -> Fill:
    """A `fill` that copies the parts, in order, into the scratch buffer."""
    state = [0, 0]  # part index, offset in that part

    def fill(view: memoryview) -> int:
        count = 0
        while count < len(view) and state[0] < len(parts):
            part = parts[state[0]]
            n = min(part.nbytes - state[1], len(view) - count)
            view[count : count + n] = part[state[1] : state[1] + n]
            count += n
            state[1] += n
            if state[1] == part.nbytes:
                state[0], state[1] = state[0] + 1, 0
        return count

    return fill


def fill_from_stream(stream: BinaryIO) -> Fill:
    """A `fill` that reads a binary stream into the scratch buffer (no intermediate bytes)."""

    def fill(view: memoryview) -> int:
        count = 0
        while count < len(view):
            n = stream.readinto(view[count:])  # type: ignore[attr-defined]
            if not n:
                break
            count += n
        return count

    return fill


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(errno.EIO, "write made no progress")
        view, offset = view[n:], offset + n
        if view and n % ALIGN:  # a short write left the offset unaligned: go on buffered
            _clear_direct(fd)


def _clear_direct(fd: int) -> None:
    import fcntl  # Unix only, like O_DIRECT itself

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if flags & O_DIRECT:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~O_DIRECT)


def _scratch() -> memoryview:
    """This thread's page-aligned scratch buffer (an anonymous mapping: aligned by construction;
    kept, because first touching fresh pages is what makes buffered writes expensive here)."""
    view = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(mmap.mmap(-1, CHUNK))
    return view
