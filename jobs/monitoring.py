"""What the whole install looks like, read from the table: counts, timings, painters.

The bot's /metrics derives its table metrics from `metrics_snapshot()` at scrape time, so any
number of bots and painters report the same numbers. Rows outlive file cleanup, so counts of
finished jobs only ever grow (what Prometheus counters and histograms need): the histograms
count finished jobs only, whose times never change again.

Portable SQL (no SQLite-only functions): the PostgreSQL backend runs the same statements.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.backends.database import Tx
from jobs.base import StoreBase
from jobs.liveness import engine_alive
from jobs.models import FINISHED, EngineInfo

# Painting time (claim to done) and time in the queue (enqueue to claim), in seconds.
JOB_SECONDS_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
WAIT_SECONDS_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)


@dataclass(frozen=True)
class Histogram:
    """Observations at or below each bound (cumulative, like Prometheus buckets)."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    total: float


@dataclass(frozen=True)
class PainterState:
    worker_id: str
    device: str
    heartbeat_age: float  # seconds since its last heartbeat
    alive: bool
    busy: bool  # painting a job now


@dataclass(frozen=True)
class MetricsSnapshot:
    finished: dict[str, int]  # done / failed / cancelled -> jobs ever
    queued: int
    running: int
    oldest_queued_age: float | None  # seconds the oldest queued job has waited
    undelivered: int  # finished, result not sent yet
    job_seconds: Histogram
    wait_seconds: Histogram
    painters: tuple[PainterState, ...]


def _histogram_sql(expression: str, where: str, bounds: tuple[float, ...]) -> str:
    buckets = ", ".join(
        f"SUM(CASE WHEN {expression} <= {bound!r} THEN 1 ELSE 0 END) AS le{i}"
        for i, bound in enumerate(bounds)
    )
    return f"SELECT COUNT(*) AS n, SUM({expression}) AS total, {buckets} FROM jobs WHERE {where}"


async def _histogram(tx: Tx, expression: str, where: str, bounds: tuple[float, ...]) -> Histogram:
    row = await tx.one(_histogram_sql(expression, where, bounds))
    count = int(row["n"]) if row else 0
    if not count:
        return Histogram(bounds, (0,) * len(bounds), 0, 0.0)
    assert row is not None
    cumulative = tuple(int(row[f"le{i}"] or 0) for i in range(len(bounds)))
    return Histogram(bounds, cumulative, count, float(row["total"] or 0.0))


class JobMonitoring(StoreBase):
    async def ping(self) -> None:
        """One trivial query: raises if the database cannot be reached."""
        await self._db.one("SELECT 1 AS ok")

    async def metrics_snapshot(self) -> MetricsSnapshot:
        """Everything /metrics reports about the install, from one consistent read."""
        now = self._now()
        async with self._db.transaction(write=False) as tx:
            by_status = await tx.all("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
            oldest = await tx.one(
                "SELECT MIN(created_at) AS created FROM jobs WHERE status = 'queued'"
            )
            undelivered = await tx.one(
                "SELECT COUNT(*) AS n FROM jobs "
                "WHERE finished_at IS NOT NULL AND delivered_at IS NULL"
            )
            job_seconds = await _histogram(
                tx,
                "finished_at - started_at",
                "status = 'done' AND started_at IS NOT NULL",
                JOB_SECONDS_BUCKETS,
            )
            wait_seconds = await _histogram(
                tx,
                "started_at - created_at",
                "finished_at IS NOT NULL AND started_at IS NOT NULL",
                WAIT_SECONDS_BUCKETS,
            )
            engines = [EngineInfo.from_row(r) for r in await tx.all("SELECT * FROM engines")]
        counts = {row["status"]: int(row["n"]) for row in by_status}
        created = oldest["created"] if oldest else None
        return MetricsSnapshot(
            finished={status.value: counts.get(status.value, 0) for status in sorted(FINISHED)},
            queued=counts.get("queued", 0),
            running=counts.get("running", 0),
            oldest_queued_age=None if created is None else max(0.0, now - created),
            undelivered=int(undelivered["n"]) if undelivered else 0,
            job_seconds=job_seconds,
            wait_seconds=wait_seconds,
            painters=tuple(
                PainterState(
                    worker_id=engine.worker_id,
                    device=engine.device,
                    heartbeat_age=max(0.0, now - engine.last_seen),
                    alive=engine_alive(engine, now=now, stale_after=self.stale_after),
                    busy=engine.current_job is not None,
                )
                for engine in sorted(engines, key=lambda e: e.worker_id)
            ),
        )
