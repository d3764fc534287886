"""Engine lease, heartbeats and crash recovery in the job table."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jobs import EngineInfo, EngineLeaseError, JobStatus
from jobs.liveness import pid_alive, this_host
from jobs.testing import PLACEHOLDER, enqueue


@pytest.fixture
def store_options():
    return {"stale_after": 30}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def engine(worker_id: str, pid: int, host: str | None = None) -> EngineInfo:
    return EngineInfo(worker_id, pid, host or this_host(), "cpu", None)


def test_pid_alive():
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())
    assert not pid_alive(0)


async def test_exclusive_lease_refuses_a_live_engine_with_a_clear_message(store, clock):
    await store.register_engine(engine("first", os.getpid()), exclusive=True)
    clock.advance(4)
    with pytest.raises(EngineLeaseError) as err:
        await store.register_engine(engine("second", os.getpid()), exclusive=True)
    message = str(err.value)
    assert "'first'" in message and f"pid {os.getpid()}" in message and this_host() in message
    assert "last seen 4s ago" in message and "ENGINE_EXCLUSIVE=false" in message
    # a non-exclusive worker does not share with an exclusive one either
    with pytest.raises(EngineLeaseError, match="exclusive engine is running"):
        await store.register_engine(engine("third", os.getpid()), exclusive=False)
    assert [e.worker_id for e in await store.engines()] == ["first"]


async def test_dead_engines_lease_is_taken_over(store, clock):
    await store.register_engine(engine("crashed", dead_pid()), exclusive=True)
    await store.register_engine(engine("new", os.getpid()), exclusive=True)
    assert [e.worker_id for e in await store.engines()] == ["new"]


async def test_stale_heartbeat_on_another_host_is_taken_over(store, clock):
    await store.register_engine(engine("remote", 1, host="elsewhere"), exclusive=True)
    clock.advance(10)
    with pytest.raises(EngineLeaseError, match="on elsewhere"):
        await store.register_engine(engine("local", os.getpid()), exclusive=True)
    clock.advance(25)  # 35 s without a heartbeat > stale_after 30
    await store.register_engine(engine("local", os.getpid()), exclusive=True)
    assert [e.worker_id for e in await store.engines()] == ["local"]


async def test_heartbeats_keep_the_lease(store, clock):
    await store.register_engine(engine("remote", 1, host="elsewhere"), exclusive=True)
    for _ in range(5):
        clock.advance(20)
        assert await store.heartbeat("remote", current_job=None)
    with pytest.raises(EngineLeaseError):
        await store.register_engine(engine("local", os.getpid()), exclusive=True)
    assert not await store.heartbeat("unknown", current_job=None)


async def test_non_exclusive_workers_share(store):
    for name in ("gpu0", "gpu1"):
        info = EngineInfo(name, os.getpid(), this_host(), f"cuda:{name[-1]}", 81_000)
        await store.register_engine(info, exclusive=False)
    got = await store.engines()
    assert [(e.worker_id, e.device, e.gpu_memory_mb, e.exclusive) for e in got] == [
        ("gpu0", "cuda:0", 81_000, False),
        ("gpu1", "cuda:1", 81_000, False),
    ]
    with pytest.raises(EngineLeaseError, match="Another engine is already running"):
        await store.register_engine(engine("solo", os.getpid()), exclusive=True)
    await store.unregister_engine("gpu0")
    await store.unregister_engine("gpu1")
    await store.register_engine(engine("solo", os.getpid()), exclusive=True)


async def test_register_again_updates_own_row(store, clock):
    await store.register_engine(engine("me", os.getpid()), exclusive=True)
    started = (await store.engines())[0].started_at
    clock.advance(3)
    info = EngineInfo("me", os.getpid(), this_host(), "NVIDIA H200", 143_000)
    await store.register_engine(info, exclusive=True)
    (row,) = await store.engines()
    assert (row.device, row.gpu_memory_mb, row.started_at) == ("NVIDIA H200", 143_000, started)
    assert row.last_seen == clock.now


async def test_claim_and_heartbeat_record_the_current_job(store, tmp_path):
    await store.register_engine(engine("me", os.getpid()))
    job = await enqueue(store)
    await store.claim("me")
    assert (await store.engines())[0].current_job == job.id
    await store.heartbeat("me", current_job=None)
    assert (await store.engines())[0].current_job is None


async def test_recover_stale_requeues_then_gives_up(store, tmp_path, clock):
    job = await enqueue(store)
    for attempt in (1, 2, 3):
        crashed = f"crashed-{attempt}"
        await store.register_engine(engine(crashed, dead_pid()), exclusive=False)
        claimed = await store.claim(crashed)
        assert claimed.id == job.id and claimed.attempts == attempt
        assert await store.recover_stale(stale_after=30, max_attempts=3) == [job.id]
        got = await store.get(job.id)
        if attempt < 3:
            assert got.status is JobStatus.QUEUED and got.attempts == attempt
            assert got.worker_id is None and got.started_at is None
        else:
            assert got.status is JobStatus.FAILED and got.attempts == 3
            assert "crashed 3 times" in got.error and "smaller size" in got.error
    assert await store.engines() == []  # dead engines' rows are removed


async def test_recover_stale_leaves_live_workers_alone(store, tmp_path, clock):
    await store.register_engine(engine("alive", os.getpid()), exclusive=False)
    await store.register_engine(engine("remote", 1, host="elsewhere"), exclusive=False)
    a = await enqueue(store, user_id=1)
    b = await enqueue(store, user_id=2)
    await store.claim("alive")
    await store.claim("remote")
    assert await store.recover_stale(stale_after=30, max_attempts=3) == []
    clock.advance(31)
    await store.heartbeat("alive", a.id)
    assert await store.recover_stale(stale_after=30, max_attempts=3) == [b.id]
    assert (await store.get(a.id)).status is JobStatus.RUNNING
    assert (await store.get(b.id)).status is JobStatus.QUEUED


async def test_recover_stale_without_engine_row_and_with_cancel(store, tmp_path):
    a = await enqueue(store, user_id=1)
    b = await enqueue(store, user_id=2)
    await store.claim("ghost")  # never registered: treated as gone
    await store.claim("ghost")
    await store.cancel(b.id)
    assert sorted(await store.recover_stale(stale_after=30)) == [a.id, b.id]
    assert (await store.get(a.id)).status is JobStatus.QUEUED
    assert (await store.get(b.id)).status is JobStatus.CANCELLED


async def test_eta_counts_live_engines_as_lanes(store, tmp_path, clock):
    for name in ("gpu0", "gpu1"):
        await store.register_engine(engine(name, os.getpid()), exclusive=False)
    done = await enqueue(store, user_id=9)
    await store.claim("gpu0")
    clock.advance(10)
    await store.finish(done.id, PLACEHOLDER)
    queued = [await enqueue(store, user_id=u) for u in (1, 2, 3)]
    etas = [await store.eta_seconds(j.id) for j in queued]
    assert etas == pytest.approx([10, 10, 20])


async def test_drain_lets_a_painter_finish_and_take_no_more(store, tmp_path, clock):
    for name, host in (("gpu-a", "host-a"), ("gpu-b", "host-b")):
        info = EngineInfo(f"{name}-1-ab", 1, host, "cuda:0", None, name=name)
        await store.register_engine(info, exclusive=False)
    jobs = [await enqueue(store, user_id=u) for u in (1, 2, 3)]
    assert (await store.claim("gpu-a-1-ab")).id == jobs[0].id
    drained = await store.drain("gpu-a")
    assert [(e.worker_id, e.draining) for e in drained] == [("gpu-a-1-ab", True)]
    assert await store.drain("nobody") == []
    clock.advance(5)
    assert await store.finish(jobs[0].id, b"png", worker_id="gpu-a-1-ab")  # finishes
    assert await store.claim("gpu-a-1-ab") is None  # ... and takes no more
    assert (await store.claim("gpu-b-1-ab")).id == jobs[1].id
    painters = {e.label: e for e in await store.engines()}
    assert painters["gpu-a"].draining and not painters["gpu-b"].draining
    assert painters["gpu-b"].hostname == "host-b" and painters["gpu-b"].current_job == jobs[1].id
    assert await store.jobs_done_by_worker(clock.now - 60) == {"gpu-a-1-ab": 1}
    assert await store.jobs_done_by_worker(clock.now + 1) == {}
    await store.drain("gpu-a-1-ab", draining=False)  # by worker id too
    assert (await store.claim("gpu-a-1-ab")).id == jobs[2].id
