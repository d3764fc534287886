"""The bridge from the painting thread to the job table: each job's progress (with a preview)
reported every PROGRESS_EVERY iterations, and the answer that stops it (a cancel)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
from collections.abc import Coroutine
from typing import Any, TypeVar

from engine.paint import Progress, ProgressCallback
from engine.painter.context import PainterContext
from jobs import DatabaseUnavailable, Job
from jobs.events import job_event
from media.images import encode_image

log = logging.getLogger("engine.worker")

PREVIEW_SIDE = 320

T = TypeVar("T")


def on_loop(
    loop: asyncio.AbstractEventLoop, call: Coroutine[Any, Any, T], timeout: float | None = None
) -> T:
    """(thread) Run a database call on the painter's event loop and wait for its answer, at
    most `timeout` seconds (DB_CALL_TIMEOUT_SECONDS): then the call is cancelled and
    TimeoutError raised, so one hung call never holds the painting."""
    future = asyncio.run_coroutine_threadsafe(call, loop)
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"a database call took more than {timeout} s") from None


def progress_callback(
    context: PainterContext, job: Job, loop: asyncio.AbstractEventLoop
) -> ProgressCallback:
    """The job's progress callback, called in the painting thread at every iteration."""
    every = context.settings.progress_every
    unreported = False  # the database was away at the last report

    def on_progress(progress: Progress) -> bool:
        """Called every iteration (cheap): stop at once on a signal or a cancel seen by
        the heartbeat; write the preview and report every PROGRESS_EVERY iterations."""
        if context.moving(job.id):
            return True
        context.metrics.progress(progress.iteration, progress.elapsed)
        if progress.iteration % every and not progress.final:
            return False
        preview = None
        try:
            preview = encode_image(progress.preview(max_side=PREVIEW_SIDE), "JPEG", quality=80)
        except Exception:
            log.exception("job %s: could not make the preview", job.id)
        job_event(
            log,
            "progress",
            job,
            iteration=progress.iteration,
            total=progress.total,
            seconds=progress.elapsed,
        )
        report = context.store.report_progress(
            job.id,
            context.worker_id,
            iteration=progress.iteration,
            total=progress.total,
            loss=_finite(progress.loss),
            preview=preview,
            eta_seconds=_finite(progress.eta),
        )
        nonlocal unreported
        try:
            stop = on_loop(loop, report, context.settings.db_call_timeout_seconds)
            unreported = False
        except (DatabaseUnavailable, TimeoutError) as exc:  # painting on; reported later
            if not unreported:  # once per outage, not once per iteration
                log.warning("job %s: cannot report progress (%s); painting on", job.id, exc)
            unreported = True
            stop = False
        except Exception:
            log.exception("job %s: could not report progress", job.id)
            stop = False
        if stop:
            context.cancel(job.id)
        return stop or context.stopping.is_set()

    return on_progress


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
