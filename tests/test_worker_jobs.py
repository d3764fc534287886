"""What one running worker does with jobs: cancels, fair order, duplicates, bad jobs, presets.

The tests share one worker process (starting one costs seconds of CPU); each uses its own
users and waits for its own jobs.
"""

from __future__ import annotations

import itertools

import pytest

from jobs import JobOptions, JobStatus, JobStore
from jobs.failures import failure
from media.images import CorruptImageError, NotAnImageError
from media.messages import IMAGE_MESSAGES
from tests.test_worker_harness import (
    add_job,
    shared_worker,
    store_beside,
    wait_progress,
    wait_status,
)
from tests.waiting import eventually

FINISHED = {JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED}
_users = itertools.count(100)


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    # starry-night stays missing on purpose
    with shared_worker(tmp_path_factory.mktemp("shared-worker"), ("monet",)) as worker:
        yield worker


@pytest.fixture
async def store(worker):
    async with store_beside(worker) as store:
        yield store


async def test_cancel_a_queued_job(store):
    await store.set_paused(True)
    doomed = await add_job(store, next(_users))
    assert await store.cancel(doomed.id) is JobStatus.CANCELLED
    after = await add_job(store, next(_users))
    await store.set_paused(False)
    done = await wait_status(store, after.id, FINISHED)
    assert done.status is JobStatus.DONE
    cancelled = await store.get(doomed.id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.started_at is None
    assert "result.png" not in await store.file_names(doomed.id)


async def test_cancel_a_running_job_and_carry_on(store):
    long = await add_job(store, next(_users), options=JobOptions(iterations=5000))
    await wait_progress(store, long.id, iteration=2)
    assert await store.cancel(long.id) is JobStatus.RUNNING
    cancelled = await wait_status(store, long.id, FINISHED, within=30)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.iteration < 5000
    assert await store.file_names(long.id) == ["content.jpg", "preview.jpg", "style-0.png"]
    after = await add_job(store, next(_users))
    assert (await wait_status(store, after.id, FINISHED)).status is JobStatus.DONE


async def test_fair_order_across_users(store):
    await store.set_paused(True)
    a, b, c = next(_users), next(_users), next(_users)
    a1, a2, a3 = [await add_job(store, a, seed=i) for i in range(3)]
    b1 = await add_job(store, b)
    c1 = await add_job(store, c)
    assert [await store.queue_position(j.id) for j in (a1, b1, c1, a2, a3)] == [1, 2, 3, 4, 5]
    await store.set_paused(False)
    for job in (a1, a2, a3, b1, c1):
        assert (await wait_status(store, job.id, FINISHED)).status is JobStatus.DONE
    ran = sorted([await store.get(j.id) for j in (a1, a2, a3, b1, c1)], key=lambda j: j.started_at)
    assert [j.id for j in ran] == [a1.id, b1.id, c1.id, a2.id, a3.id]


async def test_a_redelivered_request_is_painted_once(store, worker):
    user = next(_users)
    first = await add_job(store, user, message_id=990_001)
    again = await add_job(store, user, message_id=990_001)
    assert again.id == first.id
    assert (await wait_status(store, first.id, FINISHED)).status is JobStatus.DONE
    assert len(await store.user_jobs(user, active_only=False)) == 1
    assert worker.log().count(f"job {first.id} started:") == 1


async def test_bad_jobs_fail_clearly_and_the_worker_goes_on(store):
    user = next(_users)
    damaged = await add_job(store, user, content=b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    not_image = await add_job(store, user, content=b"hello, I am text")
    missing = await add_job(store, user, uploaded_styles=0, presets=("starry-night",))
    unknown = await add_job(store, user, uploaded_styles=0, presets=("no-such-thing",))
    good = await add_job(store, user)
    results = {job.id: await wait_status(store, job.id, FINISHED) for job in
               (damaged, not_image, missing, unknown, good)}  # fmt: skip
    # What the bot translates (jobs/failures.py), and the English kept for logs and /admin.
    assert results[damaged.id].failure.key == f"image.{CorruptImageError.reason}"
    assert results[damaged.id].error == IMAGE_MESSAGES[CorruptImageError.reason]
    assert results[not_image.id].failure.key == f"image.{NotAnImageError.reason}"
    assert results[not_image.id].error == IMAGE_MESSAGES[NotAnImageError.reason]
    assert results[missing.id].failure == failure("painting_missing", painting="starry-night")
    assert results[missing.id].error == (
        "The painting 'starry-night' is not installed on this server; "
        "the admin should run `make styles`."
    )
    assert results[unknown.id].failure == failure("unknown_painting", name="no-such-thing")
    assert {results[j.id].status for j in (damaged, not_image, missing, unknown)} == {
        JobStatus.FAILED
    }
    assert results[good.id].status is JobStatus.DONE


async def test_a_real_preset_blended_with_an_upload(store):
    job = await add_job(
        store, next(_users), presets=("monet",), options=JobOptions(size=48, seed=7)
    )
    done = await wait_status(store, job.id, FINISHED)
    assert done.status is JobStatus.DONE, done.error
    assert "result.png" in await store.file_names(job.id)


async def test_the_worker_heartbeats_while_idle(store):
    (engine,) = await store.engines()
    first_seen = engine.last_seen
    await eventually(
        lambda: _seen_after(store, first_seen), 30, "a heartbeat (HEARTBEAT_SECONDS=0.5)"
    )


async def _seen_after(store: JobStore, moment: float) -> bool:
    engines = await store.engines()
    return bool(engines) and engines[0].last_seen > moment
