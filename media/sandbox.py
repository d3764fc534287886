"""Decode untrusted bytes in a child process, within a budget of wall time and memory (#28).

A hostile 20 MB file can make a decoder spend minutes and gigabytes; in a child it can only
spend its own budget: the child (media/child.py) caps its address space at what it holds after
its imports plus `memory_mb` (RLIMIT_AS) and bounds the decoder's threads, and the parent kills
it at `seconds` of wall time or as soon as `should_stop()` says so (a cancel, a shutdown). The
bytes go in and the result comes out through unnamed temporary files, so neither side can block
the other on a pipe. The cost is measured on the child: wall time, and its peak memory (its own
high-water mark, VmHWM: wait4's ru_maxrss would carry the parent's from before the exec).
Synchronous: the bot calls it from a thread, the painter from its painting thread.

The result is data, never pickle: a JSON trailer and raw byte blobs (see media/child.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POLL_SECONDS = 0.01
_ROOT = str(Path(__file__).resolve().parents[1])  # where the `media` package lives
_live: set[int] = set()  # children running now, killed by kill_all at shutdown
_live_lock = threading.Lock()


@dataclass(frozen=True)
class Budget:
    """What one decoding may spend: wall seconds (start-up included), memory above the
    child's own interpreter, decoder threads."""

    seconds: float = 10.0
    memory_mb: int = 300
    threads: int = 2


class OverBudget(Exception):
    """The child ran out of its budget: `what` is "time" or "memory"."""

    def __init__(self, what: str, detail: str = "") -> None:
        super().__init__(f"over the {what} budget {detail}".strip())
        self.what = what


class Stopped(Exception):
    """`should_stop()` said so while the child ran (a cancel, a shutdown); it was killed."""


class ChildFailed(Exception):
    """The child died without a result (a crash inside a decoder): the data is unreadable."""


@dataclass
class Outcome:
    """What the child sent back, and what it cost."""

    result: dict[str, Any]  # the task's JSON answer (or its refusal: {"error": ...})
    blobs: list[bytes] = field(default_factory=list)
    seconds: float = 0.0  # wall time, start-up included
    peak_kb: int = 0  # the child's peak resident memory (VmHWM)
    base_kb: int = 0  # its resident memory after the imports, before the task


def run(
    task: str,
    data: bytes,
    params: dict[str, Any],
    budget: Budget,
    should_stop: Callable[[], bool] | None = None,
) -> Outcome:
    """Run media.child's `task` on `data` in a child within `budget`; OverBudget, Stopped or
    ChildFailed when it gives no answer."""
    config = json.dumps({"task": task, "params": params, "memory_mb": budget.memory_mb,
                         "threads": budget.threads})  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")])),
        "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MB of address space per arena
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",  # numpy's buffers: address space the budget would lose
    }
    with (
        tempfile.TemporaryFile() as stdin,
        tempfile.TemporaryFile() as stdout,
        tempfile.TemporaryFile() as stderr,
    ):
        stdin.write(data)
        stdin.seek(0)
        started = time.monotonic()
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "media.child", config],
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, stdin.fileno(), 0),
                (os.POSIX_SPAWN_DUP2, stdout.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, stderr.fileno(), 2),
            ],
        )
        with _live_lock:
            _live.add(pid)
        try:
            status, peak_kb, why = _wait(pid, started + budget.seconds, should_stop)
        finally:
            with _live_lock:
                _live.discard(pid)
        seconds = time.monotonic() - started
        if why == "time":
            raise OverBudget("time", f"({budget.seconds:g} s)")
        if why == "stop":
            raise Stopped()
        stdout.seek(0)
        outcome = _parse(stdout.read())
        if outcome is None:
            stderr.seek(0)
            tail = stderr.read()[-400:].decode(errors="replace")
            if _out_of_memory(tail):
                raise OverBudget("memory", f"({budget.memory_mb} MB)")
            raise ChildFailed(f"decoder child ended with status {status}: {tail}")
        outcome.seconds = seconds
        outcome.peak_kb = max(outcome.peak_kb, peak_kb)
        return outcome


def _wait(
    pid: int, deadline: float, should_stop: Callable[[], bool] | None
) -> tuple[int, int, str]:
    """Reap the child: (wait status, its peak memory in kB as last seen here, "" / "time" /
    "stop" when it was killed)."""
    peak_kb = 0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status, peak_kb, ""
        peak_kb = max(peak_kb, _peak_kb(pid))
        why = ""
        if time.monotonic() > deadline:
            why = "time"
        elif should_stop is not None and should_stop():
            why = "stop"
        if why:
            _kill(pid)
            _, status = os.waitpid(pid, 0)
            return status, peak_kb, why
        time.sleep(POLL_SECONDS)


def _peak_kb(pid: int) -> int:
    """The child's VmHWM (0 where /proc is missing or it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def kill_all() -> None:
    """Kill every decoding child now (the process is shutting down); their callers get
    ChildFailed."""
    with _live_lock:
        pids = list(_live)
    for pid in pids:
        _kill(pid)


def _parse(raw: bytes) -> Outcome | None:
    """[blob][blob]...[JSON trailer][trailer length, 8 bytes]; None if incomplete."""
    if len(raw) < 8:
        return None
    (length,) = struct.unpack(">Q", raw[-8:])
    if length > len(raw) - 8:
        return None
    try:
        trailer = json.loads(raw[-8 - length : -8])
    except ValueError:
        return None
    blobs, at = [], 0
    for size in trailer.get("blobs", []):
        blobs.append(raw[at : at + size])
        at += size
    return Outcome(
        result=trailer["result"],
        blobs=blobs,
        base_kb=trailer.get("base_kb", 0),
        peak_kb=trailer.get("peak_kb", 0),
    )


def _out_of_memory(stderr_tail: str) -> bool:
    return "MemoryError" in stderr_tail or "Cannot allocate memory" in stderr_tail
