"""Real worker processes for the worker tests (helpers), plus the simplest life of one.

Workers run as `python -m engine worker` on CPU with tiny images and few iterations, in a
tmp DATA_DIR; tests poll the database with deadlines instead of sleeping fixed times.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from engine.painter.settings import EngineSettings
from jobs import Job, JobOptions, JobStatus, JobStore, StyleRef
from jobs.testing import new_job
from media.timelapse import FRAMES_NAME, unpack
from tests.shared_styles import shared_styles_dir
from tests.waiting import eventually

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = JobOptions()
DEADLINE = 120.0  # generous: the CPU is shared, and a worker start imports torch + VGG19

# Engine variables a developer's shell might have set; the tests set their own.
_ENGINE_VARS = {field.alias for field in EngineSettings.model_fields.values()}


class WorkerProcess:
    """`python -m engine worker` with a test environment; output goes to a log file."""

    def __init__(self, data_dir: Path, name: str = "worker", **env: str) -> None:
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"{name}.log"
        base = {k: v for k, v in os.environ.items() if k not in _ENGINE_VARS}
        base.update(
            DATA_DIR=str(data_dir),
            STYLES_DIR=str(data_dir.parent / "styles"),
            DEVICE="cpu",
            IMAGE_SIZE="64",
            ITERATIONS="3",
            PROGRESS_EVERY="1",
            HEARTBEAT_SECONDS="0.5",
            POLL_SECONDS="0.2",
            OMP_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
            PRECISION="fp32",  # no start-up probe (test_worker_probes_precision covers auto)
            PYTHONPATH=str(REPO),
            PYTHONUNBUFFERED="1",
        )
        base.update(env)
        self.env = base
        data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # cwd outside the repo: no stray .env is read
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine", "worker"],
                env=self.env,
                cwd=data_dir.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def ready(self, within: float = DEADLINE) -> None:
        await eventually(lambda: "ready on" in self.log(), within, f"{self.log_path} ready")

    async def exited(self, within: float = DEADLINE) -> int:
        deadline = time.monotonic() + within
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"worker did not exit:\n{self.log()}"
            await asyncio.sleep(0.1)
        return self.proc.returncode

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL and reap (a zombie would still look alive to the pid check)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def shared_worker(root: Path, paintings: tuple[str, ...] = (), **env: str):
    """One worker process for a module's tests (starting one costs seconds of CPU), with
    these shared paintings in its STYLES_DIR; stopped at the end."""
    (root / "styles").mkdir()
    for name in paintings:
        shutil.copy(shared_styles_dir(name) / f"{name}.jpg", root / "styles" / f"{name}.jpg")
    worker = WorkerProcess(root / "data", **env)
    try:
        yield worker
    finally:
        worker.stop()


@contextlib.asynccontextmanager
async def store_beside(worker: WorkerProcess):
    """The worker's job table, unpaused after the test; fails the test if the worker died."""
    async with await JobStore.open(worker.data_dir) as store:
        yield store
        await store.set_paused(False)
    assert worker.proc.poll() is None, f"the worker died:\n{worker.log()}"


async def wait_status(
    store: JobStore, job_id: int, statuses: set[JobStatus], within: float = DEADLINE
) -> Job:
    async def check():
        job = await store.get(job_id)
        return job if job is not None and job.status in statuses else None

    return await eventually(check, within, f"job {job_id} to become {sorted(statuses)}")


async def wait_progress(store: JobStore, job_id: int, iteration: int = 1) -> Job:
    async def check():
        job = await store.get(job_id)
        assert job is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING), (
            f"job {job_id} ended before reaching iteration {iteration}: {job}"
        )
        return job if job.status is JobStatus.RUNNING and job.iteration >= iteration else None

    return await eventually(check, DEADLINE, f"job {job_id} to reach iteration {iteration}")


def picture(seed: int, size: tuple[int, int] = (80, 60)) -> bytes:
    """A small structured RGB picture (gradients, stripes and noise), as PNG bytes."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    freq = rng.uniform(0.1, 0.6)
    channels = [
        127 + 120 * np.sin(freq * (x * rng.uniform(-1, 1) + y * rng.uniform(-1, 1)) + phase)
        for phase in rng.uniform(0, 6.28, 3)
    ]
    pixels = np.stack(channels, axis=-1) + rng.normal(0, 20, (height, width, 3))
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "PNG")
    return out.getvalue()


async def add_job(
    store: JobStore,
    user_id: int = 1,
    *,
    seed: int = 0,
    options: JobOptions = DEFAULTS,
    presets: tuple[str, ...] = (),
    uploaded_styles: int = 1,
    content: bytes | None = None,
    message_id: int | None = None,
) -> Job:
    """Enqueue a job as the bot would: the photo plus uploaded style-N.png files."""
    styles = tuple(StyleRef(image=f"style-{i}.png", weight=1.0 + i) for i in range(uploaded_styles))
    styles += tuple(StyleRef(preset=name) for name in presets)
    files = {"content.jpg": picture(seed) if content is None else content}
    for i in range(uploaded_styles):
        files[f"style-{i}.png"] = picture(1000 + seed + i, (64, 64))
    job, _ = await store.enqueue(
        new_job(user_id, styles=styles, options=options, message_id=message_id), files
    )
    return job


# ------------------------------------------------------------------------------ tests
async def test_a_worker_paints_a_job_then_stops_cleanly(tmp_path):
    data = tmp_path / "data"
    async with await JobStore.open(data) as store:
        job = await add_job(store, options=JobOptions(iterations=4))
        worker = WorkerProcess(data)
        try:
            done = await wait_status(store, job.id, {JobStatus.DONE, JobStatus.FAILED})
            assert done.status is JobStatus.DONE, done.error
            assert done.attempts == 1 and done.iteration == done.total_iterations == 4
            assert done.result_name == "result.png" and done.preview_name == "preview.jpg"
            result = Image.open(io.BytesIO(await store.read_file(job.id, "result.png")))
            assert result.format == "PNG" and result.size == (64, 48)  # IMAGE_SIZE=64, 4:3
            preview = Image.open(io.BytesIO(await store.read_file(job.id, "preview.jpg")))
            assert preview.format == "JPEG" and max(preview.size) <= 320
            frames = unpack(await store.read_file(job.id, FRAMES_NAME))
            assert len(frames) == 5 and frames[-1].size == (64, 48)  # photo, 3 steps, painting
            (engine,) = await store.engines()
            assert engine.pid == worker.pid and engine.device == "cpu, fp32" and engine.exclusive
            assert "painting in fp32: set by PRECISION" in worker.log()
            worker.signal(signal.SIGTERM)
            assert await worker.exited() == 0
            assert await store.engines() == []  # unregistered
            assert "job 1 done" in worker.log()
        finally:
            worker.stop()
