"""Who owns a piece of running work, and whether that owner still lives.

A pid alone is not an identity (pids are reused), so an owner is (host, pid, start time of the
process in clock ticks since boot, from /proc). Work whose owner is gone (killed, crashed,
machine rebooted) can then be reported failed or taken over at once instead of after a timeout.
Where /proc is missing the start time is 0 and only the pid is checked.
"""

from __future__ import annotations

import os
import socket

_HOST = socket.gethostname()


def start_ticks(pid: int) -> int:
    """The process's start time (field 22 of /proc/<pid>/stat); 0 where unknown, -1 if there is
    no such process (or only its zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return -1
    except OSError:
        return 0
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # a zombie has finished: it only waits to be reaped
        return -1
    return int(fields[19])


def current_owner() -> dict:
    """This process as an owner record: {host, pid, pidStart} (its start time read once per
    process: every atomic write names its temporary after it)."""
    global _owner
    pid = os.getpid()
    if _owner is None or _owner[0] != pid:  # first call, or a forked child
        _owner = (pid, max(start_ticks(pid), 0))
    return {"host": _HOST, "pid": pid, "pidStart": _owner[1]}


_owner: tuple[int, int] | None = None


def owner_alive(owner: dict) -> bool:
    """False only when the owner is surely gone: same host and its pid is free or reused.
    Owners on other hosts (or records without a pid) count as alive: we cannot tell."""
    pid = owner.get("pid")
    if not isinstance(pid, int) or owner.get("host", _HOST) != _HOST:
        return True
    ticks = start_ticks(pid)
    if ticks == -1:
        return False
    if ticks == 0:  # no /proc: fall back to signal 0
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    recorded = owner.get("pidStart")
    return not isinstance(recorded, int) or recorded in (0, ticks)


def owner_token() -> str:
    """This process as a short string for file names: <pid>-<start ticks>."""
    owner = current_owner()
    return f"{owner['pid']}-{owner['pidStart']}"


def token_alive(token: str) -> bool:
    """owner_alive for a token made by owner_token (same host)."""
    pid, _, ticks = token.partition("-")
    if not pid.isdigit() or not ticks.isdigit():
        return True
    return owner_alive({"pid": int(pid), "pidStart": int(ticks)})
