"""Run the engine worker (`python -m engine worker`) as a child process of the bot.

Skipped when ENGINE_EXTERNAL=true (the engine runs elsewhere, e.g. its own container).
The child is restarted with exponential back-off if it dies, whatever its exit code (one that
says why is named in the log: `EXIT_CODES`); when the bot stops it gets SIGTERM (it requeues its
current job) and, after a grace period, SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)

ENGINE_COMMAND = (sys.executable, "-m", "engine", "worker")
# The engine worker's exit codes (engine/painter/worker.run_worker), as the log names them.
EXIT_CODES = {
    0: "stopped",
    1: "crashed",
    2: "refused to start",
    3: "lost its lease",
    4: "painter stuck: its painting thread stood still, its jobs were given back",
}


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: have the kernel SIGTERM the engine if the bot dies without stopping it."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class EngineSupervisor:
    def __init__(
        self,
        command: Sequence[str] = ENGINE_COMMAND,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        grace_seconds: float = 15.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        stable_after: float = 60.0,
    ) -> None:
        self.command = tuple(command)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.grace_seconds = grace_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.exit_codes: list[int] = []
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="engine-supervisor")

    async def _spawn(self) -> asyncio.subprocess.Process:
        kwargs: dict[str, object] = {}
        if sys.platform.startswith("linux"):
            kwargs["preexec_fn"] = _die_with_parent
        return await asyncio.create_subprocess_exec(
            *self.command,
            env=self.env,
            cwd=self.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            # Own process group: a Ctrl+C in the terminal reaches the bot, which then stops
            # the engine in order (SIGTERM, requeue) instead of both dying at once.
            start_new_session=True,
            **kwargs,  # type: ignore[arg-type]
        )

    async def _run(self) -> None:
        delay = self.backoff_initial
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self.process = await self._spawn()
            except OSError as exc:
                log.error("could not start the engine (%s): %s", " ".join(self.command), exc)
            else:
                self.starts += 1
                log.info("engine started (pid %d)", self.process.pid)
                code = await self._wait_or_stop(self.process)
                self.exit_codes.append(code)
                if self._stopping.is_set():
                    break
                why = EXIT_CODES.get(code, "killed by a signal" if code < 0 else "unknown")
                log.warning("engine exited with code %s (%s)", code, why)
            if time.monotonic() - started >= self.stable_after:
                delay = self.backoff_initial
            log.info("restarting the engine in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            delay = min(self.backoff_max, delay * 2)

    async def _wait_or_stop(self, proc: asyncio.subprocess.Process) -> int:
        """Wait for the child to exit; on stop(), SIGTERM it, then SIGKILL after the grace."""
        exited = asyncio.ensure_future(proc.wait())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not exited.done():
            log.info("stopping the engine (pid %d)", proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(exited), timeout=self.grace_seconds)
            except TimeoutError:
                log.warning("engine ignored SIGTERM for %.0f s, killing it", self.grace_seconds)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        code = await exited
        log.info("engine (pid %d) exited with code %s", proc.pid, code)
        return code

    async def stop(self) -> None:
        """SIGTERM the engine, wait `grace_seconds`, then SIGKILL; stop restarting it."""
        self._stopping.set()
        if self._task is None:
            return
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=self.grace_seconds + 10)
        except TimeoutError:  # pragma: no cover - kill() never hangs this long
            log.error("engine supervisor did not stop in time")
            task.cancel()
            proc = self.process
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
