"""The worker's decisions in-process: option caps, OOM retry, progress bridging, stop flags.

A scripted stand-in replaces VGG19 here (no torch compute); the real engine runs in the
worker-process tests.
"""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from engine.paint import Cancelled, Progress, StylizeOptions
from engine.paint.precision import PrecisionChoice
from engine.painter.budget import PaintSpeed
from engine.painter.inputs import GENERIC_ERROR
from engine.painter.runner import JobRunner
from engine.painter.settings import EngineSettings
from engine.painter.sizing import (
    CPU_SIZE_BF16,
    CPU_SIZE_FP32,
    oom_message,
    plan_options,
    published_speed,
)
from engine.painter.worker import Worker
from jobs import JobOptions, JobStatus, JobStore
from jobs.painted import PAINTED_NAME, Painted
from media.timelapse import FRAMES_NAME, unpack
from tests.test_worker_harness import add_job


class ScriptedStylizer:
    """Stands in for engine.paint.Stylizer: raises what `script` says, then paints grey."""

    def __init__(
        self, *script: BaseException, device: str = "cuda", precision: str = "fp32"
    ) -> None:
        self.device = torch.device(device)
        self.precision = precision
        self.script = list(script)
        self.sizes: list[int] = []
        self.progress_every = 0

    def precision_for(self, setting: str) -> PrecisionChoice:
        return PrecisionChoice(self.precision, "scripted")

    def stylize(self, content, styles, options: StylizeOptions, on_progress=None, frames=None):
        self.sizes.append(options.size)
        self.progress_every = options.progress_every
        if self.script:
            raise self.script.pop(0)
        image = Image.new("RGB", (options.size, options.size * 3 // 4), "grey")
        if frames is not None:
            frames.start(options.iterations)
            frames.add(content)
            frames.add(image)
        for i in range(1, options.iterations + 1):
            progress = Progress(
                iteration=i,
                total=options.iterations,
                raw_loss=float(100 - i),
                elapsed=0.0,
                eta=0.0,
                size=image.size,
                final=i == options.iterations,
                _render=lambda side: image.resize((side, side)),
            )
            if on_progress(progress) and not progress.final:
                raise Cancelled("stop")
        return image


def settings(tmp_path, **overrides) -> EngineSettings:
    values = {
        "DATA_DIR": tmp_path / "data",
        "STYLES_DIR": tmp_path / "styles",
        "IMAGE_SIZE": 768,
        "ITERATIONS": 500,
        "PROGRESS_EVERY": 2,
    }
    values.update(overrides)
    return EngineSettings(_env_file=None, **values)


@pytest.fixture
async def store(tmp_path):
    async with await JobStore.open(tmp_path / "data") as store:
        yield store


async def claimed(store, tmp_path, **kwargs):
    job = await add_job(store, **kwargs)
    assert (await store.claim("w")).id == job.id
    return job


def test_plan_caps_on_cpu_only_what_the_job_did_not_ask_for(tmp_path):
    s = settings(tmp_path, CPU_IMAGE_SIZE=384, CPU_ITERATIONS=300, MAX_IMAGE_SIZE=1024)
    cpu = plan_options(JobOptions(), s, on_cpu=True)
    assert (cpu.size, cpu.iterations) == (384, 300)
    gpu = plan_options(JobOptions(), s, on_cpu=False)
    assert (gpu.size, gpu.iterations) == (768, 500)
    asked = plan_options(JobOptions(size=600, iterations=400), s, on_cpu=True)
    assert (asked.size, asked.iterations) == (600, 400)
    capped = plan_options(JobOptions(size=4000, iterations=99999), s, on_cpu=False)
    assert (capped.size, capped.iterations) == (1024, s.max_iterations)
    full = plan_options(JobOptions(strength=2.5, preserve_colors=True, seed=9), s, on_cpu=False)
    assert (full.strength, full.preserve_colors, full.seed) == (2.5, True, 9)
    assert plan_options(JobOptions(), s, on_cpu=False).strength == s.strength


def test_a_cpu_job_is_larger_where_the_cpu_paints_in_bf16(tmp_path):
    s = settings(tmp_path, MAX_IMAGE_SIZE=4096)
    bf16 = plan_options(JobOptions(), s, on_cpu=True, precision="bf16")
    fp32 = plan_options(JobOptions(), s, on_cpu=True, precision="fp32")
    assert (bf16.size, fp32.size) == (CPU_SIZE_BF16, CPU_SIZE_FP32) and bf16.size > fp32.size
    assert plan_options(JobOptions(), s, on_cpu=False, precision="bf16").size == s.image_size
    owner = settings(tmp_path, CPU_IMAGE_SIZE=300)  # an owner's setting wins
    assert plan_options(JobOptions(), owner, on_cpu=True, precision="bf16").size == 300
    assert plan_options(JobOptions(size=900), s, on_cpu=True, precision="fp32").size == 900


async def test_the_runner_sizes_a_cpu_job_by_the_precision_it_paints_in(store, tmp_path):
    for precision, expected in (("bf16", CPU_SIZE_BF16), ("fp32", CPU_SIZE_FP32)):
        job = await claimed(store, tmp_path, options=JobOptions(iterations=2))
        stylizer = ScriptedStylizer(device="cpu", precision=precision)
        runner = JobRunner(store, stylizer, settings(tmp_path), "w")
        assert await runner.run(job) is JobStatus.DONE
        assert stylizer.sizes == [expected]


def test_the_strength_asked_for_multiplies_the_paintings_own(tmp_path):
    s = settings(tmp_path)
    painting = {"strength": 0.6, "style_scale": 1.5}
    plain = plan_options(JobOptions(), s, on_cpu=False, preset_defaults=painting)
    assert (plain.strength, plain.style_scale) == (0.6, 1.5)
    asked = plan_options(JobOptions(strength=2.0), s, on_cpu=False, preset_defaults=painting)
    assert (asked.strength, asked.style_scale) == (1.2, 1.5)
    none = plan_options(JobOptions(), s, on_cpu=False)
    assert (none.strength, none.style_scale) == (s.strength, 1.0)
    owner = settings(tmp_path, STRENGTH=1.5)  # the owner's default multiplies too
    assert plan_options(JobOptions(), owner, on_cpu=False, preset_defaults=painting).strength == (
        0.9
    )


async def test_progress_is_reported_every_progress_every_iterations(store, tmp_path):
    job = await claimed(store, tmp_path, options=JobOptions(size=64, iterations=5))
    stylizer = ScriptedStylizer()
    runner = JobRunner(store, stylizer, settings(tmp_path), "w")
    assert await runner.run(job) is JobStatus.DONE
    assert stylizer.progress_every == 1  # stop checks every iteration ...
    done = await store.get(job.id)
    assert done.iteration == 5 and done.loss == 95.0  # ... db reports at 2, 4 and the end
    assert Image.open(io.BytesIO(await store.read_file(job.id, "preview.jpg"))).size == (320, 320)
    assert Image.open(io.BytesIO(await store.read_file(job.id, "result.png"))).size == (64, 48)


async def test_the_result_comes_with_its_frames_and_what_was_used(store, tmp_path):
    job = await claimed(store, tmp_path, options=JobOptions(size=64, iterations=5))
    runner = JobRunner(store, ScriptedStylizer(), settings(tmp_path, STRENGTH=1.7), "w")
    assert await runner.run(job) is JobStatus.DONE
    assert len(unpack(await store.read_file(job.id, FRAMES_NAME))) == 2
    painted = Painted.from_json(await store.read_file(job.id, PAINTED_NAME))
    assert painted == Painted(
        strength=1.7,
        style_scale=1.0,
        preserve_colors=False,
        size=64,
        iterations=5,
        strength_asked=1.7,
    )


async def test_the_record_keeps_the_multiplier_asked_for_apart_from_the_strength_used(
    store, tmp_path
):
    job = await claimed(store, tmp_path, options=JobOptions(size=64, iterations=5, strength=2.0))
    runner = JobRunner(store, ScriptedStylizer(), settings(tmp_path), "w")
    runner._defaults = lambda job: {"strength": 0.6}  # the painting's own balance
    assert await runner.run(job) is JobStatus.DONE
    painted = Painted.from_json(await store.read_file(job.id, PAINTED_NAME))
    assert (painted.strength, painted.strength_asked) == (1.2, 2.0)


async def test_no_frames_when_the_timelapse_is_off(store, tmp_path):
    job = await claimed(store, tmp_path, options=JobOptions(size=64, iterations=5))
    runner = JobRunner(store, ScriptedStylizer(), settings(tmp_path, TIMELAPSE_FRAMES=0), "w")
    assert await runner.run(job) is JobStatus.DONE
    assert FRAMES_NAME not in await store.file_names(job.id)


async def test_out_of_memory_retries_once_smaller(store, tmp_path):
    job = await claimed(store, tmp_path, options=JobOptions(size=1000, iterations=2))
    stylizer = ScriptedStylizer(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    runner = JobRunner(store, stylizer, settings(tmp_path), "w")
    assert await runner.run(job) is JobStatus.DONE
    assert stylizer.sizes == [1000, 700]


async def test_out_of_memory_twice_fails_with_advice(store, tmp_path):
    job = await claimed(store, tmp_path, options=JobOptions(size=1000, iterations=2))
    oom = torch.cuda.OutOfMemoryError
    stylizer = ScriptedStylizer(oom("CUDA out of memory"), oom("CUDA out of memory"))
    runner = JobRunner(store, stylizer, settings(tmp_path), "w")
    assert await runner.run(job) is JobStatus.FAILED
    error = (await store.get(job.id)).error
    assert error == oom_message(700).text and "size=448" in error
    assert stylizer.sizes == [1000, 700]


async def test_unexpected_errors_fail_the_job_with_a_friendly_message(store, tmp_path, caplog):
    job = await claimed(store, tmp_path)
    runner = JobRunner(store, ScriptedStylizer(RuntimeError("kaboom")), settings(tmp_path), "w")
    assert await runner.run(job) is JobStatus.FAILED
    assert (await store.get(job.id)).failure == GENERIC_ERROR
    assert "kaboom" in caplog.text  # the traceback goes to the log, not to the user


async def test_stop_flag_requeues_without_counting(store, tmp_path):
    job = await claimed(store, tmp_path, options=JobOptions(iterations=50))
    runner = JobRunner(store, ScriptedStylizer(), settings(tmp_path), "w")
    runner.stopping.set()
    assert await runner.run(job) is JobStatus.QUEUED
    got = await store.get(job.id)
    assert got.status is JobStatus.QUEUED and got.attempts == 0


async def test_cancel_request_stops_at_the_next_report(store, tmp_path):
    job = await claimed(store, tmp_path, options=JobOptions(iterations=50))
    await store.cancel(job.id)
    runner = JobRunner(store, ScriptedStylizer(), settings(tmp_path), "w")
    assert await runner.run(job) is JobStatus.CANCELLED
    got = await store.get(job.id)
    assert got.status is JobStatus.CANCELLED and got.iteration == 2


async def test_a_job_taken_over_by_another_worker_is_dropped(store, tmp_path):
    job = await claimed(store, tmp_path, options=JobOptions(iterations=50))
    runner = JobRunner(store, ScriptedStylizer(), settings(tmp_path), "not-the-owner")
    assert await runner.run(job) is None
    assert (await store.get(job.id)).status is JobStatus.RUNNING  # untouched: still w's


async def test_the_painter_publishes_what_it_learnt_from_a_painted_photo(store, tmp_path):
    """The engine row carries the painter's speed (the queue prices size= jobs with it): the
    one measured at start, then after each photo the one that photo taught it."""
    worker = Worker(settings(tmp_path), store)
    stylizer = ScriptedStylizer(device="cpu")
    worker.runner = JobRunner(store, stylizer, worker.settings, worker.worker_id)
    speed = PaintSpeed(per_unit=5.0, per_iteration=0.02)
    worker.runner.context.speed = speed
    worker.info.speed = published_speed(worker.settings, speed, on_cpu=True)
    await store.register_engine(worker.info)
    measured = (await store.engines())[0].speed
    assert measured is not None and measured.iterations == 300
    job = await add_job(store, options=JobOptions(size=64, iterations=2))
    assert (await store.claim(worker.worker_id)).id == job.id
    await worker._run([job])
    assert (await store.get(job.id)).status is JobStatus.DONE
    assert speed.jobs_seen == 1  # painted in no time: cheaper than predicted
    learnt = (await store.engines())[0].speed
    assert learnt == published_speed(worker.settings, speed, on_cpu=True)
    assert learnt.seconds(1024, 300) < measured.seconds(1024, 300)
