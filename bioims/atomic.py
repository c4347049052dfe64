"""Temporary files of atomic writes (write beside the target, then rename), named after their
owner process so that the ones a killed writer left behind can be told apart and removed.

`.<name>.<pid>-<start ticks>.<random>.tmp`: a temporary whose owner is gone is deleted (a live
writer's temporary is left alone), so a crash leaves no litter once the interrupted work is re-run.

When the litter is looked for: listing a directory costs time in proportion to its entries, and a
plate's ROI directory holds over a thousand objects, so listing it on every write (as this module
once did, to find the temporaries of the one name being written) cost O(n) per write and O(n^2)
per plate. Instead each process sweeps a directory for dead writers' temporaries, of every name,
(1) at its first write into that directory, and (2) again once it has written as many files
there as the directory held at its previous sweep. (2) keeps the cost O(1) amortised per write:
each listed entry is paid for by one write. (1) keeps the guarantee: interrupted work is re-run
by a new process (a new command, or the fresh workers that replace a broken pool), the killed
writer is dead by then, and the re-run writes into the same directories, so it removes the
litter at its first write there. A long-lived process that outlives a writer killed beside it
removes that writer's temporaries within its next sweep. `remove_stale(path)` still removes the
temporaries of one name at once, for callers that need that now.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import re
import time
from pathlib import Path

from bioims.processes import owner_token, token_alive

SUFFIX = ".tmp"
_LEGACY_AGE_S = 24 * 3600
# <anything>.<pid>-<start ticks>.<random>.tmp: the random part never holds a dot.
_OWNED = re.compile(r"^\..+\.(\d+-\d+)\.[a-z0-9_]+\.tmp$")
# A temporary from before owners were recorded: tempfile's 8 random characters, no owner.
_LEGACY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class _Sweeps:
    """Per process: directory -> [entries seen at its last sweep, writes into it since]."""

    def __init__(self) -> None:
        self.state: dict[str, list[int]] = {}

    def clear(self) -> None:
        self.state.clear()


_sweeps = _Sweeps()
if hasattr(os, "register_at_fork"):  # a forked child is a new process: it sweeps again
    os.register_at_fork(after_in_child=_sweeps.clear)


def temporary_beside(path: Path, *, flags: int = 0) -> tuple[int, str]:
    """(fd, name) of a new temporary file (mode 0600, open for reading and writing, plus `flags`,
    e.g. os.O_DIRECT) in path's directory, created if missing. Sweeps the directory for dead
    writers' temporaries when due (module docstring). An open that fails leaves no file."""
    path = Path(path)
    directory = str(path.parent)
    sweep_due(directory)
    prefix = os.path.join(directory, f".{path.name}.{owner_token()}.")
    while True:
        name = prefix + base64.b32encode(os.urandom(5)).decode("ascii").lower() + SUFFIX
        try:
            return os.open(name, _FLAGS | flags, 0o600), name
        except FileExistsError:
            continue  # another random name
        except FileNotFoundError:
            if os.path.isdir(directory):
                raise
            os.makedirs(directory, exist_ok=True)
        except OSError:
            # O_DIRECT is refused after the file was created (Linux checks it at open's end):
            # the name carries this process's token, so the file is ours to remove.
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise


def sweep_due(directory: str) -> list[str]:
    """Sweep `directory` if this process has not yet, or has written as many files into it since
    its last sweep as it held then; count this write. Returns the names removed."""
    state = _sweeps.state.get(directory)
    if state is not None and state[1] < state[0]:
        state[1] += 1
        return []
    removed, entries = _sweep(directory)
    _sweeps.state[directory] = [max(entries, 1), 1]
    return removed


def remove_stale_in(directory: str | Path) -> list[str]:
    """Delete every temporary in `directory` whose writer is gone; returns their names."""
    return _sweep(str(directory))[0]


def _sweep(directory: str) -> tuple[list[str], int]:
    removed: list[str] = []
    entries = 0
    try:
        with os.scandir(directory) as scan:
            for entry in scan:
                entries += 1
                name = entry.name
                if name.startswith(".") and name.endswith(SUFFIX) and _stale(directory, name):
                    if _unlink_quietly(os.path.join(directory, name)):
                        removed.append(name)
    except (FileNotFoundError, NotADirectoryError):
        pass
    return removed, entries


def _stale(directory: str, name: str) -> bool:
    owned = _OWNED.match(name)
    if owned:
        return not token_alive(owned.group(1))
    return bool(_LEGACY.match(name)) and _legacy_stale(Path(directory) / name)


def remove_stale(path: Path) -> list[str]:
    """Delete temporaries of `path` left by dead processes now (one listing of its directory);
    returns their names."""
    path = Path(path)
    prefix = f".{path.name}."
    removed: list[str] = []
    try:
        entries = [e.name for e in os.scandir(path.parent) if e.name.startswith(prefix) and e.name.endswith(SUFFIX)]
    except FileNotFoundError:
        return removed
    for name in entries:
        token = name[len(prefix) : -len(SUFFIX)].split(".")[0]
        if "-" in token and not token_alive(token) or "-" not in token and _legacy_stale(path.parent / name):
            if _unlink_quietly(path.parent / name):
                removed.append(name)
    return removed


def _legacy_stale(path: Path, age_s: float = _LEGACY_AGE_S) -> bool:
    """A temporary without an owner (written before owners were recorded): stale after a day."""
    try:
        return time.time() - path.stat().st_mtime > age_s
    except FileNotFoundError:
        return False


def _unlink_quietly(path: str | Path) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EISDIR):
            return False
        raise
