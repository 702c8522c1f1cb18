"""Which process runs a run, and whether it still lives: so that a run of a live kernel is
never marked ``interrupted`` by mistake.

A process is named by its host, pid and start time (the kernel's boot id and the process's
start tick on Linux; elsewhere the pid alone, and a live pid counts as the owner). On
Windows, and for runs of other hosts, liveness is not guessed: their unfinished runs stay
as they are.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from pathlib import Path

__all__ = ["Owner", "is_alive", "this_process"]

_PROC = Path("/proc/self/stat")

#: ``(host, pid, process start)``.
Owner = tuple[str, int, str]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_tick(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, or ``None`` if unknown; ``""``
    for a process that is gone or a zombie."""
    if not _PROC.exists():
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return ""
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # killed, not yet reaped: not alive
        return ""
    return fields[19]


def this_process() -> Owner:
    """This process's ``(host, pid, start)``."""
    return _owner(os.getpid())  # by pid: a forked child is another process


@functools.lru_cache(maxsize=4)
def _owner(pid: int) -> Owner:
    tick = _start_tick(pid)
    start = f"{_boot_id()}:{tick}" if tick else ""
    return socket.gethostname(), pid, start


def is_alive(owner: Owner) -> bool | None:
    """Whether the process still runs: ``None`` when it cannot be told (another host)."""
    host, pid, start = owner
    if host != socket.gethostname():
        return None
    if (host, pid, start) == this_process():
        return True
    if sys.platform == "win32":
        return None  # os.kill(pid, 0) would end the process there: never guess
    if start:
        boot, _, tick = start.partition(":")
        if boot != _boot_id():
            return False  # the machine restarted since
        now = _start_tick(pid)
        if now is not None:
            return now == tick
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
