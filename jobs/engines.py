"""The engines table: who is painting, the exclusive lease, heartbeats, and crash recovery."""

from __future__ import annotations

from jobs.backends.database import CHANGES, QUEUE
from jobs.base import REQUEUE_SET, StoreBase
from jobs.cost import PainterSpeed
from jobs.failures import encode, failure
from jobs.liveness import describe, engine_alive
from jobs.models import EngineInfo, EngineLeaseError


def gave_up_message(attempts: int) -> str:
    """The `error` of a job whose painter died under it `attempts` times (jobs/failures.py)."""
    return encode(failure("gave_up", count=attempts))


class EngineRegistry(StoreBase):
    async def register_engine(
        self, info: EngineInfo, *, exclusive: bool = True, stale_after: float | None = None
    ) -> None:
        """Announce a worker. Exclusive: refuse while any other engine is alive; not
        exclusive: refuse only while an exclusive one is alive. Dead engines' rows are
        removed (their lease is taken over; recover_stale requeues their jobs)."""
        stale_after = self.stale_after if stale_after is None else stale_after
        now = self._now()
        async with self._db.transaction() as tx:
            await tx.lock("engines")  # two hosts registering at once see each other
            rows = await tx.all("SELECT * FROM engines WHERE worker_id != ?", (info.worker_id,))
            for other in map(EngineInfo.from_row, rows):
                if not engine_alive(other, now=now, stale_after=stale_after):
                    await tx.run("DELETE FROM engines WHERE worker_id = ?", (other.worker_id,))
                elif exclusive or other.exclusive:
                    raise EngineLeaseError(_lease_message(other, now=now, exclusive=exclusive))
            await tx.run(
                """
                INSERT INTO engines (worker_id, pid, hostname, device, gpu_memory_mb, started_at,
                                     last_seen, current_job, exclusive, name, gpu_unused, speed)
                VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)
                ON CONFLICT (worker_id) DO UPDATE SET
                    pid = excluded.pid, hostname = excluded.hostname, device = excluded.device,
                    gpu_memory_mb = excluded.gpu_memory_mb, last_seen = excluded.last_seen,
                    exclusive = excluded.exclusive, name = excluded.name,
                    gpu_unused = excluded.gpu_unused, speed = excluded.speed
                """,
                (
                    info.worker_id,
                    info.pid,
                    info.hostname,
                    info.device,
                    info.gpu_memory_mb,
                    info.started_at or now,
                    now,
                    int(exclusive),
                    info.name or None,
                    info.gpu_unused or None,
                    None if info.speed is None else info.speed.to_json(),
                ),
            )

    async def heartbeat(
        self, worker_id: str, current_job: int | None, speed: PainterSpeed | None = None
    ) -> bool:
        """Refresh last_seen (and the painter's `speed` when given: it learns from every
        photo); False if the row is gone (another engine judged this one dead and took over:
        the worker should register again)."""
        changed = await self._db.run(
            "UPDATE engines SET last_seen = ?, current_job = ?, speed = COALESCE(?, speed) "
            "WHERE worker_id = ?",
            (self._now(), current_job, None if speed is None else speed.to_json(), worker_id),
        )
        return changed > 0

    async def unregister_engine(self, worker_id: str) -> None:
        await self._db.run("DELETE FROM engines WHERE worker_id = ?", (worker_id,))

    async def engines(self) -> list[EngineInfo]:
        rows = await self._db.all("SELECT * FROM engines ORDER BY started_at, worker_id")
        return [EngineInfo.from_row(r) for r in rows]

    async def drain(self, name: str, draining: bool = True) -> list[EngineInfo]:
        """Admin: the painters called `name` (or with that worker id) finish their current
        job and take no new one (draining=False: take jobs again). Returns those matched."""
        changed = await self._db.all(
            "UPDATE engines SET draining = ? WHERE name = ? OR worker_id = ? RETURNING *",
            (int(draining), name, name),
        )
        if changed and not draining:
            await self._db.notify(QUEUE)
        return [EngineInfo.from_row(row) for row in changed]

    async def jobs_done_by_worker(self, since: float) -> dict[str, int]:
        """{worker id: jobs it finished as done since `since`} (the admin's painter list)."""
        rows = await self._db.all(
            "SELECT worker_id, COUNT(*) AS n FROM jobs "
            "WHERE finished_at >= ? AND status = 'done' AND worker_id IS NOT NULL "
            "GROUP BY worker_id",
            (since,),
        )
        return {row["worker_id"]: int(row["n"]) for row in rows}

    async def recover_stale(self, *, stale_after: float, max_attempts: int = 3) -> list[int]:
        """Jobs left RUNNING by a dead worker go back to the queue (their attempt was counted
        at claim), or fail with a user-readable error after `max_attempts`; a requested
        cancel wins. Returns the ids of the jobs touched.

        Nobody is judged before the database has been back (as seen from here) for
        `stale_after` seconds: everyone's heartbeats were held up while it was away, and a
        live painter would lose its job to a second one (painted twice)."""
        touched: list[int] = []
        async with self._db.transaction() as tx:
            await tx.lock("engines")
            if self._db.away_within(stale_after):  # checked once through: this may have waited
                return touched
            now = self._now()
            rows = await tx.all(
                """
                SELECT j.id, j.attempts, j.cancel_requested, j.worker_id AS job_worker,
                       e.worker_id, e.pid, e.hostname, e.device, e.gpu_memory_mb,
                       e.started_at, e.last_seen, e.current_job, e.exclusive, e.name, e.draining,
                       e.gpu_unused, e.speed
                FROM jobs AS j LEFT JOIN engines AS e ON e.worker_id = j.worker_id
                WHERE j.status = 'running'
                """
            )
            dead_engines: set[str] = set()
            for row in rows:
                if row["worker_id"] is not None:
                    engine = EngineInfo.from_row(row)
                    if engine_alive(engine, now=now, stale_after=stale_after):
                        continue
                    dead_engines.add(engine.worker_id)
                if row["cancel_requested"]:
                    sql, params = "status = 'cancelled', finished_at = ?", (now,)
                elif row["attempts"] >= max_attempts:
                    sql = "status = 'failed', error = ?, finished_at = ?"
                    params = (gave_up_message(row["attempts"]), now)
                else:
                    sql, params = REQUEUE_SET, (now,)
                # Only if still running under that worker: it may have just finished.
                if await tx.run(
                    f"UPDATE jobs SET {sql} WHERE id = ? AND status = 'running' "
                    "AND COALESCE(worker_id, '') = ?",
                    (*params, row["id"], row["job_worker"] or ""),
                ):
                    touched.append(row["id"])
                    await tx.notify(CHANGES, str(row["id"]))
                    await tx.notify(QUEUE, str(row["id"]))
            for worker_id in dead_engines:
                await tx.run("DELETE FROM engines WHERE worker_id = ?", (worker_id,))
        return touched


def _lease_message(other: EngineInfo, *, now: float, exclusive: bool) -> str:
    who = describe(other, now=now)
    if exclusive:
        return (
            f"Another engine is already running: {who}. Stop it first, or set "
            "ENGINE_EXCLUSIVE=false on every worker to run several (one per GPU, DEVICE=cuda:N)."
        )
    return (
        f"An exclusive engine is running: {who}. Stop it, or restart it with "
        "ENGINE_EXCLUSIVE=false to run several workers."
    )
