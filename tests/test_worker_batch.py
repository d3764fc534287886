"""Several jobs painted as one batch by the worker (BATCH_JOBS): which jobs go together, and
each job still ending on its own. The real engine at 64 px on the CPU, in-process; a real
worker process paints a batch at the end."""

from __future__ import annotations

import io
import logging

import pytest
import torch
from PIL import Image

from engine.paint import Stylizer
from engine.painter.batching import GPU_BATCH_MAX, batch_limit
from engine.painter.runner import JobRunner
from engine.painter.settings import EngineSettings
from engine.painter.worker import Worker
from jobs import JobOptions, JobStatus, JobStore
from media.timelapse import FRAMES_NAME, unpack
from tests.test_worker_harness import (
    WorkerProcess,
    add_job,
    picture,
    store_beside,
    wait_status,
)
from tests.test_worker_unit import settings as worker_settings

SMALL = JobOptions(size=64, iterations=6)


def settings(tmp_path, **overrides) -> EngineSettings:
    batch = {"TIMELAPSE_FRAMES": 4, "PRECISION": "fp32", "DEVICE": "cpu"}
    return worker_settings(tmp_path, **{**batch, **overrides})


@pytest.fixture
def stylizer(cpu_stylizer: Stylizer) -> Stylizer:
    return cpu_stylizer


@pytest.fixture
async def store(tmp_path):
    async with await JobStore.open(tmp_path / "data") as store:
        yield store


class Spy:
    """Counts the batches the runner hands the engine, by size."""

    def __init__(self, stylizer: Stylizer, fail: bool = False) -> None:
        self.stylizer, self.fail, self.batches = stylizer, fail, []
        self.device = stylizer.device

    def __getattr__(self, name):
        return getattr(self.stylizer, name)

    def stylize_batch(self, requests):
        self.batches.append(len(requests))
        if self.fail:
            raise RuntimeError("the batch as a whole failed")
        return self.stylizer.stylize_batch(requests)


async def _claim_all(store, jobs):
    claimed = [await store.claim("w")]
    for job in jobs[1:]:
        claimed.append(await store.claim_job("w", job.id))
    assert [job.id for job in claimed] == [job.id for job in jobs]
    return claimed


def _result(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


async def test_jobs_of_one_plan_are_painted_as_one_batch_each_with_its_own_progress(
    store, tmp_path, stylizer
):
    jobs = [await add_job(store, user, seed=user, options=SMALL) for user in (1, 2, 3)]
    spy = Spy(stylizer)
    runner = JobRunner(store, spy, settings(tmp_path), "w")
    statuses = await runner.run_batch(await _claim_all(store, jobs))
    assert statuses == [JobStatus.DONE] * 3
    assert spy.batches == [3]
    assert runner.metrics.registry.get_sample_value("picasso_worker_batch_jobs") == 3
    results = []
    for job in jobs:
        done = await store.get(job.id)
        assert (done.iteration, done.total_iterations, done.preview_name) == (6, 6, "preview.jpg")
        results.append(_result(await store.read_file(job.id, done.result_name)))
        assert len(unpack(await store.read_file(job.id, FRAMES_NAME))) == 4  # its own
    assert len({result.tobytes() for result in results}) == 3  # each differs from the others


async def test_photos_of_one_shape_bucket_share_a_batch_and_keep_their_own_size(
    store, tmp_path, stylizer
):
    wide = await add_job(store, 1, seed=1, options=SMALL, content=picture(1, (80, 50)))
    usual = await add_job(store, 2, seed=2, options=SMALL)  # 80 x 60
    spy = Spy(stylizer)
    runner = JobRunner(store, spy, settings(tmp_path), "w")
    assert await runner.batch_key(wide) == await runner.batch_key(usual)
    statuses = await runner.run_batch(await _claim_all(store, [wide, usual]))
    assert statuses == [JobStatus.DONE, JobStatus.DONE]
    assert spy.batches == [2]
    sizes = []
    for job in (wide, usual):
        done = await store.get(job.id)
        sizes.append(_result(await store.read_file(job.id, done.result_name)).size)
    assert sizes == [(64, 40), (64, 48)]


async def test_a_job_cancelled_in_a_batch_stops_alone(store, tmp_path, stylizer):
    jobs = [await add_job(store, user, seed=user, options=SMALL) for user in (1, 2, 3)]
    claimed = await _claim_all(store, jobs)
    assert await store.cancel(jobs[1].id) is JobStatus.RUNNING  # seen at its first report
    runner = JobRunner(store, Spy(stylizer), settings(tmp_path), "w")
    statuses = await runner.run_batch(claimed)
    assert statuses == [JobStatus.DONE, JobStatus.CANCELLED, JobStatus.DONE]
    assert (await store.get(jobs[1].id)).iteration == 2


async def test_a_job_whose_photo_is_bad_fails_alone(store, tmp_path, stylizer):
    good = await add_job(store, 1, seed=1, options=SMALL)
    bad = await add_job(store, 2, options=SMALL, content=b"this is not a picture")
    other = await add_job(store, 3, seed=3, options=SMALL)
    spy = Spy(stylizer)
    runner = JobRunner(store, spy, settings(tmp_path), "w")
    statuses = await runner.run_batch(await _claim_all(store, [good, bad, other]))
    assert statuses == [JobStatus.DONE, JobStatus.FAILED, JobStatus.DONE]
    assert "image" in (await store.get(bad.id)).error.lower()
    assert spy.batches == [2]


async def test_when_the_batch_fails_as_a_whole_each_job_is_painted_alone(
    store, tmp_path, stylizer, caplog
):
    jobs = [await add_job(store, user, seed=user, options=SMALL) for user in (1, 2)]
    spy = Spy(stylizer, fail=True)
    runner = JobRunner(store, spy, settings(tmp_path), "w")
    with caplog.at_level(logging.WARNING, logger="engine.worker"):
        statuses = await runner.run_batch(await _claim_all(store, jobs))
    assert statuses == [JobStatus.DONE, JobStatus.DONE]
    assert spy.batches == [2]
    assert "painting each alone" in caplog.text


async def test_the_worker_takes_the_heads_mates_in_fair_order_of_its_size_only(
    store, tmp_path, stylizer
):
    """Users 1 and 2 each queue two landscape photos, user 3 a portrait one: with room for
    three, the head (user 1's first) goes with user 2's first and user 1's second (the fair
    order), the portrait photo and the rest wait for their turn."""
    landscape = [
        await add_job(store, user, seed=seed, options=SMALL)
        for user, seed in ((1, 1), (1, 2), (2, 3), (2, 4))
    ]
    portrait = await add_job(store, 3, options=SMALL, content=picture(5, (60, 80)), message_id=99)
    worker = Worker(settings(tmp_path, BATCH_JOBS=3), store)
    worker.runner = JobRunner(store, stylizer, worker.settings, worker.worker_id)
    head = await store.claim(worker.worker_id)
    assert head.id == landscape[0].id
    order = await store.queue_order()
    assert order.index(portrait.id) < order.index(landscape[1].id)  # passed over, not skipped
    batch = await worker._with_mates(head)
    assert [job.id for job in batch] == [landscape[0].id, landscape[2].id, landscape[1].id]
    assert all(job.status is JobStatus.RUNNING for job in batch)
    assert await store.queue_order() == [portrait.id, landscape[3].id]


async def test_the_worker_paints_alone_where_batching_is_off_or_unset_on_a_cpu(
    store, tmp_path, stylizer
):
    for _ in range(3):
        await add_job(store, 1, options=SMALL)
    for setting in ({}, {"BATCH_JOBS": 1}):  # unset on a CPU: one at a time
        worker = Worker(settings(tmp_path, **setting), store)
        worker.runner = JobRunner(store, stylizer, worker.settings, worker.worker_id)
        head = await store.claim(worker.worker_id)
        assert await worker._with_mates(head) == [head]


def test_the_batch_size_is_the_setting_else_one_on_a_cpu_else_what_fits_the_gpu():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert batch_limit(4, cpu, 768 * 576) == 4
    assert batch_limit(None, cpu, 768 * 576) == 1
    assert batch_limit(None, gpu, 768 * 576, free_bytes=140 * 2**30) == GPU_BATCH_MAX
    assert batch_limit(None, gpu, 768 * 576, free_bytes=12 * 2**30) == 2
    assert batch_limit(None, gpu, 2048 * 1536, free_bytes=12 * 2**30) == 1


async def test_a_worker_process_paints_queued_jobs_together(tmp_path):
    data = tmp_path / "data"
    async with await JobStore.open(data) as store:
        jobs = [await add_job(store, user, seed=user, options=SMALL) for user in (1, 2, 3)]
    worker = WorkerProcess(data, BATCH_JOBS="3")
    try:
        async with store_beside(worker) as store:
            for job in jobs:
                done = await wait_status(store, job.id, {JobStatus.DONE, JobStatus.FAILED})
                assert done.status is JobStatus.DONE, done.error
    finally:
        worker.stop()
    log = worker.log_path.read_text()
    assert f"painting jobs {jobs[0].id}, {jobs[1].id}, {jobs[2].id} together" in log
