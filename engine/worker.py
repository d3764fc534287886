"""The engine worker: takes jobs from picasso.db, paints them, writes the results back.

Run it as `python -m engine worker` (or bare `python -m engine`). One process drives one
device and loads VGG19 once. By default a worker holds an exclusive lease (a second one is
refused while the first is alive). For several GPUs run one worker per GPU with
`ENGINE_EXCLUSIVE=false DEVICE=cuda:N` (N = 0, 1, ...); they share the queue, and a job is
never claimed twice (claims are atomic in the database).

Crash safety: a job is only ever RUNNING under a worker that heartbeats. On start (and
every STALE_AFTER_SECONDS while idle) jobs of dead workers go back to the queue, or fail
after MAX_ATTEMPTS. SIGTERM/SIGINT stop the painting within an iteration, give the job back
to the queue without counting an attempt, and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import logging
import math
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import torch
from PIL import Image

from engine.images import ImageError, encode_image, load_image
from engine.metrics import WorkerMetrics
from engine.painted import PAINTED_NAME, Painted
from engine.settings import EngineSettings
from engine.timelapse import FRAMES_NAME, FrameRecorder
from engine.transfer import Cancelled, Progress, StylizeOptions, Stylizer
from jobs import (
    DatabaseUnavailable,
    EngineInfo,
    EngineLeaseError,
    Job,
    JobOptions,
    JobStatus,
    JobStore,
    StyleRef,
)
from jobs.dburl import DatabaseUrlError
from jobs.events import job_event
from jobs.logs import setup_logging
from jobs.retry import wait_out
from styles import UnknownStyleError, defaults_for, load_catalogue

log = logging.getLogger("engine.worker")

PREVIEW_SIDE = 320
CLEANUP_EVERY = 3600.0
OOM_SHRINK = 0.7

GENERIC_ERROR = (
    "Sorry, something went wrong while painting this picture. "
    "Please try again later, or with another photo."
)


class JobFailed(Exception):
    """This job cannot be painted; `user_message` says why, in words for the user."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


def missing_preset_message(name: str) -> str:
    return (
        f"The painting '{name}' is not installed on this server; "
        "the admin should run `make styles`."
    )


def oom_message(size: int) -> str:
    smaller = max(64, int(size * OOM_SHRINK) // 64 * 64)
    return (
        f"Your picture did not fit in the painter's memory, even at {size} px. "
        f"Please try a smaller size, for example size={smaller}."
    )


def plan_options(
    options: JobOptions,
    settings: EngineSettings,
    *,
    on_cpu: bool,
    preset_defaults: Mapping[str, float] | None = None,
) -> StylizeOptions:
    """The job's knobs filled in from the painting's own defaults (the catalogue's
    `[presets.X.defaults]`), then the settings. On a CPU, size and iterations the job did not
    ask for are capped by CPU_IMAGE_SIZE / CPU_ITERATIONS (a default job then ends in
    minutes); MAX_IMAGE_SIZE / MAX_ITERATIONS cap everything."""
    preset_defaults = preset_defaults or {}
    size = options.size
    if size is None:
        size = min(settings.image_size, settings.cpu_image_size) if on_cpu else settings.image_size
    iterations = options.iterations
    if iterations is None:
        iterations = settings.iterations
        if on_cpu:
            iterations = min(iterations, settings.cpu_iterations)
    return StylizeOptions(
        size=min(size, settings.max_image_size),
        iterations=min(iterations, settings.max_iterations),
        strength=(
            options.strength
            if options.strength is not None
            else preset_defaults.get("strength", settings.strength)
        ),
        style_scale=preset_defaults.get("style_scale", 1.0),
        preserve_colors=bool(options.preserve_colors),
        seed=0 if options.seed is None else options.seed,
        progress_every=1,  # every iteration: stop checks; the db hears every PROGRESS_EVERY
        precision=settings.precision,
    )


@dataclass(frozen=True)
class _Inputs:
    """A job's files, read from the job table: the photo and uploaded paintings by name."""

    content: bytes
    uploads: Mapping[str, bytes]


@dataclass(frozen=True)
class _Outcome:
    """A painted job: the result (PNG), its size, and the files that go with it."""

    result: bytes
    size: tuple[int, int]
    extra_files: dict[str, bytes]


class JobRunner:
    """Paints one job at a time in a thread, bridging progress back to the event loop."""

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
        self.stopping = threading.Event()  # set by a signal: give the job back and exit
        self.cancelled = threading.Event()  # the current job's cancel was requested
        self.catalogue = load_catalogue()

    def _defaults(self, job: Job) -> dict[str, float]:
        """The job's presets' own defaults (an unknown preset fails later, when loaded)."""
        presets = []
        for ref in job.styles:
            if ref.preset is not None and ref.preset in self.catalogue:
                presets.append((self.catalogue.resolve(ref.preset), ref.weight))
        return defaults_for(presets)

    async def run(self, job: Job) -> JobStatus | None:
        """Paint `job` and record the outcome; returns the job's new status."""
        self.cancelled.clear()
        started = time.monotonic()
        try:
            on_cpu = self.stylizer.device.type == "cpu"
            options = plan_options(
                job.options, self.settings, on_cpu=on_cpu, preset_defaults=self._defaults(job)
            )
            inputs = await self._inputs(job)
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
            loop = asyncio.get_running_loop()
            outcome = await asyncio.to_thread(self._paint, job, inputs, options, loop)
        except Cancelled:
            return await self._stopped(job, time.monotonic() - started)
        except JobFailed as exc:
            return await self._fail(job, exc.user_message, time.monotonic() - started)
        except Exception:
            log.exception("job %s: unexpected error", job.id)
            return await self._fail(job, GENERIC_ERROR, time.monotonic() - started)
        seconds = time.monotonic() - started
        finish = functools.partial(
            self.store.finish, job.id, outcome.result, extra_files=outcome.extra_files
        )
        if not await self._record(job, finish, JobStatus.DONE):
            log.warning("job %s was taken from this worker; result discarded", job.id)
            return None
        width, height = outcome.size
        job_event(log, "done", job, seconds=seconds, width=width, height=height)
        return JobStatus.DONE

    async def _inputs(self, job: Job) -> _Inputs:
        """The job's photo and uploaded paintings, from the job table (before painting starts,
        so the painting thread never waits on the database for them)."""
        content = await self._read_file(job, job.content_name)
        if content is None:
            raise JobFailed(
                "The photo for this job is missing on the server; please send it again."
            )
        uploads: dict[str, bytes] = {}
        for ref in job.styles:
            if ref.image is not None:
                data = await self._read_file(job, ref.image)
                if data is None:
                    raise JobFailed(
                        "Your style picture is missing on the server; please send it again."
                    )
                uploads[ref.image] = data
        return _Inputs(content, uploads)

    async def _read_file(self, job: Job, name: str) -> bytes | None:
        """read_file, waiting out a lost database connection (a transient outage must not
        fail the user's job); a stop request while waiting gives the job back."""
        try:
            return await wait_out(
                lambda: self.store.read_file(job.id, name),
                what=f"read {name} of job {job.id}",
                log=log,
                stop=self.stopping.is_set,
            )
        except DatabaseUnavailable as exc:
            raise Cancelled(0) from exc

    async def _stopped(self, job: Job, seconds: float) -> JobStatus | None:
        if self.stopping.is_set():
            status = await self.store.requeue(job.id, count_attempt=False, worker_id=self.worker_id)
            job_event(log, "requeued", job, seconds=seconds, status=status)
            return status
        cancelled = functools.partial(self.store.mark_cancelled, job.id)
        if not await self._record(job, cancelled, JobStatus.CANCELLED):
            log.warning("job %s was taken from this worker; stopped painting it", job.id)
            return None
        job_event(log, "cancelled", job, seconds=seconds)
        return JobStatus.CANCELLED

    async def _fail(self, job: Job, message: str, seconds: float) -> JobStatus | None:
        fail = functools.partial(self.store.fail, job.id, message)
        if not await self._record(job, fail, JobStatus.FAILED):
            return None
        job_event(log, "failed", job, level=logging.WARNING, seconds=seconds, error=message)
        return JobStatus.FAILED

    async def _record(
        self, job: Job, write: Callable[..., Awaitable[bool]], outcome: JobStatus
    ) -> bool:
        """Record the job's outcome, waiting out a lost database connection (the painting is
        kept in memory meanwhile; the heartbeat keeps the job this worker's). A write whose
        reply was lost may have committed: then the job already shows our outcome."""
        uncertain = False

        async def attempt() -> bool:
            nonlocal uncertain
            try:
                return await write(worker_id=self.worker_id)
            except DatabaseUnavailable:
                uncertain = True
                raise

        what = f"record job {job.id} as {outcome}"
        changed = await wait_out(attempt, what=what, log=log)
        if changed or not uncertain:
            return changed
        now = await wait_out(lambda: self.store.get(job.id), what=what, log=log)
        return now is not None and now.status is outcome and now.worker_id == self.worker_id

    # ---------------------------------------------------------------- in the thread
    def _paint(
        self,
        job: Job,
        inputs: _Inputs,
        options: StylizeOptions,
        loop: asyncio.AbstractEventLoop,
    ) -> _Outcome:
        """(thread) Decode, paint, encode: the result as PNG, with the timelapse frames and
        the record of what was used."""
        content = self._load_content(inputs.content, options.size)
        styles = [(self._load_style(inputs, ref, options.size), ref.weight) for ref in job.styles]
        on_progress = self._progress_callback(job, loop)
        frames = (
            FrameRecorder(self.settings.timelapse_frames)
            if self.settings.timelapse_frames
            else None
        )
        image = self._stylize(job, content, styles, options, on_progress, frames)
        painted = Painted(
            strength=options.strength,
            style_scale=options.style_scale,
            preserve_colors=options.preserve_colors,
            size=max(image.size),
            iterations=options.iterations,
        )
        extra = {PAINTED_NAME: painted.to_json()}
        if frames is not None:
            extra[FRAMES_NAME] = frames.pack()
        return _Outcome(encode_image(image, "PNG"), image.size, extra)

    def _stylize(
        self,
        job: Job,
        content,
        styles,
        options: StylizeOptions,
        on_progress,
        frames: FrameRecorder | None,
    ):
        """CUDA out of memory: free the cache and retry once at OOM_SHRINK x the size."""
        try:
            return self.stylizer.stylize(content, styles, options, on_progress, frames)
        except torch.cuda.OutOfMemoryError:
            pass  # retry outside the handler, so the traceback's tensors can be freed
        torch.cuda.empty_cache()
        smaller = dataclasses.replace(options, size=max(16, int(options.size * OOM_SHRINK)))
        log.warning(
            "job %s: out of GPU memory at %d px, retrying at %d px",
            *(job.id, options.size, smaller.size),
        )
        try:
            return self.stylizer.stylize(content, styles, smaller, on_progress, frames)
        except torch.cuda.OutOfMemoryError:
            pass
        torch.cuda.empty_cache()
        raise JobFailed(oom_message(smaller.size))

    def _load_content(self, data: bytes, size: int) -> Image.Image:
        try:
            return load_image(data, max_side=size, max_pixels=self.settings.max_input_pixels)
        except ImageError as exc:
            raise JobFailed(exc.user_message) from exc

    def _load_style(self, inputs: _Inputs, ref: StyleRef, size: int) -> Image.Image:
        # Twice the output size leaves room for a style_scale > 1 without upscaling paintings.
        max_side = 2 * size
        if ref.image is not None:
            try:
                return load_image(
                    inputs.uploads[ref.image],
                    max_side=max_side,
                    max_pixels=self.settings.max_input_pixels,
                )
            except ImageError as exc:
                raise JobFailed(f"About your style picture: {exc.user_message}") from exc
        assert ref.preset is not None
        try:
            preset = self.catalogue.resolve(ref.preset)
        except UnknownStyleError as exc:
            raise JobFailed(f"I don't know a painting called '{ref.preset}'.") from exc
        path = self.catalogue.image_path(preset, self.settings.styles_dir)
        if not path.is_file():
            raise JobFailed(missing_preset_message(preset.name))
        try:
            return load_image(path, max_side=max_side, max_pixels=self.settings.max_input_pixels)
        except ImageError as exc:
            log.error("preset %s at %s is unreadable: %s", preset.name, path, exc)
            raise JobFailed(
                f"The painting '{preset.name}' on this server is damaged; "
                "the admin should run `make styles`."
            ) from exc

    def _progress_callback(self, job: Job, loop: asyncio.AbstractEventLoop):
        every = self.settings.progress_every

        unreported = False  # the database was away at the last report

        def on_progress(progress: Progress) -> bool:
            """Called every iteration (cheap): stop at once on a signal or a cancel seen by
            the heartbeat; write the preview and report every PROGRESS_EVERY iterations."""
            if self.stopping.is_set() or self.cancelled.is_set():
                return True
            self.metrics.progress(progress.iteration, progress.elapsed)
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
            report = self.store.report_progress(
                job.id,
                self.worker_id,
                iteration=progress.iteration,
                total=progress.total,
                loss=_finite(progress.loss),
                preview=preview,
                eta_seconds=_finite(progress.eta),
            )
            nonlocal unreported
            try:
                stop = asyncio.run_coroutine_threadsafe(report, loop).result()
                unreported = False
            except DatabaseUnavailable as exc:  # keep painting; the result is reported later
                if not unreported:  # once per outage, not once per iteration
                    log.warning("job %s: cannot report progress (%s); painting on", job.id, exc)
                unreported = True
                stop = False
            except Exception:
                log.exception("job %s: could not report progress", job.id)
                stop = False
            if stop:
                self.cancelled.set()
            return stop or self.stopping.is_set()

        return on_progress


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def describe_device(stylizer: Stylizer) -> tuple[str, int | None]:
    """('NVIDIA H200 (cuda:0)', 143771) or ('cpu', None)."""
    device = stylizer.device
    if device.type != "cuda":
        return str(device), None
    index = device.index if device.index is not None else torch.cuda.current_device()
    memory = torch.cuda.get_device_properties(index).total_memory // 2**20
    return f"{stylizer.device_name} (cuda:{index})", int(memory)


class Worker:
    """Lease, heartbeat, recovery, the claim loop, hourly cleanup and graceful shutdown."""

    def __init__(self, settings: EngineSettings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        host = socket.gethostname()
        name = settings.worker_name or host
        self.worker_id = f"{name}-{os.getpid()}-{secrets.token_hex(2)}"
        self.info = EngineInfo(self.worker_id, os.getpid(), host, settings.device, None, name=name)
        # Default: one engine per SQLite file; many painters share a PostgreSQL.
        exclusive = settings.engine_exclusive
        self.exclusive = store.backend == "sqlite" if exclusive is None else exclusive
        self.stop = asyncio.Event()
        self.stopping = threading.Event()
        self.runner: JobRunner | None = None
        self.current_job: int | None = None
        self.metrics = WorkerMetrics()
        self.exit_code = 0

    def request_stop(self, reason: str = "signal") -> None:
        if not self.stop.is_set():
            log.info("stopping (%s)", reason)
        self.stop.set()
        self.stopping.set()
        if self.runner is not None:
            self.runner.stopping.set()

    async def run(self) -> None:
        exclusive = self.exclusive
        await self.store.register_engine(self.info, exclusive=exclusive)  # may refuse
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        try:
            stylizer = await asyncio.to_thread(
                Stylizer, device=self.settings.device, weights=self.settings.weights
            )
            # Decide PRECISION=auto now (a short probe on CPUs with bf16), not in the first job.
            choice = await asyncio.to_thread(stylizer.precision_for, self.settings.precision)
            log.info("painting in %s: %s", choice.precision, choice.reason)
            hardware, self.info.gpu_memory_mb = describe_device(stylizer)
            self.info.device = f"{hardware}, {choice.precision}"  # what /admin shows
            await self.store.register_engine(self.info, exclusive=exclusive)
            self.metrics.painter(self.worker_id, stylizer.device, hardware, choice.precision)
            self._serve_metrics()
            self.runner = JobRunner(
                self.store, stylizer, self.settings, self.worker_id, self.metrics
            )
            if self.stopping.is_set():
                self.runner.stopping.set()
            log.info("worker %s ready on %s", self.worker_id, self.info.device)
            await self._loop()
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self.metrics.close()
            await self.store.unregister_engine(self.worker_id)
            log.info("worker %s stopped", self.worker_id)

    def _serve_metrics(self) -> None:
        """WORKER_METRICS_PORT, if set; a port in use costs the metrics, never the painting."""
        port = self.settings.worker_metrics_port
        if port is None:
            return
        try:
            self.metrics.serve(port, self.settings.metrics_listen)
        except OSError as exc:
            log.error("painter metrics not served on port %d: %s", port, exc)

    async def _loop(self) -> None:
        """Claim and paint until stopped. Idle, wait for a wake-up (PostgreSQL's NOTIFY: a new
        job starts within milliseconds) or POLL_SECONDS, whichever comes first."""
        settings = self.settings
        next_recovery = next_cleanup = 0.0
        new_work = self.store.wake_on_queue()
        claim_unsure = False  # a claim failed: did it commit before the connection broke?
        while not self.stop.is_set():
            new_work.clear()  # before looking, so a job enqueued meanwhile still wakes us
            try:
                if claim_unsure:
                    job = await self._resume_lost_claim()
                    claim_unsure = False
                    if job is not None:
                        await self._run(job)
                        continue
                now = time.monotonic()
                if now >= next_recovery:
                    await self._recover()
                    next_recovery = now + settings.stale_after_seconds
                if now >= next_cleanup:
                    removed = await self.store.cleanup(settings.retention_days * 86400)
                    if removed:
                        log.info("cleanup: removed the files of %d old jobs", removed)
                    next_cleanup = now + CLEANUP_EVERY
                claim_unsure = True
                job = await self.store.claim(self.worker_id)
                claim_unsure = False
            except DatabaseUnavailable as exc:
                log.warning("could not poll the queue (%s); retrying", exc)
                job = None
            except Exception:
                log.exception("could not poll the queue; retrying")
                job = None
            if job is None:
                await new_work.wait(settings.poll_seconds, stop=self.stop)
                continue
            await self._run(job)
        new_work.close()

    async def _resume_lost_claim(self) -> Job | None:
        """A claim whose reply was lost may have committed: the job is then RUNNING under
        this worker and nobody else will take it. Paint it (its attempt is already counted)."""
        running = await self.store.list_jobs([JobStatus.RUNNING], limit=10_000)
        mine = [job for job in running if job.worker_id == self.worker_id]
        if mine:
            log.warning(
                "job %s was claimed by a claim whose reply was lost; painting it", mine[0].id
            )
        return mine[0] if mine else None

    async def _run(self, job: Job) -> None:
        assert self.runner is not None
        self.current_job = job.id
        self.metrics.job_started()
        status: JobStatus | None = None
        try:
            status = await self.runner.run(job)
        except Exception:  # recording the outcome failed (database trouble)
            log.exception("job %s: could not record the outcome", job.id)
        finally:
            self.current_job = None
            requeued = status is JobStatus.QUEUED
            self.metrics.job_ended("requeued" if requeued else status and status.value)
        with contextlib.suppress(Exception):
            await self.store.heartbeat(self.worker_id, None)

    async def _recover(self) -> None:
        touched = await self.store.recover_stale(
            stale_after=self.settings.stale_after_seconds, max_attempts=self.settings.max_attempts
        )
        if touched:
            log.warning("recovered jobs of dead workers: %s", touched)

    async def _heartbeat_loop(self) -> None:
        """Runs beside the painting (which is in a thread), so a long iteration never
        makes this worker look dead. Also notices cancel requests between reports."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                job_id = self.current_job
                if not await self.store.heartbeat(self.worker_id, job_id):
                    log.warning("engine row vanished (judged dead?); registering again")
                    await self.store.register_engine(self.info, exclusive=self.exclusive)
                if job_id is not None and self.runner is not None:
                    job = await self.store.get(job_id)
                    lost = job is None or job.cancel_requested or job.worker_id != self.worker_id
                    if lost and self.current_job == job_id:  # still the same job
                        self.runner.cancelled.set()
            except EngineLeaseError as exc:
                log.error("lost the engine lease: %s", exc)
                self.exit_code = 3
                self.request_stop("lease lost")
            except DatabaseUnavailable as exc:
                log.warning("heartbeat failed: %s", exc)
            except Exception:
                log.exception("heartbeat failed")


async def run_worker(settings: EngineSettings) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code: 0 clean stop, 1 crashed (logged),
    2 refused to start (another engine holds the lease), 3 lost the lease while running."""
    try:
        store = await JobStore.open(
            settings.data_dir,
            database_url=settings.database,
            stale_after=settings.stale_after_seconds,
        )
    except (DatabaseUrlError, DatabaseUnavailable) as exc:
        print(f"engine worker cannot open the job table: {exc}", file=sys.stderr)
        return 2
    log.info("job table: %s", store.description)
    worker = Worker(settings, store)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.request_stop, sig.name)
    try:
        await worker.run()
    except EngineLeaseError as exc:
        print(f"engine worker refused to start: {exc}", file=sys.stderr)
        return 2
    except Exception:
        log.exception("the worker crashed")
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await store.close()
    return worker.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine worker",
        description="Paint queued jobs from DATA_DIR/picasso.db. Configured by environment "
        "variables (see engine/settings.py), e.g. DEVICE=cuda:1 ENGINE_EXCLUSIVE=false.",
    )
    parser.parse_args(argv)
    settings = EngineSettings()
    setup_logging(settings.log_level, settings.log_format)
    return asyncio.run(run_worker(settings))
