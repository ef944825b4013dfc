"""Whether a "running" run still has a process: on its own host its pid must live; on any host it must beat.

A recorder touches its run's heartbeat every HEARTBEAT_SECONDS; `RunStore.reap` and the dashboard use `looks_dead`.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

HEARTBEAT_SECONDS = 20.0  # a running recorder touches its row this often
STALE_SECONDS = 120.0  # a "running" run silent this long (on any host) is taken as killed


def this_host() -> str:
    """This machine's name, stored with each run: only here can a run's pid say whether it is alive."""
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a zombie, killed but not reaped, counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): the signal check is all we have
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def looks_dead(row: Any, now: float | None = None, stale_seconds: float = STALE_SECONDS) -> bool:
    """A "running" run whose process is gone: on this host its pid has exited; on any host it stopped beating."""
    if row["status"] != "running":
        return False
    now = time.time() if now is None else now
    return (row["host"] == this_host() and not pid_alive(int(row["pid"] or 0))) or now - row[
        "heartbeat_at"
    ] > stale_seconds
