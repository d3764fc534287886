"""The PostgreSQL backend (DATABASE_URL=postgresql://…): an asyncpg pool, LISTEN/NOTIFY.

Each coroutine gets its own pooled connection, so many painters and the bot work at once;
transactions run at READ COMMITTED and take row locks where they read before they write
(claims skip rows another painter is locking: `FOR UPDATE SKIP LOCKED`). Named locks are
transaction-level advisory locks.

Faults: the first connection is retried with back-off after ONE clear line naming the host;
a connection lost later surfaces as `DatabaseUnavailable` (the pool reconnects on the next
call, callers retry). The password is passed to the driver as its own argument and appears in
no message (see jobs/backends/url.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg

from jobs.backends.database import CHANNELS, Database, Params, Row, Tx
from jobs.backends.dialect import POSTGRESQL
from jobs.backends.schema import migrate
from jobs.backends.url import DatabaseUrl
from jobs.models import DatabaseUnavailable
from jobs.retry import Patience, wait_out

log = logging.getLogger("jobs.postgres")

POOL_SIZE = 10
COMMAND_TIMEOUT = 30.0  # a query on a silently dead connection must not hang for ever
CONNECT_TIMEOUT = 10.0
FIRST_DELAY, MAX_DELAY = 0.5, 30.0  # back-off between connection attempts
PING_EVERY = 10.0  # the listening connection checks it is still alive
PATIENCE = 15.0  # seconds a call waits for an away server before DatabaseUnavailable
# A waiting call tries again at least this often, so every process is through within about a
# second of the server's return (heartbeats too: see JobStore.recover_stale).
RETRY_AT_MOST_EVERY = 1.0

# Errors that mean "the server is not there (now)": retry later. Anything else is a bug or a
# configuration error and is raised as it is.
_UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08: connection failures
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
)
# Wrong password, unknown user or database: retrying cannot help.
_MISCONFIGURED = (
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,  # includes bad passwords
    asyncpg.exceptions.InvalidCatalogNameError,
)


# How asyncpg says that a connection was closed under us. When the server ends a pooled
# connection (a restart), the pool takes it back at once: the proxy we hold then refuses every
# call, `terminate()` included, with "connection has been released back to the pool".
_CLOSED_UNDER_US = ("closed", "released back to the pool")


def _closed_under_us(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.InterfaceError) and any(
        words in str(exc) for words in _CLOSED_UNDER_US
    )


def _is_unreachable(exc: BaseException) -> bool:
    if isinstance(exc, (*_UNREACHABLE, asyncpg.exceptions.InternalClientError)):
        return True
    return _closed_under_us(exc)


def _never_sent(exc: BaseException) -> bool:
    """The statement failed before it reached the server (a connection found dead or in a
    broken state), so trying it again elsewhere cannot run it twice."""
    return isinstance(exc, asyncpg.exceptions.InternalClientError) or _closed_under_us(exc)


def _discard(conn: asyncpg.Connection) -> None:
    """Close a connection that failed for a connection reason (never reuse it: it could be
    half-way through a protocol exchange). One the pool already took back is closed."""
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


class PostgresTx(Tx):
    dialect = POSTGRESQL

    def __init__(self, conn: asyncpg.Connection, db: PostgresDatabase) -> None:
        self._conn = conn
        self._db = db
        self.notes: list[tuple[str, str]] = []  # sent with the COMMIT, in its round trip

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        with self._db.guard():
            return await self._conn.fetch(POSTGRESQL.sql(sql), *params)

    async def run(self, sql: str, params: Params = ()) -> int:
        with self._db.guard():
            status = await self._conn.execute(POSTGRESQL.sql(sql), *params)
        return _changed(status)

    async def execute(self, statement: str) -> None:
        with self._db.guard():
            await self._conn.execute(statement)

    async def notify(self, channel: str, payload: str = "") -> None:
        self.notes.append((channel, payload))

    async def lock(self, name: str) -> None:
        with self._db.guard():
            await self._conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(name))

    async def schema_version(self) -> int:
        with self._db.guard():
            return int(await self._conn.fetchval("SELECT MAX(version) FROM schema_version") or 0)

    async def set_schema_version(self, version: int) -> None:
        await self.execute("DELETE FROM schema_version")
        with self._db.guard():
            await self._conn.execute("INSERT INTO schema_version VALUES ($1)", version)


def lock_key(name: str) -> int:
    """A stable 64-bit advisory lock key per name, in a range of its own."""
    return (0x5049_4341 << 32) | zlib.crc32(f"picasso:{name}".encode())


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _commit_sql(notes: list[tuple[str, str]]) -> str:
    """COMMIT, preceded by the transaction's NOTIFYs: one round trip (a simple query)."""
    notifies = (f"SELECT pg_notify({_literal(c)}, {_literal(p)});" for c, p in dict.fromkeys(notes))
    return "".join(notifies) + "COMMIT"


def _with_notify(sql: str, channel: str) -> str:
    """A data-changing statement that also notifies `channel` once per changed row (payload:
    the row's id), in the same round trip. `sql` must RETURN id (added when it returns nothing)."""
    if " RETURNING " not in sql.upper():
        sql += " RETURNING id"
    return (
        f"WITH changed AS ({sql}) "
        f"SELECT changed.*, pg_notify({_literal(channel)}, changed.id::text) FROM changed"
    )


def _changed(status: str) -> int:
    """Rows changed, from a command tag like 'UPDATE 3' or 'INSERT 0 1'."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresDatabase(Database):
    dialect = POSTGRESQL

    def __init__(self, pool: asyncpg.Pool, url: DatabaseUrl) -> None:
        super().__init__()
        self._pool = pool
        self.url = url
        self.description = f"PostgreSQL at {url.where}"
        self._listener: asyncio.Task[None] | None = None
        self.patience = PATIENCE
        self.listening = False  # the LISTEN connection is up (else waiters poll)

    # ------------------------------------------------------------------ opening
    @classmethod
    async def open(
        cls,
        url: DatabaseUrl,
        *,
        retry_for: float | None = None,
        migrate_to: int | None = None,
        pool_size: int = POOL_SIZE,
    ) -> PostgresDatabase:
        """Connect (retrying with back-off while the server is unreachable: for ever, or for
        `retry_for` seconds) and migrate."""
        pool = await connect_with_backoff(
            url, lambda: _create_pool(url, pool_size), retry_for=retry_for
        )
        db = cls(pool, url)
        try:
            async with db.transaction() as tx:  # where migrate() keeps the version
                await tx.lock("schema")
                await tx.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
                )
            await migrate(db, migrate_to)
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._pool.close(), 10)
        self._pool.terminate()

    # ------------------------------------------------------------------ statements
    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Connection trouble -> DatabaseUnavailable (names the host, never the password)."""
        try:
            yield
        except Exception as exc:
            if _is_unreachable(exc):
                self.away_at = time.monotonic()
                raise DatabaseUnavailable(
                    f"lost the connection to PostgreSQL at {self.url.where}: {_reason(exc)}"
                ) from exc
            raise

    @contextlib.asynccontextmanager
    async def _connection(
        self, first: str, params: Params | None = None
    ) -> AsyncIterator[tuple[asyncpg.Connection, Any]]:
        """A pooled connection that has just run `first` (fetched with `params`, or executed
        without any); its result comes along.

        While the server is away (restarting, a network blip), anything that cannot have run
        yet is retried with back-off for up to `patience` seconds, so a short outage is only
        a pause: getting a connection, a first statement on a connection found dead (the pool
        may hand one out after a restart), a BEGIN, a plain SELECT. A write that failed in
        flight may have committed: it raises DatabaseUnavailable (callers that can repeat it
        safely do so). A connection that failed for a connection reason never goes back to
        the pool (it could be left half-way through a protocol exchange)."""
        harmless = params is None or first.lstrip().upper().startswith(("SELECT", "BEGIN"))
        patience = Patience(self.patience, first=FIRST_DELAY / 4, at_most=RETRY_AT_MOST_EVERY)
        with self.guard():
            while True:
                try:
                    conn = await self._pool.acquire()
                except Exception as exc:
                    if not _is_unreachable(exc) or patience.spent():
                        raise
                    self.away_at = time.monotonic()
                    await patience.wait()
                    continue
                try:
                    try:
                        if params is None:
                            result = await conn.execute(first)
                        else:
                            result = await conn.fetch(first, *params)
                    except Exception as exc:
                        if not _is_unreachable(exc):
                            raise
                        _discard(conn)
                        retry = harmless or _never_sent(exc)
                        if not retry or patience.spent():
                            raise
                        self.away_at = time.monotonic()
                        await patience.wait()
                        continue
                    try:
                        yield conn, result
                    except Exception as exc:
                        if _is_unreachable(exc):
                            _discard(conn)
                        raise
                    return
                finally:
                    # A connection that broke under us may fail its release; the pool has
                    # dropped it then, and our statement's outcome stands either way.
                    with contextlib.suppress(Exception):
                        await self._pool.release(conn)

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        """READ COMMITTED for writes (queries lock what they change); a read snapshot is
        REPEATABLE READ, READ ONLY, so several SELECTs see one state."""
        begin = "BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        async with self._connection(begin) as (conn, _):
            tx = PostgresTx(conn, self)
            try:
                yield tx
            except BaseException:
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute(_commit_sql(tx.notes))

    async def all(self, sql: str, params: Params = (), *, notify: str | None = None) -> list[Row]:
        if notify is not None:
            sql = _with_notify(sql, notify)
        async with self._connection(POSTGRESQL.sql(sql), tuple(params)) as (_, rows):
            return rows

    async def run(self, sql: str, params: Params = (), *, notify: str | None = None) -> int:
        if notify is None and " RETURNING " not in sql.upper():
            sql += " RETURNING 1"
        return len(await self.all(sql, params, notify=notify))

    async def notify(self, channel: str, payload: str = "") -> None:
        await self.all("SELECT pg_notify(?, ?)", (channel, payload))

    async def reclaim_space(self) -> None:
        """Deleted rows' space (the files live in job_files' TOAST table) becomes reusable
        only after a VACUUM; a plain VACUUM also hands empty pages at the end of the table
        back to the file system, and takes no lock that would stop painters or the bot
        (VACUUM FULL would). It cannot run in a transaction: on a pooled connection."""
        async with self._connection("VACUUM job_files"):
            pass

    # ------------------------------------------------------------------ LISTEN
    def subscribe(self, channel: str):  # type: ignore[override]
        wakeup = super().subscribe(channel)
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="postgres-listen")
        return wakeup

    async def _listen(self) -> None:
        """Keep one connection LISTENing on every channel; when it is lost, wake everyone
        (waiters re-check the table) and reconnect with back-off."""
        delay = FIRST_DELAY
        while True:
            try:
                conn = await _connect(self.url)
            except Exception as exc:
                log.debug("LISTEN connection to %s failed: %s", self.url.where, _reason(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)
                continue
            delay = FIRST_DELAY
            try:
                await self._serve(conn)
            except Exception as exc:
                log.warning("LISTEN connection to %s lost: %s", self.url.where, _reason(exc))
            finally:
                self.listening = False
                self.away_at = time.monotonic()
                conn.terminate()
                self.deliver_all()

    async def _serve(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        for channel in CHANNELS:
            await conn.add_listener(channel, self._on_notification)
        self.listening = True
        self.deliver_all()  # something may have happened while nobody listened
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), PING_EVERY)
                break
            await conn.execute("SELECT 1", timeout=PING_EVERY / 2)

    def _on_notification(self, _conn: Any, _pid: int, channel: str, _payload: str) -> None:
        self.deliver(channel)


async def _connect(url: DatabaseUrl) -> asyncpg.Connection:
    return await asyncpg.connect(**_connect_args(url))


async def _create_pool(url: DatabaseUrl, size: int) -> asyncpg.Pool:
    # min_size=0: no background reconnects (and their log noise) while the server is away;
    # connections are made when needed.
    pool = await asyncpg.create_pool(
        min_size=0, max_size=size, reset=_keep_session, **_connect_args(url)
    )
    try:
        await pool.execute("SELECT 1")  # reachable, and the password is right
    except BaseException:
        pool.terminate()
        raise
    return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections need no reset query (a round trip per statement otherwise):
    this package leaves no session state behind (its locks end with their transaction, the
    pool's connections never LISTEN, nothing is SET)."""


def _connect_args(url: DatabaseUrl) -> dict[str, Any]:
    return {
        "host": url.host,
        "port": url.port,
        "user": url.user,
        "password": url.password,
        "database": url.database,
        "ssl": url.ssl,
        "timeout": CONNECT_TIMEOUT,
        "command_timeout": COMMAND_TIMEOUT,
        "server_settings": {"application_name": "picasso-me"},
    }


async def connect_with_backoff(url: DatabaseUrl, connect: Any, *, retry_for: float | None):
    """Call `connect()` until it works. Unreachable: ONE warning naming the host, then quiet
    retries with back-off (for ever, or until `retry_for` s have passed: DatabaseUnavailable).
    A wrong password or an unknown database: DatabaseUnavailable at once (retrying can't help).
    """
    refused = False

    async def attempt() -> Any:
        nonlocal refused
        try:
            return await connect()
        except _MISCONFIGURED as exc:
            refused = True
            raise DatabaseUnavailable(
                f"PostgreSQL at {url.where} refused the connection: {_reason(exc)} "
                "(check the user, password and database in DATABASE_URL)"
            ) from None
        except Exception as exc:
            if not _is_unreachable(exc):
                raise
            raise DatabaseUnavailable(
                f"PostgreSQL at {url.where} is unreachable ({_reason(exc)})"
            ) from None

    return await wait_out(
        attempt,
        what=f"connect to PostgreSQL at {url.where}",
        log=log,
        give_up_after=retry_for,
        stop=lambda: refused,
    )
