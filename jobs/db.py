"""One aiosqlite connection shared by the coroutines of a process, with explicit transactions.

aiosqlite runs sqlite in its own thread (the event loop never blocks, not even while
`BEGIN IMMEDIATE` waits on another process's lock). The connection is in autocommit mode
and an asyncio.Lock serialises its users: without it two coroutines interleaving on one
connection would share (and commit or roll back) each other's transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from jobs.schema import configure, ensure_incremental_vacuum, migrate

Params = Iterable[Any]


class Tx:
    """Statements inside a transaction (or under the lock); only valid inside its `with`."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def run(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT/UPDATE/DELETE; returns the number of rows it changed.

        The count comes from an appended `RETURNING 1`, so a write is one round trip to the
        sqlite thread (a cursor's rowcount would need a second one to close the cursor).
        """
        rows = await self._conn.execute_fetchall(f"{sql} RETURNING 1", tuple(params))
        return len(list(rows))

    async def insert(self, sql: str, params: Params = ()) -> int:
        row = await self._conn.execute_insert(sql, tuple(params))
        assert row is not None
        return int(row[0])


class Database:
    """The connection, its lock, and helpers for one-statement reads and whole transactions."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._tx = Tx(conn)

    @classmethod
    async def open(cls, path: Path, *, busy_timeout_ms: int = 10_000) -> Database:
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await configure(conn, busy_timeout_ms)
            await migrate(conn)
            await ensure_incremental_vacuum(conn)
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        """A write transaction: `BEGIN IMMEDIATE` takes the write lock up front, so a
        read-then-write (claim, enqueue) can never race another process, and WAL never
        answers SQLITE_BUSY_SNAPSHOT halfway through. write=False: a read snapshot
        (several SELECTs that see one state) that never blocks writers."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
            try:
                yield self._tx
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise

    async def _rollback(self) -> None:
        # sqlite may have ended the transaction already (e.g. after SQLITE_FULL)
        with contextlib.suppress(sqlite3.Error):
            await self._conn.execute("ROLLBACK")

    async def reclaim_space(self) -> None:
        """After deleting job files: hand the freed pages back to the file system, and fold the
        WAL into the main file so the database really shrinks (best effort while readers are
        active; the next checkpoint finishes it)."""
        async with self._lock:
            # executescript steps the pragma to the end (execute() would free one page)
            await self._conn.executescript("PRAGMA incremental_vacuum")
            await self._conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    async def all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._lock:
            return await self._tx.all(sql, params)

    async def one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._lock:
            return await self._tx.one(sql, params)

    async def run(self, sql: str, params: Params = ()) -> int:
        async with self._lock:
            return await self._tx.run(sql, params)
