"""Temporary files of atomic writes (write beside the target, then rename), named after their
owner process so that the ones a killed writer left behind can be told apart and removed.

`.<name>.<pid>-<start ticks>.<random>.tmp`: when a file is written again, temporaries of the same
name whose owner is gone are deleted (a live writer's temporary is left alone), so a crash leaves
no litter once the interrupted work is re-run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bioims.processes import owner_token, token_alive

SUFFIX = ".tmp"


def temporary_beside(path: Path) -> tuple[int, str]:
    """(fd, name) of a new temporary file in path's directory, after removing stale ones of path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    return tempfile.mkstemp(prefix=f".{path.name}.{owner_token()}.", suffix=SUFFIX, dir=path.parent)


def remove_stale(path: Path) -> list[str]:
    """Delete temporaries of `path` left by dead processes; returns their names."""
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
            try:
                os.unlink(path.parent / name)
                removed.append(name)
            except FileNotFoundError:
                pass
    return removed


def _legacy_stale(path: Path, age_s: float = 24 * 3600) -> bool:
    """A temporary without an owner (written before owners were recorded): stale after a day."""
    import time

    try:
        return time.time() - path.stat().st_mtime > age_s
    except FileNotFoundError:
        return False
