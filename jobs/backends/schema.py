"""Schema of the job table as a list of migrations, the same on SQLite and PostgreSQL.

Never edit a migration that has shipped: append a new one. Migration N (1-based) is
`MIGRATIONS[N-1]`, written for SQLite; the dialect maps its column types for PostgreSQL
(jobs/backends/dialect.py). The version lives in `PRAGMA user_version` (SQLite) or the
`schema_version` table (PostgreSQL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobs.backends.database import Database

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

# 6: painters on many hosts: the name an admin calls one by (/admin drain NAME), and the
# drain flag (finish the current job, take no more).
_V6 = [
    "ALTER TABLE engines ADD COLUMN name TEXT",
    "ALTER TABLE engines ADD COLUMN draining INTEGER NOT NULL DEFAULT 0",
]

# 7: the fair claim walks the queue head to head (jobs/fair.py). jobs_queued orders each
# user's queued jobs the way a head is chosen, so one seek finds the next waiting user's head;
# it holds queued jobs only, so a claim or a finish adds nothing to it (`status` is in it only
# so that SQLite sees the index as covering). jobs_active serves the counts of queued and
# running jobs. Together they replace jobs_queue_users (status, user_id, priority), which
# every claim and every finish wrote to.
_V7 = [
    "CREATE INDEX jobs_queued ON jobs (user_id, priority DESC, created_at, id, status) "
    "WHERE status = 'queued'",
    "CREATE INDEX jobs_active ON jobs (status) WHERE status IN ('queued', 'running')",
    "DROP INDEX jobs_queue_users",
]

# 8: the bot speaks the user's language (#30): the language a user picked in /settings (NULL:
# Telegram's language_code of their client), and the language a job's messages are written in
# (its progress, result caption and buttons are sent long after the request's update is gone).
_V8 = [
    "ALTER TABLE users ADD COLUMN language TEXT",
    "ALTER TABLE jobs ADD COLUMN language TEXT",
]

# 9: a GPU a painter found but cannot use, and why (#28): /admin shows it beside the painter,
# the bot's /healthz says the install is degraded while a live painter has one.
_V9 = ["ALTER TABLE engines ADD COLUMN gpu_unused TEXT"]

# 10: what painting costs on each painter (#29): its measured speed as a price list (JSON,
# jobs/cost.py), so the queue's estimate of a job that asks for its own size= is what that
# size costs there, not the recent jobs' average.
_V10 = ["ALTER TABLE engines ADD COLUMN speed TEXT"]

MIGRATIONS: list[list[str]] = [_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8, _V9, _V10]
LATEST = len(MIGRATIONS)


async def migrate(db: Database, target: int | None = None) -> int:
    """Bring the schema up to `target` (default: latest); returns the resulting version.

    Each step runs in one write transaction under the "schema" lock together with the
    version bump, so processes opening the same old database migrate it exactly once.
    """
    target = LATEST if target is None else target
    if not 0 <= target <= LATEST:
        raise ValueError(f"no migration {target}; known: 1..{LATEST}")
    async with db.transaction(write=False) as tx:
        current = await tx.schema_version()
    if current > LATEST:
        raise RuntimeError(
            f"the job table has schema version {current}, newer than this code knows "
            f"({LATEST}); upgrade the code instead of running an old version against it"
        )
    while current < target:
        async with db.transaction() as tx:
            await tx.lock("schema")
            current = await tx.schema_version()  # another process may have migrated meanwhile
            if current < target:
                for statement in MIGRATIONS[current]:
                    await tx.execute(db.dialect.ddl(statement))
                current += 1
                await tx.set_schema_version(current)
    return current
