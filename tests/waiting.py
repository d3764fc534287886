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
