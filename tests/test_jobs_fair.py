"""Fair order (round-robin over users, bumps first), queue positions and ETAs."""

from __future__ import annotations

import dataclasses
import os
import random

import pytest

from jobs import EngineInfo, JobOptions, JobStatus
from jobs.clips import clip_content_name
from jobs.cost import PainterSpeed
from jobs.eta import queued_finish, running_remaining
from jobs.liveness import this_host
from jobs.testing import PLACEHOLDER, enqueue, new_job


async def add(store, tmp_path, clock, user_id: int):
    clock.advance(1)
    return await enqueue(store, user_id=user_id)


async def drain(store, clock) -> list[int]:
    """Claim and finish everything; the order jobs actually ran in."""
    order = []
    while (job := await store.claim("w")) is not None:
        order.append(job.id)
        clock.advance(1)
        await store.finish(job.id, PLACEHOLDER)
    return order


async def test_round_robin_across_users(store, tmp_path, clock):
    a = [await add(store, tmp_path, clock, 1) for _ in range(3)]
    b = [await add(store, tmp_path, clock, 2) for _ in range(2)]
    c = [await add(store, tmp_path, clock, 3)]
    expected = [a[0].id, b[0].id, c[0].id, a[1].id, b[1].id, a[2].id]
    assert await store.queue_order() == expected
    assert [await store.queue_position(job_id) for job_id in expected] == [1, 2, 3, 4, 5, 6]
    assert await drain(store, clock) == expected


async def test_a_user_served_earlier_waits_for_a_newcomer(store, tmp_path, clock):
    first = await add(store, tmp_path, clock, 1)
    await store.claim("w")
    await store.finish(first.id, PLACEHOLDER)
    again = await add(store, tmp_path, clock, 1)
    newcomer = await add(store, tmp_path, clock, 2)  # arrived later, never served
    assert await store.queue_order() == [newcomer.id, again.id]
    assert await drain(store, clock) == [newcomer.id, again.id]


async def test_requeued_job_does_not_use_up_the_users_turn(store, tmp_path, clock):
    a = await add(store, tmp_path, clock, 1)
    b = await add(store, tmp_path, clock, 2)
    assert (await store.claim("w")).id == a.id
    await store.requeue(a.id, count_attempt=False)  # e.g. the worker was stopped
    assert await store.queue_order() == [a.id, b.id]


async def test_bump_jumps_the_queue(store, tmp_path, clock):
    jobs = [await add(store, tmp_path, clock, user) for user in (1, 2, 3, 3)]
    assert await store.bump(jobs[3].id)
    assert (await store.get(jobs[3].id)).priority == 1
    assert await store.queue_position(jobs[3].id) == 1
    assert await store.bump(jobs[2].id)  # a later bump goes before an earlier one
    assert await store.queue_order() == [jobs[2].id, jobs[3].id, jobs[0].id, jobs[1].id]
    assert await drain(store, clock) == [jobs[2].id, jobs[3].id, jobs[0].id, jobs[1].id]
    assert not await store.bump(jobs[0].id)  # not queued any more
    assert not await store.bump(999)


@pytest.mark.parametrize("seed", range(5))
async def test_simulated_positions_match_real_claims(store, tmp_path, clock, seed):
    """Positions are a simulation of claim(); mixed histories must not make them diverge."""
    rng = random.Random(seed)
    for _ in range(8):  # some history: users served at different times
        job = await add(store, tmp_path, clock, rng.randint(1, 5))
        if rng.random() < 0.5:
            await store.claim("w")
            await store.finish(job.id, PLACEHOLDER)
    jobs = [await add(store, tmp_path, clock, rng.randint(1, 6)) for _ in range(25)]
    for job in rng.sample(jobs, 3):
        if rng.random() < 0.7:
            await store.bump(job.id)
    predicted = await store.queue_order()
    positions = await store.queue_positions()
    assert [positions[i] for i in predicted] == list(range(1, len(predicted) + 1))
    assert await drain(store, clock) == predicted


async def test_eta_from_average_durations(store, tmp_path, clock):
    # history: two jobs of 10 s and 20 s -> average 15 s
    for duration in (10, 20):
        job = await add(store, tmp_path, clock, 9)
        await store.claim("w")
        clock.advance(duration)
        await store.finish(job.id, PLACEHOLDER)
    running = await add(store, tmp_path, clock, 1)
    queued = [await add(store, tmp_path, clock, user) for user in (2, 3)]
    assert await store.eta_seconds(running.id) == pytest.approx(15)  # queued, first in line
    await store.claim("w")
    clock.advance(5)
    # no progress reported yet: average minus elapsed
    assert await store.eta_seconds(running.id) == pytest.approx(10)
    # one worker: the first queued job waits for the running one, then runs 15 s
    assert await store.eta_seconds(queued[0].id) == pytest.approx(10 + 15)
    assert await store.eta_seconds(queued[1].id) == pytest.approx(10 + 15 + 15)
    # progress gives the running job its own pace: 5 s for 50 of 100 iterations
    await store.report_progress(running.id, "w", iteration=50, total=100, loss=1)
    assert await store.eta_seconds(running.id) == pytest.approx(5)
    # ... and the engine's own estimate, when it gives one, wins over the straight line
    await store.report_progress(running.id, "w", iteration=60, total=100, loss=1, eta_seconds=42)
    assert await store.eta_seconds(running.id) == pytest.approx(42)


async def test_eta_knows_a_queued_clip_takes_a_clips_time(store, tmp_path, clock):
    """Photos took 10 s, a clip 100 s: a clip in line counts 100 s, a photo 10 s (the
    average of everything, 40 s, would be wrong for both, photos without a clip in line too)."""
    for duration, clip in ((10, False), (100, True), (10, False)):
        job = await add(store, tmp_path, clock, 9) if not clip else await add_clip(store, clock)
        await store.claim("w")
        clock.advance(duration)
        await store.finish(job.id, PLACEHOLDER)
    assert await store.average_duration() == pytest.approx(10)
    assert await store.average_duration(clips=True) == pytest.approx(100)
    photo = await add(store, tmp_path, clock, 1)
    clip = await add_clip(store, clock, user_id=2)
    after = await add(store, tmp_path, clock, 3)
    assert await store.eta_seconds(photo.id) == pytest.approx(10)  # no clip in its line
    assert await store.eta_seconds(clip.id) == pytest.approx(10 + 100)
    assert await store.eta_seconds(after.id) == pytest.approx(10 + 100 + 10)


# A slow CPU painter's price list: 2 s per iteration at 1024 px (300 iterations: 600 s).
SLOW = PainterSpeed(
    per_iteration=((256, 0.1), (1024, 2.0), (2048, 8.0)),
    iterations=300,
    max_iterations=2000,
    least_side=256,
)


async def finished(store, clock, seconds: float, **kwargs) -> None:
    job = await add(store, None, clock, 9) if not kwargs else await enqueue(store, 9, **kwargs)
    assert (await store.claim("w")).id == job.id
    clock.advance(seconds)
    await store.finish(job.id, PLACEHOLDER)


async def test_eta_prices_a_size_of_its_own_at_the_painters_measured_speed(store, clock):
    """Default photos took 10 s; a size=1024 job costs what 1024 px costs on the live
    painter (600 s), in its own estimate and in the estimates of the jobs behind it."""
    for _ in range(2):
        await finished(store, clock, 10)
    await finished(store, clock, 400, options=JobOptions(size=2048))  # not a default's time
    assert await store.average_duration(default=True) == pytest.approx(10)
    painter = EngineInfo("cpu-1", os.getpid(), this_host(), "cpu", None, speed=SLOW)
    await store.register_engine(painter)
    first = await add(store, None, clock, 1)
    large = await enqueue(store, 2, options=JobOptions(size=1024))
    after = await add(store, None, clock, 3)
    assert await store.eta_seconds(first.id) == pytest.approx(10)
    assert await store.eta_seconds(large.id) == pytest.approx(10 + 600)
    assert await store.eta_seconds(after.id) == pytest.approx(10 + 600 + 10)
    # running, before its first progress report: its own cost, less what it has run
    assert (await store.claim("cpu-1")).id == first.id
    clock.advance(10)
    await store.finish(first.id, PLACEHOLDER)
    assert (await store.claim("cpu-1")).id == large.id
    clock.advance(100)
    await store.heartbeat("cpu-1", large.id)
    assert await store.eta_seconds(large.id) == pytest.approx(500)
    assert await store.eta_seconds(after.id) == pytest.approx(500 + 10)
    # a painter learns: the row's price list follows its heartbeat
    assert await store.heartbeat("cpu-1", large.id, dataclasses.replace(SLOW, iterations=150))
    assert await store.eta_seconds(large.id) == pytest.approx(200)
    assert await store.heartbeat("cpu-1", large.id)  # no speed: the last one stays
    assert (await store.engines())[0].speed.iterations == 150


async def test_eta_of_a_size_of_its_own_is_the_average_without_a_live_painters_speed(store, clock):
    await finished(store, clock, 10)
    gpu = EngineInfo("gpu-1", os.getpid(), this_host(), "cuda", None)
    await store.register_engine(gpu, exclusive=False)
    large = await enqueue(store, 2, options=JobOptions(size=1024))
    assert await store.eta_seconds(large.id) == pytest.approx(10)  # no budget, no speed
    dead = EngineInfo("cpu-1", os.getpid(), "elsewhere", "cpu", None, speed=SLOW)
    await store.register_engine(dead, exclusive=False)
    assert await store.eta_seconds(large.id) == pytest.approx(600)
    clock.advance(store.stale_after + 1)  # its heartbeats stopped: its speed says nothing
    await store.heartbeat("gpu-1", None)
    assert await store.eta_seconds(large.id) == pytest.approx(10)


async def add_clip(store, clock, user_id: int = 9):
    clock.advance(1)
    new = dataclasses.replace(new_job(user_id), content_name=clip_content_name(".mp4"))
    job, _ = await store.enqueue(new, {new.content_name: PLACEHOLDER})
    return job


def test_eta_arithmetic():
    assert running_remaining(
        now=110, started_at=100, progress_at=108, iteration=40, total=100, avg_duration=None
    ) == pytest.approx(0.2 * 60 - 2)
    assert (
        running_remaining(
            now=110, started_at=100, progress_at=100, iteration=0, total=None, avg_duration=None
        )
        is None
    )
    assert running_remaining(
        now=110, started_at=100, progress_at=108, iteration=40, total=100, avg_duration=None,
        eta_at=130,
    ) == pytest.approx(20)  # fmt: skip
    # two lanes: one frees at 4 s, the other is idle
    assert queued_finish(ahead=0, running_left=[4.0], workers=2, avg_duration=10) == 10
    assert queued_finish(ahead=1, running_left=[4.0], workers=2, avg_duration=10) == 14
    assert queued_finish(ahead=2, running_left=[4.0], workers=2, avg_duration=10) == 20
    # own durations: a photo (10 s) and a clip (100 s) ahead; the idle lane takes the photo,
    # the clip waits for the lane freed at 4 s, and this job follows the photo at 10 s
    lane = queued_finish(
        ahead=2, running_left=[4.0], workers=2, avg_duration=10, durations=[10, 100, 10]
    )
    assert lane == 10 + 10


async def test_positions_of_inactive_jobs(store, tmp_path, clock):
    job = await add(store, tmp_path, clock, 1)
    await store.cancel(job.id)
    assert await store.queue_position(job.id) is None
    assert await store.queue_position(4242) is None
    assert (await store.get(job.id)).status is JobStatus.CANCELLED


async def test_admin_queue_view(store, tmp_path, clock):
    a = [await add(store, tmp_path, clock, 1) for _ in range(2)]
    b = await add(store, tmp_path, clock, 2)
    await store.claim("w")
    assert [j.id for j in await store.queue()] == [a[0].id, b.id, a[1].id]
    assert [j.id for j in await store.queue(limit=2)] == [a[0].id, b.id]
