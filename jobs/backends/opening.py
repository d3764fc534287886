"""Which backend a job table opens on: the embedded SQLite file, or the PostgreSQL that
DATABASE_URL names. The factory sits above both backends so that neither they nor the seam
they implement (database.py) import it back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jobs.backends.database import DB_NAME, Database
from jobs.backends.postgres import PostgresDatabase
from jobs.backends.sqlite import SqliteDatabase
from jobs.backends.url import parse_database_url


async def open_database(
    data_dir: Path,
    database_url: str | None,
    *,
    busy_timeout_ms: int = 10_000,
    connect_retry_for: float | None = None,
    migrate_to: int | None = None,
) -> Database:
    """The embedded SQLite at DATA_DIR/picasso.db when `database_url` is empty, else the
    PostgreSQL it names; migrated to `migrate_to` (default: the latest schema)."""
    if database_url:
        url = parse_database_url(database_url)
        return await PostgresDatabase.open(url, retry_for=connect_retry_for, migrate_to=migrate_to)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    return await SqliteDatabase.open(
        data_dir / DB_NAME, busy_timeout_ms=busy_timeout_ms, migrate_to=migrate_to
    )
