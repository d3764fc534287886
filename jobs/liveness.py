"""Is an engine alive? A fresh heartbeat, and on this host also a live (non-zombie) pid.

The pid check makes a crashed worker's lease and jobs free at once instead of after
`stale_after` seconds, but only on the same host: pids mean nothing across machines
(and containers sharing a hostname must not share a database).
"""

from __future__ import annotations

import os
import socket

from jobs.models import EngineInfo


def this_host() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists here and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True  # no /proc (macOS): trust kill()
    # Format: "pid (comm) S ..."; comm may contain spaces or parentheses, so split at the last ')'.
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state not in (b"Z", b"X")


def engine_alive(engine: EngineInfo, *, now: float, stale_after: float) -> bool:
    if now - engine.last_seen > stale_after:
        return False
    if engine.hostname == this_host():
        return pid_alive(engine.pid)
    return True


def describe(engine: EngineInfo, *, now: float) -> str:
    """One line for humans: which engine, where, and when it was last heard of."""
    age = max(0.0, now - engine.last_seen)
    job = f", running job {engine.current_job}" if engine.current_job else ""
    return (
        f"worker {engine.worker_id!r} (pid {engine.pid} on {engine.hostname}, "
        f"device {engine.device}{job}), last seen {age:.0f}s ago"
    )
