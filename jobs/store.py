"""JobStore: the one object the bot and the engine use to talk through picasso.db.

Each process opens its own store (one aiosqlite connection); processes coordinate only
through the database (job files included), so the bot and any number of workers can start and
die independently.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType

from jobs.base import Clock
from jobs.db import Database
from jobs.engines import EngineRegistry
from jobs.legacy_files import import_job_folders
from jobs.lifecycle import JobLifecycle
from jobs.monitoring import JobMonitoring
from jobs.queries import JobQueries
from jobs.users import UsersAndControl

DB_NAME = "picasso.db"


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
        clock: Clock = time.time,
        stale_after: float = 60.0,
        busy_timeout_ms: int = 10_000,
    ) -> JobStore:
        """Create DATA_DIR, open and migrate the database (importing the job folders an older
        version left on disk).

        clock: injectable for tests. stale_after: seconds without a heartbeat after which an
        engine counts as dead (for the lease and for ETAs; recover_stale takes its own).
        """
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        db = await Database.open(data_dir / DB_NAME, busy_timeout_ms=busy_timeout_ms)
        try:
            await import_job_folders(db, data_dir, clock())
        except BaseException:
            await db.close()
            raise
        return cls(db, clock=clock, stale_after=stale_after)

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
