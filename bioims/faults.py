"""Fault injection for crash tests: the process kills itself (SIGKILL, no clean-up) at a named point.

`BIOIMS_FAULT=<point>` or `<point>@<n>` (the n-th time this process reaches the point) makes
`point(name)` kill the process the way `kill -9` does; when the process leads its own session (a
command started as its own process group, e.g. `setsid bioims ...`), the whole group goes, workers
included, as with `kill -9 -<pgid>`. Unset, `point` costs one dictionary lookup. Tests drive crash
recovery with it at exact write boundaries instead of racing a timer. A point passed
`process_only=True` kills only the process that reaches it (a worker killed on its own, as the
kernel's out-of-memory killer does), never its group.
"""

from __future__ import annotations

import os
import signal

ENV = "BIOIMS_FAULT"
_reached: dict[str, int] = {}


def point(name: str, *, process_only: bool = False) -> None:
    """Die here if BIOIMS_FAULT names this point (and this is the requested occurrence)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    wanted, _, nth = spec.partition("@")
    if wanted != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] < (int(nth) if nth else 1):
        return
    if (
        not process_only and os.getsid(0) == os.getpgrp()
    ):  # our own session: take the workers with us, like kill -9 of the group
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
