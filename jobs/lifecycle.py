"""Writes that move a job through its life: enqueue, claim, progress, finish/fail/cancel."""

from __future__ import annotations

from collections.abc import Mapping

from jobs.backends.database import CHANGES, QUEUE
from jobs.base import REQUEUE_SET
from jobs.failures import Failure, failure
from jobs.failures import encode as encode_failure
from jobs.fair import candidates_sql
from jobs.files import PREVIEW_NAME, RESULT_NAME, JobFiles
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
                  reply_to_message_id, content_name, styles, options, created_at, language)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# A claim's write to the job row; its parameters: the worker id, then now twice (started_at,
# progress_at). The WHERE that follows names the job.
_CLAIM_UPDATE = """
UPDATE jobs SET status = 'running', worker_id = ?, attempts = attempts + 1,
    started_at = ?, progress_at = ?, iteration = 0, total_iterations = NULL,
    loss = NULL, eta_at = NULL, cancel_requested = 0
"""
# ... and the conditions every claim adds to that WHERE: the queue is not paused and the
# claiming painter (the parameter: its worker id) is not draining.
_CLAIMS_OPEN = """
  AND NOT EXISTS (SELECT 1 FROM control WHERE key = 'paused' AND value = '1')
  AND NOT EXISTS (SELECT 1 FROM engines WHERE worker_id = ? AND draining = 1)
"""


class JobLifecycle(JobFiles):
    # ---------------------------------------------------------------- bot side
    async def enqueue(self, new: NewJob, files: Mapping[str, bytes]) -> tuple[Job, bool]:
        """Create a job with its files ({name: bytes}); returns (job, created).

        Idempotent on (chat_id, request_message_id): a redelivered update gets the existing
        job and `created=False`. The files are written in the same transaction as the row, so
        a painter never claims a job whose files are not there yet.
        """
        for name in files:
            check_file_name(name)
        needed = {new.content_name} | {s.image for s in new.styles if s.image is not None}
        missing = needed - set(files)
        if missing:
            raise ValueError(f"files not given for the job: {sorted(missing)}")
        async with self._db.transaction() as tx:
            await tx.lock("enqueue")  # a redelivered update racing itself: one insert
            row = await tx.one(
                "SELECT * FROM jobs WHERE chat_id = ? AND request_message_id = ?",
                (new.chat_id, new.request_message_id),
            )
            if row is not None:
                return Job.from_row(row), False
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
                    new.language,
                ),
            )
            await self._put_files(tx, job_id, files)
            row = await tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
            assert row is not None
            await tx.notify(QUEUE, str(job_id))
            return Job.from_row(row), True

    async def set_progress_message(self, job_id: int, message_id: int) -> None:
        await self._db.run(
            "UPDATE jobs SET progress_message_id = ? WHERE id = ?", (message_id, job_id)
        )

    async def cancel(self, job_id: int) -> JobStatus | None:
        """Queued: cancelled now. Running: cancel_requested, the worker stops at its next
        progress report (returns RUNNING). None: no such job or already finished.

        Each UPDATE re-checks the status it changes from, so a claim racing the cancel on
        another host makes the first one match nothing and the second one apply."""
        async with self._db.transaction() as tx:
            if await tx.run(
                "UPDATE jobs SET status = 'cancelled', finished_at = ? "
                "WHERE id = ? AND status = 'queued'",
                (self._now(), job_id),
            ):
                await tx.notify(CHANGES, str(job_id))
                return JobStatus.CANCELLED
            if await tx.run(
                "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'",
                (job_id,),
            ):
                await tx.notify(CHANGES, str(job_id))
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

        On SQLite a lock-free read first, so an idle worker polling twice a second never takes
        the write lock (and never delays the bot's writes) when there is nothing to do. On
        PostgreSQL the one UPDATE locks only the chosen head job's row, and passes over a
        head another painter is locking right now to the next user's head (SKIP LOCKED).
        """
        dialect = self._db.dialect
        if dialect.probe_before_claim and not await self._claimable(worker_id):
            return None
        claim = f"""{_CLAIM_UPDATE}
            WHERE id = ({dialect.first_claimable(candidates_sql(dialect.row_values))})
            {_CLAIMS_OPEN} RETURNING *
            """
        if dialect.writable_cte:
            # One statement, one round trip: the claim, the painter's current job, the wake-up.
            now = self._now()
            row = await self._db.one(
                f"""
                WITH claimed AS ({claim}),
                painter AS (
                    UPDATE engines SET current_job = claimed.id, last_seen = ?
                    FROM claimed WHERE engines.worker_id = ?
                )
                SELECT claimed.*, pg_notify(?, claimed.id::text) FROM claimed
                """,
                (worker_id, now, now, worker_id, now, worker_id, CHANGES),
            )
            return None if row is None else Job.from_row(row)
        async with self._db.transaction() as tx:
            # The time is read once the write lock is held: started_at orders the claims
            # (the round-robin reads it), so it must not predate a wait for the lock.
            now = self._now()
            row = await tx.one(claim, (worker_id, now, now, worker_id))
            if row is None:
                return None
            await tx.run(
                "UPDATE engines SET current_job = ?, last_seen = ? WHERE worker_id = ?",
                (row["id"], now, worker_id),
            )
            await tx.notify(CHANGES, str(row["id"]))
            return Job.from_row(row)

    async def claim_job(self, worker_id: str, job_id: int) -> Job | None:
        """Take this queued job for `worker_id` (a batch mate of the job it just claimed,
        painted with it): the same changes as `claim` and under its conditions (not paused,
        this painter not draining), but for the named job, and engines.current_job stays the
        head's. None when the job is not claimable: not queued (another painter took it,
        cancelled, no such id), the queue paused or the painter draining.

        The UPDATE re-checks status = 'queued', so of painters racing for one job exactly one
        gets it (on PostgreSQL the others wait for its row lock, then match nothing)."""
        async with self._db.transaction() as tx:
            now = self._now()  # read in the transaction (SQLite: the write lock held), as claim
            row = await tx.one(
                f"{_CLAIM_UPDATE} WHERE id = ? AND status = 'queued' {_CLAIMS_OPEN} RETURNING *",
                (worker_id, now, now, job_id, worker_id),
            )
            if row is None:
                return None
            await tx.notify(CHANGES, str(job_id))
            return Job.from_row(row)

    async def _claimable(self, worker_id: str) -> bool:
        probe = await self._db.one(
            """
            SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'queued') AS waiting,
                   (SELECT value FROM control WHERE key = 'paused') AS paused,
                   (SELECT draining FROM engines WHERE worker_id = ?) AS draining
            """,
            (worker_id,),
        )
        return bool(probe and probe["waiting"] and probe["paused"] != "1" and not probe["draining"])

    async def report_progress(
        self,
        job_id: int,
        worker_id: str,
        *,
        iteration: int,
        total: int | None,
        loss: float | None,
        preview: bytes | None = None,
        eta_seconds: float | None = None,
    ) -> bool:
        """Record progress and the latest preview (a JPEG; `eta_seconds`: the engine's estimate
        of the time left); True means stop: a cancel was requested, or the job is no longer
        this worker's (it was recovered as stale and may be running elsewhere)."""
        now = self._now()
        eta_at = now + eta_seconds if eta_seconds is not None else None
        preview_name = PREVIEW_NAME if preview is not None else None
        async with self._db.transaction() as tx:
            row = await tx.one(
                """
                UPDATE jobs SET iteration = ?, total_iterations = ?, loss = ?,
                    preview_name = COALESCE(?, preview_name), progress_at = ?, eta_at = ?
                WHERE id = ? AND status = 'running' AND worker_id = ?
                RETURNING cancel_requested
                """,
                (iteration, total, loss, preview_name, now, eta_at, job_id, worker_id),
            )
            if row is None:
                return True
            if preview is not None:
                await self._put_files(tx, job_id, {PREVIEW_NAME: preview})
            await tx.notify(CHANGES, str(job_id))
            return bool(row["cancel_requested"])

    async def finish(
        self,
        job_id: int,
        result: bytes,
        *,
        worker_id: str | None = None,
        extra_files: Mapping[str, bytes] | None = None,
    ) -> bool:
        """Running -> done, storing the result (a PNG) and any extra files in the same
        transaction. With worker_id, only if this worker still owns the job. Returns whether
        the job was changed (nothing is stored otherwise)."""
        owner, params = _owner(worker_id)
        done = f"""
            UPDATE jobs SET status = 'done', result_name = ?, error = NULL,
                iteration = COALESCE(total_iterations, iteration), finished_at = ?
            WHERE id = ? AND status = 'running'{owner}
            """
        files = {**(extra_files or {}), RESULT_NAME: result}
        if self._db.dialect.writable_cte:
            # One statement, one round trip: the job done, its files stored, the wake-up.
            now = self._now()
            stored = self._upsert_files_sql("done.id", "done", len(files))
            row = await self._db.one(
                f"""
                WITH done AS ({done} RETURNING id), stored AS ({stored})
                SELECT done.id, pg_notify(?, done.id::text) FROM done
                """,
                (RESULT_NAME, now, job_id, *params, *self._file_params(files, now), CHANGES),
            )
            return row is not None
        async with self._db.transaction() as tx:
            changed = await tx.run(done, (RESULT_NAME, self._now(), job_id, *params))
            if not changed:
                return False
            await self._put_files(tx, job_id, files)
            await tx.notify(CHANGES, str(job_id))
            return True

    async def fail(
        self, job_id: int, error: str | Failure, *, worker_id: str | None = None
    ) -> bool:
        """Active -> failed; `error` is shown to the user: a Failure in their language, a plain
        sentence verbatim (jobs/failures.py)."""
        params = (encode_failure(error),)
        return await self._end(job_id, "status = 'failed', error = ?", params, worker_id)

    async def mark_cancelled(self, job_id: int, *, worker_id: str | None = None) -> bool:
        return await self._end(job_id, "status = 'cancelled'", (), worker_id)

    async def _end(
        self, job_id: int, assignments: str, params: tuple, worker_id: str | None
    ) -> bool:
        owner, owner_params = _owner(worker_id)
        changed = await self._db.run(
            f"UPDATE jobs SET {assignments}, finished_at = ? "
            f"WHERE id = ? AND status IN ('queued', 'running'){owner}",
            (*params, self._now(), job_id, *owner_params),
            notify=CHANGES,
        )
        return changed > 0

    async def requeue(
        self,
        job_id: int,
        *,
        count_attempt: bool,
        worker_id: str | None = None,
        max_attempts: int | None = None,
        why: str | Failure | None = None,
    ) -> JobStatus | None:
        """Running -> queued (a shutdown: count_attempt=False gives the attempt back).
        A job whose cancel was requested meanwhile is cancelled instead; one whose attempt
        counts and that has had `max_attempts` fails with `why` (default: the generic
        failure), as recover_stale ends a job that keeps killing its painters: a job that
        always comes back does not come back forever. Returns the new status, None if the job
        was not running (or not this worker's)."""
        now = self._now()
        owner, owner_params = _owner(worker_id)
        async with self._db.transaction() as tx:
            row = await tx.one(
                "SELECT cancel_requested, attempts FROM jobs WHERE id = ? AND status = 'running'"
                f"{owner}{tx.dialect.for_update}",
                (job_id, *owner_params),
            )
            if row is None:
                return None
            await tx.notify(CHANGES, str(job_id))
            if row["cancel_requested"]:
                await tx.run(
                    "UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ?",
                    (now, job_id),
                )
                return JobStatus.CANCELLED
            if count_attempt and max_attempts is not None and row["attempts"] >= max_attempts:
                await tx.run(
                    "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
                    (encode_failure(why if why is not None else failure("generic")), now, job_id),
                )
                return JobStatus.FAILED
            give_back = 0 if count_attempt else 1
            await tx.run(
                f"UPDATE jobs SET {REQUEUE_SET}, "
                "attempts = CASE WHEN attempts > ? THEN attempts - ? ELSE 0 END WHERE id = ?",
                (now, give_back, give_back, job_id),
            )
            await tx.notify(QUEUE, str(job_id))
            return JobStatus.QUEUED

    async def cleanup(self, older_than: float) -> int:
        """Delete the files of jobs finished and delivered more than `older_than` seconds
        ago (rows stay, for stats) and give the space back; returns how many jobs' files went."""
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
        await self._delete_files(ids)
        return len(ids)


def _owner(worker_id: str | None) -> tuple[str, tuple[str, ...]]:
    """The SQL condition (and its parameter) "only while this worker owns the job"."""
    if worker_id is None:
        return "", ()
    return " AND worker_id = ?", (worker_id,)
