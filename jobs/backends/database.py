"""The seam between the job table's queries and the database behind them.

JobStore talks to a `Database` (one-statement reads and writes, whole transactions, named
locks, wake-ups) and never to a driver. Two backends implement it: the embedded SQLite file
(jobs/backends/sqlite.py, the default) and PostgreSQL through asyncpg
(jobs/backends/postgres.py, chosen by DATABASE_URL). Queries are written once with `?`
placeholders; the dialect adapts them.

Wake-ups: a transaction may `notify(channel)`; once it commits, every `Wakeup` subscribed to
that channel is set, in every process on PostgreSQL (LISTEN/NOTIFY), in this process on
SQLite. Waiters always wait with a timeout, so polling stays the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

from jobs.backends.dialect import Dialect

Params = Iterable[Any]
Row = Mapping[str, Any]  # sqlite3.Row and asyncpg.Record both index by column name

DB_NAME = "picasso.db"
# Channels: QUEUE = a job may be claimable now (painters listen); CHANGES = a job started,
# progressed or ended (the bot's notifier listens). The payload is the job id.
QUEUE = "picasso_queue"
CHANGES = "picasso_changes"
CHANNELS = (QUEUE, CHANGES)


class Wakeup:
    """Set when a subscribed channel is notified. Clear it BEFORE looking at the table, then
    wait: a notification that arrives in between is not lost."""

    def __init__(self, db: Database, channel: str) -> None:
        self.channel = channel
        self._db = db
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, within: float, *, stop: asyncio.Event | None = None) -> bool:
        """Until notified (True), `within` seconds passed or `stop` is set (False)."""
        waits = [asyncio.ensure_future(self._event.wait())]
        if stop is not None:
            waits.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waits, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        return self._event.is_set()

    def close(self) -> None:
        self._db.unsubscribe(self)


class Tx(ABC):
    """Statements inside one transaction; only valid inside its `async with`."""

    dialect: Dialect

    @abstractmethod
    async def all(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abstractmethod
    async def run(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT/UPDATE/DELETE; returns the number of rows it changed."""

    @abstractmethod
    async def execute(self, statement: str) -> None:
        """A statement without parameters (schema changes)."""

    @abstractmethod
    async def notify(self, channel: str, payload: str = "") -> None:
        """Wake the channel's subscribers once this transaction commits."""

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def set_schema_version(self, version: int) -> None: ...

    @abstractmethod
    async def lock(self, name: str) -> None:
        """Hold the lock `name` until the transaction ends, for a read-then-write that must
        not interleave with another process doing the same."""

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT into a table with an `id` column; returns the new id."""
        row = await self.one(f"{sql} RETURNING id", params)
        assert row is not None
        return int(row["id"])


class Database(ABC):
    """One process's access to the job table (a connection, or a pool of them)."""

    dialect: Dialect
    description: str  # for logs and /admin, e.g. "PostgreSQL at db:5432/picasso" (no password)

    def __init__(self) -> None:
        self._wakeups: dict[str, set[Wakeup]] = {channel: set() for channel in CHANNELS}
        # When this process last found the server away (time.monotonic(); never on SQLite).
        self.away_at = -math.inf

    def away_within(self, seconds: float) -> bool:
        """This process found the database away in the last `seconds` (its calls waited or
        failed): so could everyone else's."""
        return time.monotonic() - self.away_at < seconds

    # ------------------------------------------------------------------ statements
    @abstractmethod
    def transaction(self, *, write: bool = True) -> contextlib.AbstractAsyncContextManager[Tx]:
        """A write transaction (write=True) or one consistent read snapshot (write=False)."""

    @abstractmethod
    async def all(self, sql: str, params: Params = (), *, notify: str | None = None) -> list[Row]:
        """One statement. notify=CHANNEL (an UPDATE/INSERT ... RETURNING id): wake the
        channel for each row it changed, in the same round trip."""

    @abstractmethod
    async def run(self, sql: str, params: Params = (), *, notify: str | None = None) -> int:
        """One INSERT/UPDATE/DELETE; the number of rows it changed (notify: as in all())."""

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    async def notify(self, channel: str, payload: str = "") -> None:
        """Wake the channel's subscribers now (outside a transaction)."""

    @abstractmethod
    async def reclaim_space(self) -> None:
        """After deleting job files: give the freed space back (see the backends)."""

    @abstractmethod
    async def close(self) -> None: ...

    # ------------------------------------------------------------------ wake-ups
    def subscribe(self, channel: str) -> Wakeup:
        if channel not in self._wakeups:
            raise ValueError(f"unknown channel {channel!r}; known: {CHANNELS}")
        wakeup = Wakeup(self, channel)
        self._wakeups[channel].add(wakeup)
        return wakeup

    def unsubscribe(self, wakeup: Wakeup) -> None:
        self._wakeups[wakeup.channel].discard(wakeup)

    def deliver(self, channel: str) -> None:
        for wakeup in self._wakeups.get(channel, ()):
            wakeup.set()

    def deliver_all(self) -> None:
        """Wake everyone (e.g. after the listening connection was lost: anything may have
        happened meanwhile)."""
        for channel in self._wakeups:
            self.deliver(channel)
