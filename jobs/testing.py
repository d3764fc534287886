"""Test helpers for code that uses the job table (jobs, worker and bot tests): a hand-moved
clock and factories for jobs with their files. Imported only by tests."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from jobs import Job, JobOptions, JobStore, NewJob, StyleRef

_message_ids = itertools.count(1000)
DEFAULTS = JobOptions()


class FakeClock:
    """A clock tests move by hand (`clock.advance(5)`), so timings are exact."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


PLACEHOLDER = b"not really a jpeg"  # the job table stores bytes; it never decodes them


def new_job(
    user_id: int = 1,
    *,
    chat_id: int | None = None,
    message_id: int | None = None,
    styles: tuple[StyleRef, ...] = (StyleRef(preset="monet"),),
    options: JobOptions = DEFAULTS,
    chat_type: str = "private",
) -> NewJob:
    message_id = next(_message_ids) if message_id is None else message_id
    return NewJob(
        user_id=user_id,
        user_name=f"user{user_id}",
        chat_id=user_id if chat_id is None else chat_id,
        chat_type=chat_type,
        request_message_id=message_id,
        reply_to_message_id=message_id - 1,
        content_name="content.jpg",
        styles=styles,
        options=options,
    )


async def enqueue(store: JobStore, user_id: int = 1, **kwargs) -> Job:
    """Enqueue a job with placeholder bytes for its photo (and for uploaded styles)."""
    job = new_job(user_id, **kwargs)
    files = {"content.jpg": PLACEHOLDER}
    for style in job.styles:
        if style.image:
            files[style.image] = PLACEHOLDER
    created_job, created = await store.enqueue(job, files)
    assert created
    return created_job


async def execute_sql(store: JobStore, sql: str, params: tuple = ()) -> int:
    """Write rows the API never writes (old or odd data), on either backend (`?` params)."""
    return await store._db.run(sql, params)


async def stored_bytes(store: JobStore, data_dir: Path) -> int:
    """What the job table takes on disk: the SQLite files in `data_dir`, or PostgreSQL's
    job_files (with its TOAST table and indexes)."""
    if store.backend == "sqlite":
        return await asyncio.to_thread(_file_bytes, data_dir)
    row = await store._db.one("SELECT pg_total_relation_size('job_files') AS n")
    return int(row["n"]) if row else 0


def _file_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.glob("picasso.db*"))
