"""Reads: single jobs, queue positions and ETAs, listings for users and admins, stats."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

from jobs.base import StoreBase
from jobs.clips import CLIP_PATTERN, is_clip
from jobs.cost import PainterSpeed, photo_seconds
from jobs.eta import queued_finish, running_remaining
from jobs.fair import LAST_SERVED_SQL, QUEUED_SQL, QueuedJob, simulate
from jobs.models import Job, JobOptions, JobStatus, Stats, options_from_json

RECENT_FOR_AVERAGE = 20
# How a job's options (options_to_json) say it asks for no size and no iterations of its own.
DEFAULT_SIZE = '"size":null'
DEFAULT_ITERATIONS = '"iterations":null'


class JobQueries(StoreBase):
    async def get(self, job_id: int) -> Job | None:
        row = await self._db.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else Job.from_row(row)

    async def queue_order(self) -> list[int]:
        """Ids of all queued jobs in the order they will run (fair order, simulated)."""
        async with self._db.transaction(write=False) as tx:  # one snapshot for both
            rows = await tx.all(QUEUED_SQL)
            served = await tx.all(LAST_SERVED_SQL)
        queued = [QueuedJob(r["id"], r["user_id"], r["priority"], r["created_at"]) for r in rows]
        return simulate(queued, {r["user_id"]: r["last"] for r in served})

    async def queue_positions(self) -> dict[int, int]:
        """{job id: position} for every queued job (1 = next); one query for the whole queue."""
        return {job_id: n for n, job_id in enumerate(await self.queue_order(), start=1)}

    async def queue_position(self, job_id: int) -> int | None:
        """1 = next to run, 0 = running, None = not active (or unknown)."""
        row = await self._db.one("SELECT status FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            return None
        if row["status"] == JobStatus.RUNNING:
            return 0
        if row["status"] != JobStatus.QUEUED:
            return None
        position = (await self.queue_positions()).get(job_id)
        if position is None:  # claimed (or cancelled) by another process in between
            job = await self.get(job_id)
            return 0 if job is not None and job.status is JobStatus.RUNNING else None
        return position

    async def queue(self, limit: int = 50) -> list[Job]:
        """Admin view: running jobs, then queued jobs in the order they will run."""
        running = await self.list_jobs([JobStatus.RUNNING], limit=limit)
        order = (await self.queue_order())[: max(0, limit - len(running))]
        queued = [job for job_id in order if (job := await self.get(job_id)) is not None]
        return running + queued

    async def average_duration(self, clips: bool = False, default: bool = False) -> float | None:
        """Mean run time (claim to done) of the last finished photos, or with `clips` of the
        last clips (a clip takes many photos' time: one average would be wrong for both), or
        with `default` of the last photos that asked for neither size nor iterations; None
        before the first."""
        like = "LIKE" if clips else "NOT LIKE"
        own = f"AND options LIKE '%{DEFAULT_SIZE}%' AND options LIKE '%{DEFAULT_ITERATIONS}%'"
        row = await self._db.one(
            f"""
            SELECT AVG(d) AS avg FROM (
                SELECT finished_at - started_at AS d FROM jobs
                WHERE status = 'done' AND started_at IS NOT NULL
                  AND COALESCE(content_name, '') {like} '{CLIP_PATTERN}' {own if default else ""}
                ORDER BY finished_at DESC LIMIT {RECENT_FOR_AVERAGE}) AS recent
            """
        )
        return None if row is None or row["avg"] is None else float(row["avg"])

    async def eta_seconds(self, job_id: int) -> float | None:
        """Seconds until the job is expected to be DONE (queued: wait + its own run).

        Models every live engine as a lane: running jobs end when their pace says, then each
        job ahead in fair order takes what it is expected to run (`_expected`: a default
        photo the recent default photos' average, one with its own size= what that costs on
        the live painters, a clip the recent clips' average). None without history.
        """
        job = await self.get(job_id)
        if job is None or not job.is_active:
            return None
        now = self._now()
        expected = await self._expected()
        running = await self.list_jobs([JobStatus.RUNNING], limit=1000)
        left = {
            r.id: running_remaining(
                now=now,
                started_at=r.started_at or now,
                progress_at=r.progress_at,
                iteration=r.iteration,
                total=r.total_iterations,
                avg_duration=expected(r.content_name, r.options),
                eta_at=r.eta_at,
            )
            for r in running
        }
        if job.status is JobStatus.RUNNING:
            return left.get(job.id)
        order = await self.queue_order()
        if job.id not in order:
            return None
        ahead = order.index(job.id)
        line = set(order[: ahead + 1])
        rows = await self._db.all(
            "SELECT id, content_name, options FROM jobs WHERE status = 'queued'"
        )
        asks = {
            row["id"]: expected(row["content_name"], row["options"])
            for row in rows
            if row["id"] in line
        }
        durations = [asks.get(job_id) for job_id in order[: ahead + 1]]
        if any(duration is None for duration in durations):
            return None  # no history yet (or a job claimed meanwhile: asked again soon)
        workers = max(await self.live_engine_count(), len(running), 1)
        return queued_finish(
            ahead=ahead,
            running_left=[v for v in left.values() if v is not None],
            workers=workers,
            avg_duration=0.0,  # unused: every job has its duration
            durations=cast(list[float], durations),
        )

    async def _expected(self) -> Callable[[str, str | JobOptions], float | None]:
        """How long a job (its content name and options, or their JSON) is expected to run:
        a clip the recent clips' average (the photos' before any clip), a photo that asks for
        neither size nor iterations the recent default photos' average (its size is chosen
        to fit the painter's time budget; the photos' before any), one that asks for its own
        what that costs on the live painters' published speed (jobs/cost.py), else the
        photos' average. None before any photo was painted."""
        photos = await self.average_duration()
        clips = await self.average_duration(clips=True)
        defaults = await self.average_duration(default=True)
        speeds = await self.live_speeds()

        def expected(content_name: str, options: str | JobOptions) -> float | None:
            if photos is None:
                return None
            if is_clip(content_name):
                return photos if clips is None else clips
            default = photos if defaults is None else defaults
            if isinstance(options, str):
                if DEFAULT_SIZE in options and DEFAULT_ITERATIONS in options:
                    return default  # most jobs: no need to read the JSON
                options = options_from_json(options)
            return photo_seconds(options, speeds, default)

        return expected

    async def live_speeds(self) -> list[PainterSpeed]:
        """The published speeds of the live painters that measured theirs."""
        rows = await self._db.all(
            "SELECT speed FROM engines WHERE last_seen >= ? AND speed IS NOT NULL",
            (self._now() - self.stale_after,),
        )
        return [speed for row in rows if (speed := PainterSpeed.from_json(row["speed"]))]

    async def live_engine_count(self) -> int:
        row = await self._db.one(
            "SELECT COUNT(*) AS n FROM engines WHERE last_seen >= ?",
            (self._now() - self.stale_after,),
        )
        return int(row["n"]) if row else 0

    async def active_count(self, *, user_id: int | None = None, chat_id: int | None = None) -> int:
        sql = "SELECT COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running')"
        params: list[int] = []
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        if chat_id is not None:
            sql += " AND chat_id = ?"
            params.append(chat_id)
        row = await self._db.one(sql, params)
        return int(row["n"]) if row else 0

    async def user_jobs(self, user_id: int, *, active_only: bool = True) -> list[Job]:
        sql = "SELECT * FROM jobs WHERE user_id = ?"
        if active_only:
            sql += " AND status IN ('queued', 'running')"
        rows = await self._db.all(sql + " ORDER BY id", (user_id,))
        return [Job.from_row(r) for r in rows]

    async def changed_since(self, since: float) -> list[Job]:
        """Jobs with progress or an end after `since` (the bot's notifier polls this)."""
        rows = await self._db.all(  # a UNION, so both indexes are used (an OR scans)
            """
            SELECT * FROM jobs WHERE id IN (
                SELECT id FROM jobs WHERE progress_at > ?
                UNION SELECT id FROM jobs WHERE finished_at > ?)
            ORDER BY id
            """,
            (since, since),
        )
        return [Job.from_row(r) for r in rows]

    async def undelivered(self) -> list[Job]:
        rows = await self._db.all(
            # finished_at is set exactly when a job ends: this walks the partial index
            # jobs_undelivered instead of every finished job ever.
            """
            SELECT * FROM jobs
            WHERE delivered_at IS NULL AND finished_at IS NOT NULL
            ORDER BY finished_at, id
            """
        )
        return [Job.from_row(r) for r in rows]

    async def list_jobs(
        self, statuses: Iterable[JobStatus] | None = None, limit: int = 50
    ) -> list[Job]:
        """Newest first; optionally only some statuses."""
        sql, params = "SELECT * FROM jobs", []
        if statuses is not None:
            wanted = [JobStatus(s).value for s in statuses]
            if not wanted:
                return []
            sql += f" WHERE status IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        rows = await self._db.all(sql + " ORDER BY id DESC LIMIT ?", (*params, int(limit)))
        return [Job.from_row(r) for r in rows]

    async def stats(self, since: float) -> Stats:
        """Jobs that ended since `since` by outcome, their mean duration, and the queue now."""
        ended = await self._db.all(
            """
            SELECT status, COUNT(*) AS n,
                   AVG(CASE WHEN status = 'done' THEN finished_at - started_at END) AS avg
            FROM jobs WHERE finished_at >= ? GROUP BY status
            """,
            (since,),
        )
        now = await self._db.all(
            "SELECT status, COUNT(*) AS n FROM jobs "
            "WHERE status IN ('queued', 'running') GROUP BY status"
        )
        counts = {r["status"]: int(r["n"]) for r in ended}
        active = {r["status"]: int(r["n"]) for r in now}
        avg = next((r["avg"] for r in ended if r["status"] == JobStatus.DONE), None)
        return Stats(
            done=counts.get(JobStatus.DONE, 0),
            failed=counts.get(JobStatus.FAILED, 0),
            cancelled=counts.get(JobStatus.CANCELLED, 0),
            queued=active.get(JobStatus.QUEUED, 0),
            running=active.get(JobStatus.RUNNING, 0),
            avg_duration=None if avg is None else float(avg),
        )
