"""The engine worker: takes jobs from picasso.db, paints them, writes the results back.

Run it as `python -m engine worker` (or bare `python -m engine`). One process drives one
device and loads VGG19 once. By default a worker holds an exclusive lease (a second one is
refused while the first is alive). For several GPUs run one worker per GPU with
`ENGINE_EXCLUSIVE=false DEVICE=cuda:N` (N = 0, 1, ...); they share the queue, and a job is
never claimed twice (claims are atomic in the database).

Crash safety: a job is only ever RUNNING under a worker that heartbeats. On start (and
every STALE_AFTER_SECONDS while idle) jobs of dead workers go back to the queue, or fail
after MAX_ATTEMPTS. SIGTERM/SIGINT stop the painting within an iteration, give the job back
to the queue without counting an attempt, and exit 0. Every database call of the event loop is
bounded (DB_CALL_TIMEOUT_SECONDS): a hung claim or write is an error, handled as one.

A painting thread that stops moving for PAINTER_STALL_SECONDS (a step that never returns)
cannot be interrupted: the worker gives the batch back (engine/painter/stalls.py) and exits at
once with PAINTER_STUCK (4), without waiting for that thread; the bot's supervisor restarts it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import torch

from engine.paint import Stylizer, bucket_pixels
from engine.paint.gpu import GpuCheck, check_gpu
from engine.painter.batching import LOOKAHEAD, batch_limit
from engine.painter.budget import PaintSpeed, measure_speed
from engine.painter.metrics import WorkerMetrics
from engine.painter.runner import JobRunner
from engine.painter.settings import EngineSettings
from engine.painter.sizing import budget_floor, budget_summary, job_seconds, published_speed
from engine.painter.stalls import PAINTER_STUCK, give_back
from jobs import (
    DatabaseUnavailable,
    EngineInfo,
    EngineLeaseError,
    Job,
    JobStatus,
    JobStore,
)
from jobs.backends.url import DatabaseUrlError
from jobs.cost import PainterSpeed
from jobs.logs import setup_logging
from jobs.retry import within
from media import sandbox

log = logging.getLogger("engine.worker")

CLEANUP_EVERY = 3600.0
T = TypeVar("T")


def unused_gpu(device: str, check: Callable[[], GpuCheck] | None = None) -> str | None:
    """With DEVICE=auto (or cuda), why a GPU here is one torch cannot use: logged as an ERROR
    at start and kept in the engines table (/admin and the bot's /healthz show it). DEVICE=cpu
    paints on the CPU on purpose: nothing to say. (DEVICE=cuda then refuses to start, saying
    the same why: engine/paint/model.py.)"""
    if device != "auto" and not device.startswith("cuda"):
        return None
    gpu = (check or check_gpu)()
    if not gpu.unused:
        return None
    why = gpu.why()
    if device == "auto":
        log.error("GPU present but unused: %s; painting on the CPU (DEVICE=auto)", why)
    return why


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
        self.current_jobs: tuple[int, ...] = ()  # the batch being painted (often one job)
        self.metrics = WorkerMetrics()
        self.exit_code = 0
        self.stuck = asyncio.Event()  # the painting thread stands still: give the batch back
        # A claim whose answer was lost (an error, no answer in time) may have committed, and
        # an outcome that could not be written leaves its job RUNNING: look for this worker's
        # jobs left RUNNING before the next claim.
        self.claim_unsure = False

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
            self.info.gpu_unused = await asyncio.to_thread(unused_gpu, self.settings.device)
            stylizer = await asyncio.to_thread(
                Stylizer, device=self.settings.device, weights=self.settings.weights
            )
            # Decide PRECISION=auto now (a short probe on CPUs with bf16), not in the first job.
            choice = await asyncio.to_thread(stylizer.precision_for, self.settings.precision)
            log.info("painting in %s: %s", choice.precision, choice.reason)
            hardware, self.info.gpu_memory_mb = describe_device(stylizer)
            speed = await asyncio.to_thread(self._measure_speed, stylizer, choice.precision)
            self.info.device = f"{hardware}, {choice.precision}"  # what /admin shows
            if speed is not None:
                on_cpu = stylizer.device.type == "cpu"
                self.info.device += f", {budget_summary(self.settings, speed, on_cpu)}"
                self.info.speed = published_speed(
                    self.settings, speed, on_cpu=on_cpu, precision=choice.precision
                )
            await self.store.register_engine(self.info, exclusive=exclusive)
            self.metrics.painter(self.worker_id, stylizer.device, hardware, choice.precision)
            self._serve_metrics()
            self.runner = JobRunner(
                self.store, stylizer, self.settings, self.worker_id, self.metrics
            )
            self.runner.context.speed = speed
            if self.stopping.is_set():
                self.runner.stopping.set()
            log.info("worker %s ready on %s", self.worker_id, self.info.device)
            await self._loop()
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self.metrics.close()
            with contextlib.suppress(Exception):
                await self._within(self.store.unregister_engine(self.worker_id), "unregister")
            log.info("worker %s stopped", self.worker_id)

    def _measure_speed(self, stylizer: Stylizer, precision: str) -> PaintSpeed | None:
        """(thread) This painter's speed, when the time budget chooses default photos' sizes
        (a clip's budget measures it at the first clip: engine/painter/clip_job.py)."""
        settings = self.settings
        if not job_seconds(settings, stylizer.device.type == "cpu"):
            return None
        if settings.image_size <= budget_floor(settings):
            return None  # nothing to choose: every default job is IMAGE_SIZE
        return measure_speed(stylizer, precision)

    def _serve_metrics(self) -> None:
        """WORKER_METRICS_PORT, if set; a port in use costs the metrics, never the painting."""
        port = self.settings.worker_metrics_port
        if port is None:
            return
        try:
            self.metrics.serve(port, self.settings.metrics_listen)
        except OSError as exc:
            log.error("painter metrics not served on port %d: %s", port, exc)

    async def _within(self, call: Awaitable[T], what: str) -> T:
        """One database call, at most DB_CALL_TIMEOUT_SECONDS: a hung one raises NoAnswer."""
        return await within(call, self.settings.db_call_timeout_seconds, what)

    async def _loop(self) -> None:
        """Claim and paint until stopped. Idle, wait for a wake-up (PostgreSQL's NOTIFY: a new
        job starts within milliseconds) or POLL_SECONDS, whichever comes first. Each database
        call is bounded (DB_CALL_TIMEOUT_SECONDS): one that hangs is an error like any other,
        tried again at the next turn."""
        settings = self.settings
        next_recovery = next_cleanup = 0.0
        new_work = self.store.wake_on_queue()
        while not self.stop.is_set():
            new_work.clear()  # before looking, so a job enqueued meanwhile still wakes us
            try:
                if self.claim_unsure:
                    left = await self._resume_lost_claim()
                    self.claim_unsure = False
                    if left:
                        await self._run(left)
                        continue
                now = time.monotonic()
                if now >= next_recovery:
                    next_recovery = now + settings.stale_after_seconds
                    await self._recover()
                if now >= next_cleanup:
                    next_cleanup = now + CLEANUP_EVERY  # a cleanup that fails waits its turn
                    older = settings.retention_days * 86400
                    removed = await self._within(self.store.cleanup(older), "cleanup")
                    if removed:
                        log.info("cleanup: removed the files of %d old jobs", removed)
                self.claim_unsure = True
                job = await self._within(self.store.claim(self.worker_id), "claim")
                self.claim_unsure = False
            except DatabaseUnavailable as exc:
                log.warning("could not poll the queue (%s); retrying", exc)
                job = None
            except Exception:
                log.exception("could not poll the queue; retrying")
                job = None
            if job is None:
                await new_work.wait(settings.poll_seconds, stop=self.stop)
                continue
            await self._run(await self._with_mates(job))
        new_work.close()

    async def _resume_lost_claim(self) -> list[Job]:
        """A claim whose reply was lost may have committed, and an outcome that could not be
        written (nor the job given back) leaves it RUNNING: such jobs are RUNNING under this
        worker, between batches, and nobody else will take them. Paint them (their attempt
        is already counted)."""
        running = await self._within(
            self.store.list_jobs([JobStatus.RUNNING], limit=10_000), "list running jobs"
        )
        mine = [job for job in running if job.worker_id == self.worker_id]
        if mine:
            log.warning(
                "jobs %s were left RUNNING under this worker (a claim whose reply was lost, "
                "an outcome not written); painting them",
                ", ".join(str(job.id) for job in mine),
            )
        return mine

    async def _with_mates(self, head: Job) -> list[Job]:
        """`head` and the queued jobs to paint with it: the next ones in fair order that share
        its plan (engine/painter/batching.py), as many as BATCH_JOBS allows. A database error while
        looking, or a call that never answers, costs only the mates: the head is painted (and a
        mate's claim that may have committed is looked for before the next claim). A job tried
        before (its painter died or stood still under it) is painted alone, and is nobody's
        mate: a poisonous job costs its neighbours one try at most (engine/painter/stalls.py)."""
        assert self.runner is not None
        if self.settings.batch_jobs == 1 or head.attempts > 1:
            return [head]
        batch = [head]
        try:
            key = await self.runner.batch_key(head)
            if key is None:
                return batch
            device = self.runner.stylizer.device
            limit = batch_limit(self.settings.batch_jobs, device, bucket_pixels(key))
            if limit <= 1:
                return batch
            order = await self._within(self.store.queue_order(), "read the queue")
            for job_id in order[: LOOKAHEAD * limit]:
                job = await self._within(self.store.get(job_id), f"read job {job_id}")
                if job is None or job.attempts or await self.runner.batch_key(job) != key:
                    continue
                self.claim_unsure = True
                mate = await self._within(
                    self.store.claim_job(self.worker_id, job_id), f"claim job {job_id}"
                )
                self.claim_unsure = False
                if mate is not None:
                    batch.append(mate)
                if len(batch) >= limit:
                    break
        except Exception as exc:  # noqa: BLE001 - the mates claimed so far are painted
            log.warning("could not look for jobs to paint with job %s: %s", head.id, exc)
        if len(batch) > 1:
            log.info("painting jobs %s together", ", ".join(str(job.id) for job in batch))
        return batch

    async def _run(self, jobs: list[Job]) -> None:
        assert self.runner is not None
        self.current_jobs = tuple(job.id for job in jobs)
        self.metrics.job_started()
        statuses: list[JobStatus | None] = [None] * len(jobs)
        try:
            statuses = await self._painted(jobs)
        except Exception:  # recording the outcome failed (database trouble)
            log.exception("jobs %s: could not record the outcome", self.current_jobs)
        finally:
            self.current_jobs = ()
            for status in statuses:
                requeued = status is JobStatus.QUEUED
                self.metrics.job_ended("requeued" if requeued else status and status.value)
        if None in statuses:  # an outcome not written, or a job taken from us: look
            self.claim_unsure = True
        with contextlib.suppress(Exception):
            beat = self.store.heartbeat(self.worker_id, None, self._learnt_speed())
            await self._within(beat, "heartbeat")

    def _learnt_speed(self) -> PainterSpeed | None:
        """This painter's speed as it stands after a batch (a photo painted alone teaches it,
        a clip's budget may have measured it), for the queue's estimates; None: unmeasured."""
        runner = self.runner
        if runner is None or runner.context.speed is None:
            return None
        precision = runner.stylizer.precision_for(self.settings.precision).precision
        on_cpu = runner.stylizer.device.type == "cpu"
        speed = published_speed(
            self.settings, runner.context.speed, on_cpu=on_cpu, precision=precision
        )
        self.info.speed = speed  # registering again keeps it
        return speed

    async def _painted(self, jobs: list[Job]) -> list[JobStatus | None]:
        """run_batch, unless the painting thread stands still first (the heartbeat sets
        `stuck`): then the batch is given back and this worker stops with PAINTER_STUCK."""
        assert self.runner is not None
        painting = asyncio.ensure_future(self.runner.run_batch(jobs))
        stuck = asyncio.ensure_future(self.stuck.wait())
        try:
            await asyncio.wait({painting, stuck}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stuck.cancel()
        if painting.done():
            return painting.result()
        culprit = self.runner.context.culprit()
        painting.cancel()  # the thread stays stuck; the batch's outcomes are written here
        with contextlib.suppress(asyncio.CancelledError):
            await painting
        log.error(
            "painter stuck: the painting of jobs %s has not moved for %.0f s (%s); giving "
            "them back and exiting with code %d to be restarted",
            ", ".join(str(job.id) for job in jobs),
            self.settings.painter_stall_seconds,
            f"in job {culprit}'s own step" if culprit is not None else "nobody's step known",
            PAINTER_STUCK,
        )
        statuses = await give_back(self.store, self.settings, self.worker_id, jobs, culprit)
        self.exit_code = PAINTER_STUCK
        self.request_stop("painter stuck")
        return statuses

    async def _recover(self) -> None:
        recover = self.store.recover_stale(
            stale_after=self.settings.stale_after_seconds, max_attempts=self.settings.max_attempts
        )
        touched = await self._within(recover, "recover the jobs of dead workers")
        if touched:
            log.warning("recovered jobs of dead workers: %s", touched)

    def _stuck(self) -> bool:
        """The painting has not moved for PAINTER_STALL_SECONDS (a step that never returns):
        `_painted` gives the batch back and stops this worker, and meanwhile the heartbeat
        stops saying it is alive (should that fail too, recover_stale takes its jobs)."""
        runner = self.runner
        return runner is not None and runner.context.stalled()

    async def _heartbeat_loop(self) -> None:
        """Runs beside the painting (which is in a thread), so a long iteration never
        makes this worker look dead. Also notices cancel requests between reports."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                painting = self.current_jobs
                first = painting[0] if painting else None
                if painting and self._stuck():
                    self.stuck.set()  # _painted gives the batch back and stops the worker
                    continue  # silent: recover_stale takes the jobs once we look dead
                if not await self._within(self.store.heartbeat(self.worker_id, first), "beat"):
                    log.warning("engine row vanished (judged dead?); registering again")
                    register = self.store.register_engine(self.info, exclusive=self.exclusive)
                    await self._within(register, "register again")
                for job_id in painting:
                    job = await self._within(self.store.get(job_id), f"read job {job_id}")
                    lost = job is None or job.cancel_requested or job.worker_id != self.worker_id
                    if lost and self.runner is not None and job_id in self.current_jobs:
                        self.runner.cancel(job_id)  # still painting it: stop that job alone
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
    2 refused to start (another engine holds the lease), 3 lost the lease while running.
    4 (PAINTER_STUCK), its painting thread hung, never returns: the process ends at once
    (`painter_stuck_exit`), as that thread can be neither stopped nor joined."""
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
        with contextlib.suppress(Exception):
            await asyncio.wait_for(store.close(), settings.db_call_timeout_seconds)
    if worker.exit_code == PAINTER_STUCK:
        painter_stuck_exit()
    return worker.exit_code


def painter_stuck_exit() -> None:
    """End this process now with PAINTER_STUCK: asyncio.run would wait for the hung painting
    thread for ever (its executor is joined at the end). Its decoding children are killed and
    the logs flushed first."""
    sandbox.kill_all()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(PAINTER_STUCK)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine worker",
        description="Paint queued jobs from DATA_DIR/picasso.db. Configured by environment "
        "variables (see engine/painter/settings.py), e.g. DEVICE=cuda:1 ENGINE_EXCLUSIVE=false.",
    )
    parser.parse_args(argv)
    settings = EngineSettings()
    setup_logging(settings.log_level, settings.log_format)
    return asyncio.run(run_worker(settings))
