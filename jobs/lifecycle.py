"""Writes that move a job through its life: enqueue, claim, progress, finish/fail/cancel."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Mapping
from pathlib import Path

from jobs.base import REQUEUE_SET, StoreBase
from jobs.fair import CLAIM_SQL
from jobs.models import (
    Job,
    JobStatus,
    NewJob,
    check_file_name,
    options_to_json,
    styles_to_json,
)

_INSERT = """
INSERT INTO jobs (user_id, user_name, chat_id, chat_type, request_message_id,
                  reply_to_message_id, content_name, styles, options, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


class JobLifecycle(StoreBase):
    # ---------------------------------------------------------------- bot side
    async def enqueue(self, new: NewJob, files: Mapping[str, Path]) -> tuple[Job, bool]:
        """Create a job and move its staged files into jobs/<id>/; (job, created).

        Idempotent on (chat_id, request_message_id): a redelivered update gets the existing
        job and `created=False`, and its staged files are deleted. Files are moved inside
        the transaction, so a worker never claims a job whose files are not there yet.
        """
        for name in files:
            check_file_name(name)
        needed = {new.content_name} | {s.image for s in new.styles if s.image is not None}
        missing = needed - set(files)
        if missing:
            raise ValueError(f"files not given for the job: {sorted(missing)}")
        async with self._db.transaction() as tx:
            row = await tx.one(
                "SELECT * FROM jobs WHERE chat_id = ? AND request_message_id = ?",
                (new.chat_id, new.request_message_id),
            )
            if row is None:
                job_id = await tx.insert(
                    _INSERT,
                    (
                        new.user_id,
                        new.user_name,
                        new.chat_id,
                        new.chat_type,
                        new.request_message_id,
                        new.reply_to_message_id,
                        new.content_name,
                        styles_to_json(new.styles),
                        options_to_json(new.options),
                        self._now(),
                    ),
                )
                await asyncio.to_thread(self._move_in, job_id, files)
                row = await tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
                assert row is not None
                return Job.from_row(row), True
        await asyncio.to_thread(_remove_files, files.values())
        return Job.from_row(row), False

    def _move_in(self, job_id: int, files: Mapping[str, Path]) -> None:
        target = self.job_dir(job_id)
        if target.exists():  # left by an enqueue that rolled back after its id was used
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name, src in files.items():
            shutil.move(src, target / name)

    async def set_progress_message(self, job_id: int, message_id: int) -> None:
        await self._db.run(
            "UPDATE jobs SET progress_message_id = ? WHERE id = ?", (message_id, job_id)
        )

    async def cancel(self, job_id: int) -> JobStatus | None:
        """Queued: cancelled now. Running: cancel_requested, the worker stops at its next
        progress report (returns RUNNING). None: no such job or already finished."""
        now = self._now()
        async with self._db.transaction() as tx:
            row = await tx.one("SELECT status FROM jobs WHERE id = ?", (job_id,))
            if row is None:
                return None
            status = JobStatus(row["status"])
            if status is JobStatus.QUEUED:
                await tx.run(
                    "UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ?",
                    (now, job_id),
                )
                return JobStatus.CANCELLED
            if status is JobStatus.RUNNING:
                await tx.run("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
                return JobStatus.RUNNING
            return None

    async def mark_delivered(self, job_id: int) -> None:
        await self._db.run(
            "UPDATE jobs SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
            (self._now(), job_id),
        )

    async def bump(self, job_id: int) -> bool:
        """Admin: run this queued job next (priority above every other queued job)."""
        changed = await self._db.run(
            """
            UPDATE jobs SET priority =
                (SELECT COALESCE(MAX(priority), 0) + 1 FROM jobs WHERE status = 'queued')
            WHERE id = ? AND status = 'queued'
            """,
            (job_id,),
        )
        return changed > 0

    # ------------------------------------------------------------- engine side
    async def claim(self, worker_id: str) -> Job | None:
        """Take the next job in fair order, atomically; None when paused or nothing queued.

        A lock-free read first, so an idle worker polling twice a second never takes the
        write lock (and never delays the bot's writes) when there is nothing to do.
        """
        probe = await self._db.one(
            """
            SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'queued') AS waiting,
                   (SELECT value FROM control WHERE key = 'paused') AS paused
            """
        )
        if probe is None or not probe["waiting"] or probe["paused"] == "1":
            return None
        now = self._now()
        async with self._db.transaction() as tx:
            row = await tx.one(
                f"""
                UPDATE jobs SET status = 'running', worker_id = ?, attempts = attempts + 1,
                    started_at = ?, progress_at = ?, iteration = 0, total_iterations = NULL,
                    loss = NULL, eta_at = NULL, cancel_requested = 0
                WHERE id = (SELECT id FROM ({CLAIM_SQL}))
                  AND NOT EXISTS (SELECT 1 FROM control WHERE key = 'paused' AND value = '1')
                RETURNING *
                """,
                (worker_id, now, now),
            )
            if row is None:
                return None
            await tx.run(
                "UPDATE engines SET current_job = ?, last_seen = ? WHERE worker_id = ?",
                (row["id"], now, worker_id),
            )
            return Job.from_row(row)

    async def report_progress(
        self,
        job_id: int,
        worker_id: str,
        *,
        iteration: int,
        total: int | None,
        loss: float | None,
        preview_name: str | None,
        eta_seconds: float | None = None,
    ) -> bool:
        """Record progress (`eta_seconds`: the engine's estimate of the time left); True means
        stop: a cancel was requested, or the job is no longer this worker's (it was recovered
        as stale and may be running elsewhere)."""
        now = self._now()
        eta_at = now + eta_seconds if eta_seconds is not None else None
        rows = await self._db.all(
            """
            UPDATE jobs SET iteration = ?, total_iterations = ?, loss = ?,
                preview_name = COALESCE(?, preview_name), progress_at = ?, eta_at = ?
            WHERE id = ? AND status = 'running' AND worker_id = ?
            RETURNING cancel_requested
            """,
            (iteration, total, loss, preview_name, now, eta_at, job_id, worker_id),
        )
        return not rows or bool(rows[0]["cancel_requested"])

    async def finish(self, job_id: int, result_name: str, *, worker_id: str | None = None) -> bool:
        """Running -> done. With worker_id, only if this worker still owns the job.
        Returns whether the job was changed."""
        check_file_name(result_name)
        return await self._end(
            job_id,
            "status = 'done', result_name = ?, error = NULL, iteration = "
            "COALESCE(total_iterations, iteration)",
            (result_name,),
            worker_id,
            running_only=True,
        )

    async def fail(self, job_id: int, error: str, *, worker_id: str | None = None) -> bool:
        """Active -> failed; `error` is shown to the user verbatim."""
        return await self._end(job_id, "status = 'failed', error = ?", (error,), worker_id)

    async def mark_cancelled(self, job_id: int, *, worker_id: str | None = None) -> bool:
        return await self._end(job_id, "status = 'cancelled'", (), worker_id)

    async def _end(
        self,
        job_id: int,
        assignments: str,
        params: tuple,
        worker_id: str | None,
        *,
        running_only: bool = False,
    ) -> bool:
        where = "status = 'running'" if running_only else "status IN ('queued', 'running')"
        if worker_id is not None:
            where += " AND worker_id = ?"
        owner = (worker_id,) if worker_id is not None else ()
        changed = await self._db.run(
            f"UPDATE jobs SET {assignments}, finished_at = ? WHERE id = ? AND {where}",
            (*params, self._now(), job_id, *owner),
        )
        return changed > 0

    async def requeue(
        self, job_id: int, *, count_attempt: bool, worker_id: str | None = None
    ) -> JobStatus | None:
        """Running -> queued (a shutdown: count_attempt=False gives the attempt back).
        A job whose cancel was requested meanwhile is cancelled instead. Returns the new
        status, None if the job was not running (or not this worker's)."""
        now = self._now()
        owner_sql = " AND worker_id = ?" if worker_id is not None else ""
        owner = (worker_id,) if worker_id is not None else ()
        async with self._db.transaction() as tx:
            row = await tx.one(
                f"SELECT cancel_requested FROM jobs WHERE id = ? AND status = 'running'{owner_sql}",
                (job_id, *owner),
            )
            if row is None:
                return None
            if row["cancel_requested"]:
                await tx.run(
                    "UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ?",
                    (now, job_id),
                )
                return JobStatus.CANCELLED
            give_back = 0 if count_attempt else 1
            await tx.run(
                f"UPDATE jobs SET {REQUEUE_SET}, attempts = MAX(attempts - ?, 0) WHERE id = ?",
                (now, give_back, job_id),
            )
            return JobStatus.QUEUED

    async def cleanup(self, older_than: float) -> int:
        """Delete the files of jobs finished and delivered more than `older_than` seconds
        ago (rows stay, for stats); returns how many jobs' files were removed."""
        cutoff = self._now() - older_than
        rows = await self._db.all(
            # finished_at is only set on finished jobs; this walks the partial jobs_files_kept.
            """
            SELECT id FROM jobs
            WHERE files_deleted_at IS NULL AND finished_at < ? AND delivered_at IS NOT NULL
            """,
            (cutoff,),
        )
        ids = [row["id"] for row in rows]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for job_id in chunk:
                await asyncio.to_thread(shutil.rmtree, self.job_dir(job_id), ignore_errors=True)
            marks = ", ".join("?" * len(chunk))
            await self._db.run(
                f"UPDATE jobs SET files_deleted_at = ? WHERE id IN ({marks})",
                (self._now(), *chunk),
            )
        return len(ids)


def _remove_files(paths) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)
