"""One way for tests to wait: poll a condition until it holds, never sleep a fixed time."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    check: Callable[[], Any | Awaitable[Any]],
    timeout: float = 5.0,  # noqa: ASYNC109
    what: str = "",
    interval: float = 0.05,
) -> Any:
    """Await `check()` (sync or async) until it returns something truthy; return that."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or check} (last value {value!r})"
            )
        await asyncio.sleep(interval)


PROBE_USER = 9_990_001  # the probe job of `notifier_caught_up` is this user's


async def notifier_caught_up(fake: Any, store: Any, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    """The positive signal before asserting that the bot sent nothing more about finished jobs:
    every finished job is marked delivered, and then a probe (a job of PROBE_USER, cancelled
    while queued) was delivered too. The notifier reads and serves its ticks one after the
    other, so whatever it would still send about the earlier jobs it sent before that.

    `fake`: the FakeBotAPI the bot talks to; `store`: a JobStore on the bot's job table."""
    from jobs.testing import enqueue

    async def all_delivered() -> bool:
        return not await store.undelivered()

    await eventually(all_delivered, timeout, "every finished job delivered")
    probe = await enqueue(store, PROBE_USER)
    await store.mark_cancelled(probe.id)
    await fake.wait_for("sendMessage", lambda call: call.chat_id == PROBE_USER, timeout)
