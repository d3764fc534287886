"""Jobs, painted: each job's options planned, its files read from the job table, the painting
in a thread with each job's progress and cancel bridged back to the event loop, and each
outcome (result, preview, timelapse frames, what was used, or a clear failure) written back.

The Worker (engine/painter/worker.py) claims a job, and with BATCH_JOBS > 1 the queued jobs
that can be painted with it (`batch_key`), and hands them to a JobRunner. Jobs of one plan are
painted as one batch (engine/paint/batch.py); each still ends on its own. A clip is painted by
engine/painter/clip_job.py; what both paths share is in `context`, `inputs`, `outcome`,
`reporting` and `sizing`. Each job's own steps in the thread (its decode, progress callback,
timelapse frame, painting alone, encode) are marked as its (`PainterContext.busy`), so a step
that never returns is known as that job's (engine/painter/stalls.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from PIL import Image

from engine.paint import (
    Cancelled,
    PaintingLost,
    PaintRequest,
    StylizeOptions,
    Stylizer,
    batch_key,
)
from engine.painter.clip_job import paint_clip_job
from engine.painter.context import PainterContext
from engine.painter.inputs import (
    GENERIC_ERROR,
    LOST_ERROR,
    JobFailed,
    JobInputs,
    load_content,
    load_style,
)
from engine.painter.metrics import WorkerMetrics
from engine.painter.outcome import JobOutcome, painted_files
from engine.painter.reporting import progress_callback
from engine.painter.settings import EngineSettings
from engine.painter.sizing import (
    OUT_OF_MEMORY,
    free_memory,
    is_out_of_memory,
    oom_message,
    plan_options,
    shrunk,
)
from jobs import DatabaseUnavailable, Job, JobStatus, JobStore
from jobs.clips import is_clip
from jobs.events import job_event
from jobs.failures import Failure, failure
from jobs.retry import NoAnswer, wait_out, within
from media.images import encode_image, fit_within, probe_image
from media.timelapse import FRAMES_NAME, FrameRecorder
from styles import defaults_for, load_catalogue

log = logging.getLogger("engine.worker")

T = TypeVar("T")
KEYS_KEPT = 10_000  # batch keys remembered (a queued job's photo is read once, not per claim)


@dataclass(frozen=True)
class _Ready:
    """A claimed job with its options and files, about to be painted."""

    job: Job
    options: StylizeOptions
    inputs: JobInputs


@dataclass(frozen=True)
class _Painting:
    """A job in the painting thread: its pictures, callback and timelapse, ready to paint."""

    job: Job
    request: PaintRequest


class JobRunner:
    """Paints jobs in a thread (several at once as one batch where they share a plan),
    bridging each job's progress back to the event loop."""

    def __init__(
        self,
        store: JobStore,
        stylizer: Stylizer,
        settings: EngineSettings,
        worker_id: str,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.store = store
        self.stylizer = stylizer
        self.settings = settings
        self.worker_id = worker_id
        self.metrics = metrics or WorkerMetrics()
        self.catalogue = load_catalogue()
        self.context = PainterContext(
            store, stylizer, settings, worker_id, self.metrics, self.catalogue
        )
        self.stopping = self.context.stopping  # set by a signal: give the jobs back and exit
        self._keys: dict[int, tuple[object, ...]] = {}  # batch keys of jobs seen queued

    def _defaults(self, job: Job) -> dict[str, float]:
        """The job's presets' own defaults (an unknown preset fails later, when loaded)."""
        presets = []
        for ref in job.styles:
            if ref.preset is not None and ref.preset in self.catalogue:
                presets.append((self.catalogue.resolve(ref.preset), ref.weight))
        return defaults_for(presets)

    def cancel(self, job_id: int) -> None:
        """Stop painting this job at its next iteration (the heartbeat saw a cancel)."""
        self.context.cancel(job_id)

    def is_cancelled(self, job_id: int) -> bool:
        return self.context.is_cancelled(job_id)

    def _precision(self) -> str:
        """What PRECISION means on this device (decided once, at the worker's start)."""
        return self.stylizer.precision_for(self.settings.precision).precision

    def _options(self, job: Job, content_size: tuple[int, int] | None = None) -> StylizeOptions:
        """The job's knobs; a photo's size (from its header) lets the time budget choose."""
        on_cpu = self.stylizer.device.type == "cpu"
        return plan_options(
            job.options,
            self.settings,
            on_cpu=on_cpu,
            preset_defaults=self._defaults(job),
            precision=self._precision() if on_cpu else "fp32",
            content_size=content_size,
            speed=self.context.speed,
        )

    def _content_size(self, job: Job, data: bytes) -> tuple[int, int] | None:
        """A photo's size from its header (None for a clip, or a photo that cannot be read:
        painting it will say why)."""
        if is_clip(job):
            return None
        try:
            return probe_image(data, max_pixels=self.settings.max_input_pixels)
        except Exception:  # noqa: BLE001 - reported when the photo is loaded
            return None

    async def batch_key(self, job: Job) -> tuple[object, ...] | None:
        """What a job must share with others to be painted in one batch with them (the
        shape bucket and the plan: engine/paint/plan.batch_key), from its photo's header; None
        when it is painted alone (a clip, a photo that cannot be read: it fails alone)."""
        if is_clip(job):
            return None
        if job.id in self._keys:  # a queued job looked at for an earlier batch
            return self._keys[job.id]
        try:
            data = await self._within(self.store.read_file(job.id, job.content_name), "read")
            if data is None:
                return None
            size = probe_image(data, max_pixels=self.settings.max_input_pixels)
            options = self._options(job, size)
        except Exception:  # the database or the photo: painting it alone will say which
            return None
        if len(self._keys) >= KEYS_KEPT:
            self._keys.clear()
        key = self._keys[job.id] = batch_key(fit_within(size, options.size), options)
        return key

    async def run(self, job: Job) -> JobStatus | None:
        """Paint `job` and record the outcome; returns the job's new status."""
        [status] = await self.run_batch([job])
        return status

    async def run_batch(self, jobs: Sequence[Job]) -> list[JobStatus | None]:
        """Paint `jobs` together (one batch where they share a plan, else one after another)
        and record each outcome; each job's new status, in order. A job that cannot start
        (its files, its photo) or stops (cancel, its own error) ends alone."""
        started = time.monotonic()
        self.context.cancelled.clear()
        self.context.touch()
        ready: list[_Ready] = []
        statuses: dict[int, JobStatus | None] = {}
        for job in jobs:
            try:
                ready.append(await self._ready(job))
            except Exception as exc:  # noqa: BLE001 - settled as this job's own outcome
                statuses[job.id] = await self._ended(job, exc, started)
        if ready:
            loop = asyncio.get_running_loop()
            outcomes: list[JobOutcome | BaseException]
            self.context.painting = tuple(item.job.id for item in ready)  # the watchdog's
            self.context.touch()
            try:
                outcomes = await asyncio.to_thread(self._paint_all, ready, loop)
            except Exception as exc:  # noqa: BLE001 - not one job's: each ends with it
                log.exception("the painting of jobs %s failed", [i.job.id for i in ready])
                outcomes = [exc] * len(ready)
            finally:
                self.context.painting, self.context.busy_with = (), None
            for item, outcome in zip(ready, outcomes, strict=True):
                statuses[item.job.id] = await self._ended(item.job, outcome, started)
        return [statuses[job.id] for job in jobs]

    async def _within(self, call: Awaitable[T], what: str) -> T:
        """One database call on the event loop, at most DB_CALL_TIMEOUT_SECONDS (NoAnswer)."""
        return await within(call, self.settings.db_call_timeout_seconds, what)

    async def _ended(
        self, job: Job, outcome: JobOutcome | BaseException, started: float
    ) -> JobStatus | None:
        """`_settle`; if recording the outcome itself fails (an error, a write that never
        answers), or the job's files could not be read for want of an answer, the job is given
        back (`_give_back`): a job of a batch never stays RUNNING because a neighbour's, or its
        own, outcome could not be written."""
        if isinstance(outcome, NoAnswer):  # the database's trouble, not the job's
            log.warning("job %s: %s; giving it back", job.id, outcome)
        else:
            try:
                return await self._settle(job, outcome, started)
            except Exception:  # noqa: BLE001 - this job's trouble; the batch's others still end
                log.exception("job %s: could not record its outcome; giving it back", job.id)
        return await self._give_back(job, started)

    async def _give_back(self, job: Job, started: float) -> JobStatus | None:
        """Back to the queue with its attempt counted, or, once it has had MAX_ATTEMPTS,
        failed (GENERIC_ERROR): a job whose outcome can never be written does not come back
        forever. None when even that cannot be written (the Worker looks for its jobs left
        RUNNING before its next claim)."""
        seconds = time.monotonic() - started
        requeue = self.store.requeue(
            job.id,
            count_attempt=True,
            worker_id=self.worker_id,
            max_attempts=self.settings.max_attempts,
            why=GENERIC_ERROR,
        )
        try:
            status = await self._within(requeue, f"give job {job.id} back")
        except Exception:  # noqa: BLE001 - the database is away or hung
            log.exception("job %s: could not give it back either", job.id)
            return None
        failed = status is JobStatus.FAILED
        event, level = ("failed", logging.WARNING) if failed else ("requeued", logging.INFO)
        job_event(log, event, job, level=level, seconds=seconds, status=status)
        return status

    async def _ready(self, job: Job) -> _Ready:
        """The job's options and files, read before painting starts."""
        inputs = await self._inputs(job)
        options = self._options(job, self._content_size(job, inputs.content))
        job_event(
            log,
            "started",
            job,
            wait_seconds=(job.started_at or job.created_at) - job.created_at,
            attempt=job.attempts,
            size=options.size,
            iterations=options.iterations,
            worker=self.worker_id,
        )
        return _Ready(job, options, inputs)

    async def _settle(
        self, job: Job, outcome: JobOutcome | BaseException, started: float
    ) -> JobStatus | None:
        """Record what became of the job: its picture, a stop, or a failure in words."""
        seconds = time.monotonic() - started
        if isinstance(outcome, Cancelled):
            return await self._stopped(job, seconds)
        if isinstance(outcome, JobFailed):
            return await self._fail(job, outcome.failure, seconds)
        if isinstance(outcome, PaintingLost):
            log.warning("job %s: %s", job.id, outcome)
            return await self._fail(job, LOST_ERROR, seconds)
        if isinstance(outcome, BaseException):
            log.error("job %s: unexpected error", job.id, exc_info=outcome)
            return await self._fail(job, GENERIC_ERROR, seconds)
        finish = functools.partial(
            self.store.finish, job.id, outcome.result, extra_files=outcome.extra_files
        )
        if not await self._record(job, finish, JobStatus.DONE):
            log.warning("job %s was taken from this worker; result discarded", job.id)
            return None
        width, height = outcome.size
        job_event(log, "done", job, seconds=seconds, width=width, height=height)
        return JobStatus.DONE

    async def _inputs(self, job: Job) -> JobInputs:
        """The job's photo and uploaded paintings, from the job table (before painting starts,
        so the painting thread never waits on the database for them)."""
        content = await self._read_file(job, job.content_name)
        if content is None:
            raise JobFailed(failure("photo_missing"))
        uploads: dict[str, bytes] = {}
        for ref in job.styles:
            if ref.image is not None:
                data = await self._read_file(job, ref.image)
                if data is None:
                    raise JobFailed(failure("style_missing"))
                uploads[ref.image] = data
        return JobInputs(content, uploads)

    async def _read_file(self, job: Job, name: str) -> bytes | None:
        """read_file, waiting out a lost database connection (a transient outage must not
        fail the user's job); a stop request while waiting gives the job back. Each try is
        bounded: one that never answers raises NoAnswer (the job is given back)."""
        try:
            what = f"read {name} of job {job.id}"
            return await wait_out(
                lambda: self._within(self.store.read_file(job.id, name), what),
                what=what,
                log=log,
                stop=self.stopping.is_set,
            )
        except DatabaseUnavailable as exc:
            raise Cancelled(0) from exc

    async def _stopped(self, job: Job, seconds: float) -> JobStatus | None:
        if self.stopping.is_set():
            requeue = self.store.requeue(job.id, count_attempt=False, worker_id=self.worker_id)
            status = await self._within(requeue, f"give job {job.id} back")
            job_event(log, "requeued", job, seconds=seconds, status=status)
            return status
        cancelled = functools.partial(self.store.mark_cancelled, job.id)
        if not await self._record(job, cancelled, JobStatus.CANCELLED):
            log.warning("job %s was taken from this worker; stopped painting it", job.id)
            return None
        job_event(log, "cancelled", job, seconds=seconds)
        return JobStatus.CANCELLED

    async def _fail(self, job: Job, why: Failure, seconds: float) -> JobStatus | None:
        fail = functools.partial(self.store.fail, job.id, why)
        if not await self._record(job, fail, JobStatus.FAILED):
            return None
        job_event(log, "failed", job, level=logging.WARNING, seconds=seconds, error=why.text)
        return JobStatus.FAILED

    async def _record(
        self, job: Job, write: Callable[..., Awaitable[bool]], outcome: JobStatus
    ) -> bool:
        """Record the job's outcome, waiting out a lost database connection (the painting is
        kept in memory meanwhile; the heartbeat keeps the job this worker's). A write whose
        reply was lost may have committed: then the job already shows our outcome. Each try
        is bounded: one that never answers raises NoAnswer (`_ended` gives the job back)."""
        uncertain = False
        what = f"record job {job.id} as {outcome}"

        async def attempt() -> bool:
            nonlocal uncertain
            try:
                return await self._within(write(worker_id=self.worker_id), what)
            except DatabaseUnavailable:
                uncertain = True
                raise

        changed = await wait_out(attempt, what=what, log=log)
        if changed or not uncertain:
            return changed
        now = await wait_out(lambda: self._within(self.store.get(job.id), what), what=what, log=log)
        return now is not None and now.status is outcome and now.worker_id == self.worker_id

    # ---------------------------------------------------------------- in the thread
    def _paint_all(
        self, ready: Sequence[_Ready], loop: asyncio.AbstractEventLoop
    ) -> list[JobOutcome | BaseException]:
        """(thread) Each job's outcome: the jobs of one plan painted as one batch, a clip or
        a job alone by itself."""
        outcomes: dict[int, JobOutcome | BaseException] = {}
        batches: dict[tuple[object, ...], list[_Painting]] = {}
        for item in ready:
            try:
                if is_clip(item.job):
                    with self.context.busy(item.job.id):
                        outcomes[item.job.id] = paint_clip_job(
                            self.context, item.job, item.inputs, item.options, loop
                        )
                    continue
                painting = self._painting(item, loop)
            except Exception as exc:  # noqa: BLE001 - its own outcome, the others go on
                outcomes[item.job.id] = exc
                continue
            key = batch_key(painting.request.content.size, item.options)
            batches.setdefault(key, []).append(painting)
        for batch in batches.values():
            try:
                painted = self._paint_batch(batch)
            except Exception as exc:  # noqa: BLE001 - this batch's jobs end with it
                painted = [exc] * len(batch)
            for painting, outcome in zip(batch, painted, strict=True):
                outcomes[painting.job.id] = outcome
        return [outcomes[item.job.id] for item in ready]

    def _painting(self, item: _Ready, loop: asyncio.AbstractEventLoop) -> _Painting:
        """(thread) The job's pictures decoded, its progress callback and timelapse (each
        called in the batch's iterations as this job's own step: `PainterContext.blame`)."""
        context, job = self.context, item.job
        with context.busy(job.id):
            context.touch()
            content = load_content(context, item.inputs.content, item.options.size)
            context.touch()
            styles = [
                (load_style(context, item.inputs, ref, item.options.size), ref.weight)
                for ref in job.styles
            ]
            context.touch()
        frames = None
        if self.settings.timelapse_frames:
            frames = FrameRecorder(self.settings.timelapse_frames)
            frames.add = context.blame(job.id, frames.add)  # type: ignore[method-assign]
        callback = context.blame(job.id, progress_callback(context, job, loop))
        return _Painting(job, PaintRequest(content, styles, item.options, callback, frames))

    def _paint_batch(self, batch: Sequence[_Painting]) -> list[JobOutcome | BaseException]:
        """(thread) The batch painted together; if the batch as a whole fails (out of GPU
        memory, or any error that is not one picture's own), each job is painted alone, so
        one job's trouble never costs the others theirs."""
        outcomes: list[Image.Image | BaseException] | None = None
        self.metrics.batch(len(batch))
        started = time.perf_counter()
        if len(batch) > 1:
            try:
                outcomes = self.stylizer.stylize_batch([p.request for p in batch])
            except Exception as exc:  # noqa: BLE001 - fall back to one at a time
                log.warning(
                    "a batch of %d jobs (%s) failed (%s); painting each alone",
                    *(len(batch), ", ".join(str(p.job.id) for p in batch), type(exc).__name__),
                )
            if outcomes is None:  # outside the handler: its traceback held the batch's tensors
                free_memory()
        if outcomes is None:
            self.metrics.batch(1)
            outcomes = [self._paint_alone(p) for p in batch]
        if len(batch) == 1:
            self._learn_speed(batch[0], outcomes[0], time.perf_counter() - started)
        return [self._finished(p, outcome) for p, outcome in zip(batch, outcomes, strict=True)]

    def _learn_speed(
        self, painting: _Painting, outcome: Image.Image | BaseException, seconds: float
    ) -> None:
        """(thread) A photo painted alone at its planned size tells the budget what painting
        really costs here (engine/painter/budget.py)."""
        speed, options = self.context.speed, painting.request.options
        if speed is None or not isinstance(outcome, Image.Image):
            return
        if max(outcome.size) != options.size:  # retried smaller: another plan
            return
        speed.observe(outcome.size, options, seconds)

    def _finished(
        self, painting: _Painting, outcome: Image.Image | BaseException
    ) -> JobOutcome | BaseException:
        """(thread) The job's outcome written out; out of memory anywhere in its own path (its
        timelapse frame, its callback, its finish, its encoding) paints it again alone,
        smaller, instead of failing it."""
        with self.context.busy(painting.job.id):
            return self._finish(painting, outcome)

    def _finish(
        self, painting: _Painting, outcome: Image.Image | BaseException
    ) -> JobOutcome | BaseException:
        self.context.touch()
        smaller = False
        while True:
            if is_out_of_memory(outcome) and not smaller:
                outcome, smaller = self._smaller(painting, outcome), True
            if is_out_of_memory(outcome):
                return JobFailed(oom_message(shrunk(painting.request.options.size)))
            if not isinstance(outcome, Image.Image):
                return outcome
            try:
                return self._outcome(painting, outcome)
            except Exception as exc:  # noqa: BLE001 - the job's outcome (or, OOM: again)
                outcome = exc

    def _smaller(self, painting: _Painting, error: BaseException) -> Image.Image | BaseException:
        """(thread) The job painted again alone, smaller, after running out of memory."""
        log.warning("job %s: out of memory in its own path (%s)", painting.job.id, error)
        error.__traceback__ = None  # its frames hold tensors
        free_memory()
        return self._paint_alone(painting, smaller=True)

    def _paint_alone(
        self, painting: _Painting, smaller: bool = False
    ) -> Image.Image | BaseException:
        try:
            with self.context.busy(painting.job.id):
                return self._stylize(painting.job, painting.request, smaller=smaller)
        except Exception as exc:  # noqa: BLE001 - the job's outcome
            return exc

    def _outcome(self, painting: _Painting, image: Image.Image) -> JobOutcome:
        """(thread) The result as PNG, with the timelapse frames and what was used."""
        job, options = painting.job, painting.request.options
        extra = painted_files(job, options, image.size, self.settings)
        frames = painting.request.frames
        if frames is not None:
            extra[FRAMES_NAME] = frames.pack()
        return JobOutcome(encode_image(image, "PNG"), image.size, extra)

    def _stylize(self, job: Job, request: PaintRequest, smaller: bool = False) -> Image.Image:
        """Out of memory: free the cache and retry once smaller (sizing.shrunk); `smaller`:
        the job already ran out of memory in a batch, start at the smaller size."""
        stylize = self.stylizer.stylize
        content, styles, options = request.content, request.styles, request.options
        if not smaller:
            try:
                return stylize(content, styles, options, request.on_progress, request.frames)
            except OUT_OF_MEMORY:
                pass  # retry outside the handler, so the traceback's tensors can be freed
            free_memory()
        less = dataclasses.replace(options, size=shrunk(options.size))
        log.warning(
            "job %s: out of memory at %d px, painting it at %d px",
            *(job.id, options.size, less.size),
        )
        try:
            return stylize(content, styles, less, request.on_progress, request.frames)
        except OUT_OF_MEMORY:
            pass
        free_memory()
        raise JobFailed(oom_message(less.size))
