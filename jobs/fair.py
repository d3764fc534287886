"""Fair order of the queue: round-robin over users, not FIFO.

The next job is the best queued job (priority DESC, then created_at, then id) of the user
served least recently, where "last served" is MAX(started_at) over the user's jobs: no extra
state to keep in sync, a requeued job (started_at reset) does not count, and a user who was
never served goes first. A bumped job (higher priority) beats every user's turn.

The candidates queries and `simulate()` must agree: queue positions shown to users come from the
simulation, the claims from the SQL; a test checks they produce the same order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Every waiting user's head job (the user's best queued job: highest priority, then oldest),
# in the order claims take them; the dialect takes the first it can claim
# (jobs/backends/dialect.py).
# It walks the partial index jobs_queued (user_id, priority DESC, created_at, id, …) WHERE
# status = 'queued' from one user's head straight to the next user's head, and looks up when
# each waiting user was last served in jobs_user_started. So a claim costs per waiting user,
# never per queued job, and reads no row a GROUP BY or a hash join over the whole queue
# would (both cost milliseconds with a few thousand jobs queued: bench/RESULTS.md).
#
# Written twice, for one order: SQLite's scalar subqueries return one column, so it seeks the
# next head twice (user and id) and looks up the head's priority and age by primary key;
# PostgreSQL reads each head as one row value, one index scan per waiting user (the claim
# then takes 0.6 of the time). The fair-order tests run both against simulate().
_NEXT_HEAD = """(SELECT n.{column} FROM jobs AS n
     WHERE n.status = 'queued' AND n.user_id > h.user_id
     ORDER BY n.user_id, n.priority DESC, n.created_at, n.id LIMIT 1)"""
CANDIDATES_SQL = f"""
WITH RECURSIVE heads(user_id, id) AS (
    SELECT user_id, id FROM (
        SELECT q.user_id, q.id FROM jobs AS q WHERE q.status = 'queued'
        ORDER BY q.user_id, q.priority DESC, q.created_at, q.id LIMIT 1) AS first_head
    UNION ALL
    SELECT {_NEXT_HEAD.format(column="user_id")},
           {_NEXT_HEAD.format(column="id")}
    FROM heads AS h WHERE h.user_id IS NOT NULL
)
SELECT h.id FROM heads AS h WHERE h.id IS NOT NULL
ORDER BY (SELECT k.priority FROM jobs AS k WHERE k.id = h.id) DESC,
         (SELECT MAX(s.started_at) FROM jobs AS s WHERE s.user_id = h.user_id) NULLS FIRST,
         (SELECT k.created_at FROM jobs AS k WHERE k.id = h.id),
         h.id
"""
ROW_VALUE_CANDIDATES_SQL = """
WITH RECURSIVE heads(job) AS (
    SELECT (SELECT q FROM jobs AS q WHERE q.status = 'queued'
            ORDER BY q.user_id, q.priority DESC, q.created_at, q.id LIMIT 1)
    UNION ALL
    SELECT (SELECT n FROM jobs AS n WHERE n.status = 'queued' AND n.user_id > (h.job).user_id
            ORDER BY n.user_id, n.priority DESC, n.created_at, n.id LIMIT 1)
    FROM heads AS h WHERE (h.job).id IS NOT NULL
)
SELECT (h.job).id AS id FROM heads AS h WHERE (h.job).id IS NOT NULL
ORDER BY (h.job).priority DESC,
         (SELECT MAX(s.started_at) FROM jobs AS s WHERE s.user_id = (h.job).user_id) NULLS FIRST,
         (h.job).created_at,
         (h.job).id
"""


def candidates_sql(row_values: bool) -> str:
    """The claim candidates query for a database with (True) or without row-valued subqueries."""
    return ROW_VALUE_CANDIDATES_SQL if row_values else CANDIDATES_SQL


# Everything simulate() needs: the queued jobs, and when each waiting user was last served.
QUEUED_SQL = "SELECT id, user_id, priority, created_at FROM jobs WHERE status = 'queued'"
LAST_SERVED_SQL = """
SELECT w.user_id, (SELECT MAX(s.started_at) FROM jobs AS s WHERE s.user_id = w.user_id) AS last
FROM (SELECT DISTINCT user_id FROM jobs WHERE status = 'queued') AS w
"""


@dataclass(frozen=True)
class QueuedJob:
    id: int
    user_id: int
    priority: int
    created_at: float


def simulate(queued: Iterable[QueuedJob], last_served: Mapping[int, float | None]) -> list[int]:
    """Ids of the queued jobs in the order claims would take them (if nothing new arrives).

    Each claim makes its user the most recently served, so after a user's turn they go to
    the back of the round among users of the same priority level.
    """
    per_user: dict[int, list[tuple[int, float, int]]] = {}
    for job in queued:
        per_user.setdefault(job.user_id, []).append((-job.priority, job.created_at, job.id))
    for jobs in per_user.values():
        jobs.sort()  # a user's own jobs: highest priority, then oldest first

    def served_key(user_id: int) -> tuple[int, float]:
        served = last_served.get(user_id)
        return (0, -math.inf) if served is None else (1, served)

    heap = []
    for user_id, jobs in per_user.items():
        neg_prio, created, job_id = jobs[0]
        heapq.heappush(heap, (neg_prio, served_key(user_id), created, job_id, user_id, 0))
    order: list[int] = []
    turn = 0  # simulated "now", later than any real started_at
    while heap:
        _, _, _, job_id, user_id, index = heapq.heappop(heap)
        order.append(job_id)
        turn += 1
        jobs = per_user[user_id]
        if index + 1 < len(jobs):
            neg_prio, created, next_id = jobs[index + 1]
            served = (2, float(turn))  # after every real timestamp
            heapq.heappush(heap, (neg_prio, served, created, next_id, user_id, index + 1))
    return order
