"""A painting thread that stops moving (#28, goal 4): the batch given back, the painter restarted.

A step that never returns inside the painting thread (a progress callback's own code, a
timelapse frame, the painting itself, an encode) cannot be interrupted in Python. The runner
marks each job's own steps (`PainterContext.busy` / `blame`); when the painting has not moved
for PAINTER_STALL_SECONDS, the Worker (engine/painter/worker.py) gives the batch back here and
exits with PAINTER_STUCK, which the bot's supervisor (bot/supervisor.py) restarts like any
death. A decode never gets this far: it runs in a child killed at MEDIA_DECODE_SECONDS
(media/sandbox.py).

The culprit, when known (`PainterContext.culprit`), goes back to the queue with its attempt
counted, and fails with "painting_stalled" once it has had MAX_ATTEMPTS; the others get their
attempt back. With nobody known (a batch's shared iteration stood still), every job's attempt
counts. A job tried before is painted alone (Worker._with_mates), so a poisonous job drags its
neighbours down once at most, and then, alone, is known.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from engine.painter.settings import EngineSettings
from jobs import Job, JobStatus, JobStore
from jobs.events import job_event
from jobs.failures import failure
from jobs.retry import within

log = logging.getLogger("engine.worker")

PAINTER_STUCK = 4  # the worker's exit code: its painting thread hung (and cannot be joined)
STALLED = failure("painting_stalled")


async def give_back(
    store: JobStore,
    settings: EngineSettings,
    worker_id: str,
    jobs: Sequence[Job],
    culprit: int | None,
) -> list[JobStatus | None]:
    """Each job of the stuck batch back to the queue (or failed, see above); its new status,
    None where it was no longer this worker's to give (it had ended before the painting) or the
    write failed (recover_stale takes it once this painter is gone). Each write is bounded by
    DB_CALL_TIMEOUT_SECONDS."""
    return [
        await _give_back(store, settings, worker_id, job, culprit is None or job.id == culprit)
        for job in jobs
    ]


async def _give_back(
    store: JobStore, settings: EngineSettings, worker_id: str, job: Job, counted: bool
) -> JobStatus | None:
    requeue = store.requeue(
        job.id,
        count_attempt=counted,
        worker_id=worker_id,
        max_attempts=settings.max_attempts,
        why=STALLED,
    )
    try:
        status = await within(requeue, settings.db_call_timeout_seconds, f"give job {job.id} back")
    except Exception:  # noqa: BLE001 - the others are still given back
        log.exception("job %s: could not give it back; recovered once this painter is gone", job.id)
        return None
    if status is JobStatus.FAILED:
        job_event(log, "failed", job, level=logging.WARNING, error=STALLED.text)
    elif status is not None:
        job_event(log, "requeued", job, status=status, attempt_counted=counted)
    return status
