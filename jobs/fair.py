"""Fair order of the queue: round-robin over users, not FIFO.

The next job is the best queued job (priority DESC, then created_at, then id) of the user
served least recently, where "last served" is MAX(started_at) over the user's jobs: no extra
state to keep in sync, a requeued job (started_at reset) does not count, and a user who was
never served goes first. A bumped job (higher priority) beats every user's turn.

`CLAIM_SQL` and `simulate()` must agree: queue positions shown to users come from the
simulation, the claims from the SQL; a test checks they produce the same order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# The next job to run. Only each waiting user's head job competes, so the cost grows with
# the number of waiting users, not of queued jobs: a GROUP BY over the covering index
# (status, user_id, priority), then two index seeks per user for the head and "last served".
# The dialect may append a row lock on `j` (PostgreSQL: FOR UPDATE OF j SKIP LOCKED): a
# head another painter is claiming is passed over for the next user's head (not the same
# user's next job, which is no head yet), and `j.status` is re-checked on the locked row.
CLAIM_SQL = """
WITH waiting AS (
    SELECT user_id, MAX(priority) AS top FROM jobs WHERE status = 'queued' GROUP BY user_id
), heads AS (
    SELECT w.top,
           (SELECT MAX(s.started_at) FROM jobs AS s WHERE s.user_id = w.user_id) AS last_served,
           (SELECT q.id FROM jobs AS q
            WHERE q.user_id = w.user_id AND q.status = 'queued' AND q.priority = w.top
            ORDER BY q.created_at, q.id LIMIT 1) AS head_id
    FROM waiting AS w
)
SELECT h.head_id AS id, h.last_served
FROM heads AS h JOIN jobs AS j ON j.id = h.head_id
WHERE j.status = 'queued'
ORDER BY h.top DESC, h.last_served IS NOT NULL, h.last_served, j.created_at, j.id
LIMIT 1
"""

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
