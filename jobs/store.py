"""JobStore: the one object the bot and the engine use to talk through the job table.

Each process opens its own store (one SQLite connection, or a PostgreSQL pool); processes
coordinate only through the database (job files included), so the bot and any number of
workers (on any number of hosts, with PostgreSQL) can start and die independently.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType

from jobs.backends.database import CHANGES, QUEUE, Database, Wakeup
from jobs.backends.opening import open_database
from jobs.base import Clock
from jobs.engines import EngineRegistry
from jobs.legacy_files import import_job_folders
from jobs.lifecycle import JobLifecycle
from jobs.monitoring import JobMonitoring
from jobs.queries import JobQueries
from jobs.users import UsersAndControl


class JobStore(JobLifecycle, JobQueries, EngineRegistry, UsersAndControl, JobMonitoring):
    """All operations of jobs/api_spec.md; see the mixins for each group."""

    def __init__(self, db: Database, *, clock: Clock, stale_after: float) -> None:
        self._db = db
        self._clock = clock
        self.stale_after = stale_after

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        *,
        database_url: str | None = None,
        clock: Clock = time.time,
        stale_after: float = 60.0,
        busy_timeout_ms: int = 10_000,
        connect_retry_for: float | None = None,
    ) -> JobStore:
        """Create DATA_DIR, open and migrate the database: DATA_DIR/picasso.db (importing the
        job folders an older version left on disk), or the PostgreSQL of `database_url`
        (DATABASE_URL), retrying an unreachable server for ever or `connect_retry_for` seconds.

        clock: injectable for tests. stale_after: seconds without a heartbeat after which an
        engine counts as dead (for the lease and for ETAs; recover_stale takes its own).
        """
        data_dir = Path(data_dir)
        db = await open_database(
            data_dir,
            database_url,
            busy_timeout_ms=busy_timeout_ms,
            connect_retry_for=connect_retry_for,
        )
        try:
            if db.dialect.name == "sqlite":
                await import_job_folders(db, data_dir, clock())
        except BaseException:
            await db.close()
            raise
        return cls(db, clock=clock, stale_after=stale_after)

    @property
    def backend(self) -> str:
        """The backend behind the store: "sqlite" or "postgresql"."""
        return self._db.dialect.name

    @property
    def description(self) -> str:
        """Where the job table lives, for logs and /admin (never with a password)."""
        return self._db.description

    def wake_on_queue(self) -> Wakeup:
        """Set when a job may have become claimable (painters wait on it between polls)."""
        return self._db.subscribe(QUEUE)

    def wake_on_changes(self) -> Wakeup:
        """Set when a job started, progressed or ended (the bot's notifier waits on it)."""
        return self._db.subscribe(CHANGES)

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> JobStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
