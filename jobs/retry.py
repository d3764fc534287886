"""Waiting out a database that is away for a moment (PostgreSQL restarting, a network blip,
another process holding SQLite's lock).

`wait_out`: only for calls that are safe to repeat: enqueue (idempotent on chat and message),
mark_delivered, reads, and a worker's outcome (guarded by ownership). One warning when the
database first fails, then quiet retries with back-off.

`within`: one call that must answer in time (a hung connection, a lock never released): past
its limit it is cancelled and NoAnswer raised, an error like any other to its caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from jobs.models import DatabaseUnavailable

T = TypeVar("T")
FIRST_DELAY, MAX_DELAY = 0.25, 10.0


class NoAnswer(TimeoutError):
    """A database call gave no answer within its limit (`within`); it was cancelled. It may
    still have committed (a write already sent), as a lost reply may."""


async def within(call: Awaitable[T], seconds: float, what: str) -> T:
    """`await call`, at most `seconds`: then it is cancelled and NoAnswer raised."""
    try:
        return await asyncio.wait_for(call, seconds)
    except TimeoutError:
        raise NoAnswer(f"{what}: no answer within {seconds:g} s") from None


async def wait_out(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    log: logging.Logger,
    give_up_after: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> T:
    """`await call()` until it does not raise DatabaseUnavailable. Re-raises it after
    `give_up_after` seconds (None: never) or as soon as `stop()` is true."""
    started = time.monotonic()
    delay = FIRST_DELAY
    warned = False
    while True:
        try:
            result = await call()
        except DatabaseUnavailable as exc:
            waited = time.monotonic() - started
            if (stop is not None and stop()) or (
                give_up_after is not None and waited + delay > give_up_after
            ):
                raise
            if not warned:
                log.warning("cannot %s yet (%s); retrying", what, exc)
                warned = True
            await asyncio.sleep(delay)
            delay = min(2 * delay, MAX_DELAY)
            continue
        if warned:
            log.info("%s: done after %.1fs of database trouble", what, time.monotonic() - started)
        return result


class Patience:
    """The waits between the tries of one call: from `first` seconds, doubling up to
    `at_most`, until the next wait would end after `seconds` from now."""

    def __init__(self, seconds: float, *, first: float, at_most: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.delay = first
        self.at_most = at_most

    def spent(self) -> bool:
        return time.monotonic() + self.delay > self.deadline

    async def wait(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(2 * self.delay, self.at_most)
