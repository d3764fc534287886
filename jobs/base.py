"""State shared by the JobStore mixins: the database and the clock."""

from __future__ import annotations

from collections.abc import Callable

from jobs.backends.database import Database

Clock = Callable[[], float]

# Back to the queue: forget the run, started_at too, so the user's turn is not used up.
REQUEUE_SET = (
    "status = 'queued', worker_id = NULL, started_at = NULL, iteration = 0,"
    " total_iterations = NULL, loss = NULL, eta_at = NULL, progress_at = ?"
)


class StoreBase:
    """Attributes every part of JobStore relies on (set by JobStore.open)."""

    stale_after: float
    _db: Database
    _clock: Clock

    def _now(self) -> float:
        return self._clock()
