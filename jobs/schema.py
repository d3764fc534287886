"""Schema of picasso.db as a list of migrations, versioned with `PRAGMA user_version`.

Never edit a migration that has shipped: append a new one. Migration N (1-based) is
`MIGRATIONS[N-1]`; each runs in one `BEGIN IMMEDIATE` transaction together with the
version bump, so two processes opening the same old database migrate it exactly once.
"""

from __future__ import annotations

import aiosqlite

# 1: the initial schema (jobs, engines, control).
_V1 = [
    """
    CREATE TABLE jobs (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id             INTEGER NOT NULL,
        user_name           TEXT    NOT NULL,
        chat_id             INTEGER NOT NULL,
        chat_type           TEXT    NOT NULL,
        request_message_id  INTEGER NOT NULL,
        reply_to_message_id INTEGER NOT NULL,
        progress_message_id INTEGER,
        content_name        TEXT    NOT NULL,
        styles              TEXT    NOT NULL,   -- JSON list of StyleRef
        options             TEXT    NOT NULL,   -- JSON JobOptions
        status              TEXT    NOT NULL DEFAULT 'queued'
            CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        priority            INTEGER NOT NULL DEFAULT 0,
        iteration           INTEGER NOT NULL DEFAULT 0,
        total_iterations    INTEGER,
        loss                REAL,
        preview_name        TEXT,
        progress_at         REAL,
        attempts            INTEGER NOT NULL DEFAULT 0,
        error               TEXT,
        result_name         TEXT,
        created_at          REAL    NOT NULL,
        started_at          REAL,
        finished_at         REAL,
        delivered_at        REAL,
        worker_id           TEXT,
        cancel_requested    INTEGER NOT NULL DEFAULT 0,
        UNIQUE (chat_id, request_message_id)
    )
    """,
    "CREATE INDEX jobs_status ON jobs (status, priority, created_at)",
    "CREATE INDEX jobs_user ON jobs (user_id, status)",
    "CREATE INDEX jobs_chat ON jobs (chat_id, status)",
    """
    CREATE TABLE engines (
        worker_id     TEXT PRIMARY KEY,
        pid           INTEGER NOT NULL,
        hostname      TEXT    NOT NULL,
        device        TEXT    NOT NULL,
        gpu_memory_mb INTEGER,
        started_at    REAL    NOT NULL,
        last_seen     REAL    NOT NULL,
        current_job   INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
        exclusive     INTEGER NOT NULL DEFAULT 1
    )
    """,
    "CREATE TABLE control (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
]

# 2: per-user settings and bans; an index so "when was this user last served" is one seek.
_V2 = [
    """
    CREATE TABLE users (
        user_id         INTEGER PRIMARY KEY,
        size            INTEGER,
        strength        REAL,
        preserve_colors INTEGER,
        banned          INTEGER NOT NULL DEFAULT 0,
        updated_at      REAL
    )
    """,
    "CREATE INDEX jobs_user_started ON jobs (user_id, started_at)",
]

# 3: remember whose files were cleaned up; indexes for the fair claim (which then costs per
# waiting user, not per queued job), the bot's notifier and its delivery loop.
_V3 = [
    "ALTER TABLE jobs ADD COLUMN files_deleted_at REAL",
    "CREATE INDEX jobs_queue_users ON jobs (status, user_id, priority)",
    "CREATE INDEX jobs_user_queue ON jobs (user_id, status, priority, created_at)",
    "DROP INDEX jobs_user",  # a prefix of jobs_user_queue
    "DROP INDEX jobs_status",  # jobs_queue_users serves its queries; fewer indexes, cheaper writes
    "CREATE INDEX jobs_progress_at ON jobs (progress_at)",
    "CREATE INDEX jobs_finished_at ON jobs (finished_at)",
    "CREATE INDEX jobs_undelivered ON jobs (finished_at) WHERE delivered_at IS NULL",
    "CREATE INDEX jobs_files_kept ON jobs (finished_at) WHERE files_deleted_at IS NULL",
]

# 4: the engine's own estimate of when a running job ends. Coarse-to-fine makes early
# iterations far cheaper than late ones, so a straight line through "iteration i at time t"
# is badly off; the engine weights each remaining iteration by its scale's pixels.
_V4 = ["ALTER TABLE jobs ADD COLUMN eta_at REAL"]

# 5: job files move from DATA_DIR/jobs/<id>/ into the database, so that a painter on another
# host needs nothing but the database (jobs/files.py; old folders are imported on open).
_V5 = [
    """
    CREATE TABLE job_files (
        job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        name       TEXT    NOT NULL,
        data       BLOB    NOT NULL,
        size       INTEGER NOT NULL,
        created_at REAL    NOT NULL,
        PRIMARY KEY (job_id, name)
    )
    """,
]

MIGRATIONS: list[list[str]] = [_V1, _V2, _V3, _V4, _V5]
LATEST = len(MIGRATIONS)

PRAGMAS = (
    # Deleted job files must give their pages back to the file system (cleanup runs
    # `PRAGMA incremental_vacuum`). Takes effect when a new database gets its first table; an
    # older database is converted once by `ensure_incremental_vacuum`.
    "PRAGMA auto_vacuum = INCREMENTAL",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)


async def configure(db: aiosqlite.Connection, busy_timeout_ms: int = 10_000) -> None:
    """Per-connection settings; busy_timeout first so switching to WAL can wait for a lock."""
    await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    for pragma in PRAGMAS:
        await db.execute(pragma)


INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL


async def ensure_incremental_vacuum(db: aiosqlite.Connection) -> None:
    """Convert a database made before migration 5 (auto_vacuum off) once; VACUUM cannot run
    inside a transaction and rewrites the file, which is cheap while files still lived on disk."""
    rows = await db.execute_fetchall("PRAGMA auto_vacuum")
    if int(next(iter(rows))[0]) != INCREMENTAL:
        await db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        await db.execute("VACUUM")


async def user_version(db: aiosqlite.Connection) -> int:
    rows = await db.execute_fetchall("PRAGMA user_version")
    return int(next(iter(rows))[0])


async def migrate(db: aiosqlite.Connection, target: int | None = None) -> int:
    """Bring the schema up to `target` (default: latest); returns the resulting version.

    The connection must be in autocommit mode (isolation_level=None).
    """
    target = LATEST if target is None else target
    if not 0 <= target <= LATEST:
        raise ValueError(f"no migration {target}; known: 1..{LATEST}")
    current = await user_version(db)
    if current > LATEST:
        raise RuntimeError(
            f"picasso.db has schema version {current}, newer than this code knows ({LATEST}); "
            "upgrade the code instead of running an old version against it"
        )
    while current < target:
        await db.execute("BEGIN IMMEDIATE")
        try:
            current = await user_version(db)  # another process may have migrated meanwhile
            if current < target:
                for statement in MIGRATIONS[current]:
                    await db.execute(statement)
                current += 1
                await db.execute(f"PRAGMA user_version = {current}")
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
    return current
