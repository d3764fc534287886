"""The embedded backend: one aiosqlite connection shared by the coroutines of a process.

aiosqlite runs sqlite in its own thread (the event loop never blocks, not even while
`BEGIN IMMEDIATE` waits on another process's lock). The connection is in autocommit mode
and an asyncio.Lock serialises its users: without it two coroutines interleaving on one
connection would share (and commit or roll back) each other's transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

from jobs.backends.database import Database, Params, Row, Tx
from jobs.backends.dialect import SQLITE
from jobs.backends.schema import migrate
from jobs.retry import Patience

PRAGMAS = (
    # Deleted job files must give their pages back to the file system (cleanup runs
    # `PRAGMA incremental_vacuum`). Takes effect when a new database gets its first table; an
    # older database is converted once by `ensure_incremental_vacuum`.
    "PRAGMA auto_vacuum = INCREMENTAL",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)


async def configure(conn: aiosqlite.Connection, busy_timeout_ms: int = 10_000) -> None:
    """Per-connection settings; busy_timeout first so that the others can wait for a lock.

    Switching a database to WAL needs it to itself, and SQLite answers "database is locked"
    at once, without its busy handler, when another connection is opening the same new file
    (the bot and a painter starting together): that one is retried until busy_timeout."""
    await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    patience = Patience(busy_timeout_ms / 1000, first=0.005, at_most=0.2)
    for pragma in PRAGMAS:
        while True:
            try:
                await conn.execute(pragma)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or patience.spent():
                    raise
                await patience.wait()


INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL


async def ensure_incremental_vacuum(conn: aiosqlite.Connection) -> None:
    """Convert a database made before migration 5 (auto_vacuum off) once; VACUUM cannot run
    inside a transaction and rewrites the file, which is cheap while files still lived on disk."""
    rows = await conn.execute_fetchall("PRAGMA auto_vacuum")
    if int(next(iter(rows))[0]) != INCREMENTAL:
        await conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        await conn.execute("VACUUM")


class SqliteTx(Tx):
    dialect = SQLITE

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self.notes: list[str] = []  # channels to wake after COMMIT

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def run(self, sql: str, params: Params = ()) -> int:
        """The count comes from an appended `RETURNING 1`, so a write is one round trip to the
        sqlite thread (a cursor's rowcount would need a second one to close the cursor)."""
        rows = await self._conn.execute_fetchall(f"{sql} RETURNING 1", tuple(params))
        return len(list(rows))

    async def execute(self, statement: str) -> None:
        await self._conn.execute(statement)

    async def notify(self, channel: str, payload: str = "") -> None:
        self.notes.append(channel)

    async def lock(self, name: str) -> None:
        """Nothing to do: a write transaction here already excludes every other writer."""

    async def schema_version(self) -> int:
        rows = await self._conn.execute_fetchall("PRAGMA user_version")
        return int(next(iter(rows))[0])

    async def set_schema_version(self, version: int) -> None:
        await self._conn.execute(f"PRAGMA user_version = {int(version)}")


class SqliteDatabase(Database):
    """The connection, its lock, and helpers for one-statement reads and whole transactions."""

    dialect = SQLITE

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        super().__init__()
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path
        self.description = f"SQLite at {path}"

    @classmethod
    async def open(
        cls, path: Path, *, busy_timeout_ms: int = 10_000, migrate_to: int | None = None
    ) -> SqliteDatabase:
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await configure(conn, busy_timeout_ms)
            db = cls(conn, path)
            await migrate(db, migrate_to)
            await ensure_incremental_vacuum(conn)
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        """A write transaction: `BEGIN IMMEDIATE` takes the write lock up front, so a
        read-then-write (claim, enqueue) can never race another process, and WAL never
        answers SQLITE_BUSY_SNAPSHOT halfway through. write=False: a read snapshot
        (several SELECTs that see one state) that never blocks writers."""
        tx = SqliteTx(self._conn)
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
            try:
                yield tx
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
        for channel in tx.notes:
            self.deliver(channel)

    async def reclaim_space(self) -> None:
        """Hand the freed pages back to the file system, and fold the WAL into the main file
        so the database really shrinks (best effort while readers are active; the next
        checkpoint finishes it)."""
        async with self._lock:
            # executescript steps the pragma to the end (execute() would free one page)
            await self._conn.executescript("PRAGMA incremental_vacuum")
            await self._conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    async def _rollback(self) -> None:
        # sqlite may have ended the transaction already (e.g. after SQLITE_FULL)
        with contextlib.suppress(sqlite3.Error):
            await self._conn.execute("ROLLBACK")

    async def all(self, sql: str, params: Params = (), *, notify: str | None = None) -> list[Row]:
        async with self._lock:
            rows = await SqliteTx(self._conn).all(sql, params)
        if notify is not None and rows:
            self.deliver(notify)
        return rows

    async def run(self, sql: str, params: Params = (), *, notify: str | None = None) -> int:
        async with self._lock:
            changed = await SqliteTx(self._conn).run(sql, params)
        if notify is not None and changed:
            self.deliver(notify)
        return changed

    async def notify(self, channel: str, payload: str = "") -> None:
        self.deliver(channel)
