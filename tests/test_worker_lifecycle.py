"""Worker processes that crash, stop, compete for the lease, and start on an old database."""

from __future__ import annotations

import signal
import sqlite3

from jobs import JobOptions, JobStatus, JobStore
from jobs.backends.opening import open_database
from jobs.backends.schema import LATEST
from tests.test_worker_harness import (
    WorkerProcess,
    add_job,
    picture,
    wait_progress,
    wait_status,
)
from tests.waiting import eventually

LONG = JobOptions(iterations=120)  # seconds on a CPU: long enough to interrupt


async def test_sigkill_mid_job_then_restart_completes_it_with_the_attempt_counted(tmp_path):
    data = tmp_path / "data"
    async with await JobStore.open(data) as store:
        job = await add_job(store, options=LONG)
        first = WorkerProcess(data, "first")
        try:
            running = await wait_progress(store, job.id, iteration=2)
            assert running.attempts == 1
            first.kill()
        finally:
            first.kill()
        assert (await store.get(job.id)).status is JobStatus.RUNNING  # nobody knows yet
        second = WorkerProcess(data, "second")
        try:
            done = await wait_status(store, job.id, {JobStatus.DONE, JobStatus.FAILED})
            assert done.status is JobStatus.DONE, done.error
            assert done.attempts == 2
            assert "recovered jobs of dead workers: [1]" in second.log()
            assert [e.pid for e in await store.engines()] == [second.pid]  # lease taken over
        finally:
            second.stop()


async def test_sigterm_requeues_without_counting_and_exits_0(tmp_path):
    data = tmp_path / "data"
    async with await JobStore.open(data) as store:
        job = await add_job(store, options=LONG)
        worker = WorkerProcess(data, "first")
        try:
            await wait_progress(store, job.id, iteration=2)
            worker.signal(signal.SIGTERM)
            assert await worker.exited(within=30) == 0
        finally:
            worker.stop()
        queued = await store.get(job.id)
        assert queued.status is JobStatus.QUEUED and queued.attempts == 0
        assert queued.worker_id is None and queued.started_at is None
        assert await store.engines() == []
        again = WorkerProcess(data, "again")
        try:
            done = await wait_status(store, job.id, {JobStatus.DONE, JobStatus.FAILED})
            assert done.status is JobStatus.DONE and done.attempts == 1
        finally:
            again.stop()


async def test_crashing_too_often_fails_the_job_with_a_clear_message(tmp_path):
    data = tmp_path / "data"
    async with await JobStore.open(data) as store:
        job = await add_job(store, options=LONG)
        worker = WorkerProcess(data, "first", MAX_ATTEMPTS="1")
        try:
            await wait_progress(store, job.id, iteration=1)
        finally:
            worker.kill()
        worker = WorkerProcess(data, "second", MAX_ATTEMPTS="1")
        try:
            failed = await wait_status(store, job.id, {JobStatus.FAILED, JobStatus.DONE})
            assert failed.status is JobStatus.FAILED and "crashed 1 time " in failed.error
        finally:
            worker.stop()


async def test_a_second_exclusive_worker_is_refused_with_a_clear_message(tmp_path):
    data = tmp_path / "data"
    first = WorkerProcess(data, "first")
    try:
        await first.ready()
        second = WorkerProcess(data, "second")
        assert await second.exited() == 2
        message = second.log()
        assert "Another engine is already running" in message
        assert f"pid {first.pid}" in message and "ENGINE_EXCLUSIVE=false" in message
        assert "Traceback" not in message
        assert first.proc.poll() is None  # the first one carries on
    finally:
        first.stop()
    # once the first has stopped, a new exclusive worker starts
    third = WorkerProcess(data, "third")
    try:
        await third.ready()
    finally:
        third.stop()


async def test_worker_upgrades_a_version_1_database_and_runs_its_jobs(tmp_path):
    data = tmp_path / "data"
    (data / "jobs" / "1").mkdir(parents=True)  # where versions before migration 5 kept files
    (data / "jobs" / "1" / "content.jpg").write_bytes(picture(1))
    (data / "jobs" / "1" / "style-0.png").write_bytes(picture(2, (64, 64)))
    db = await open_database(data, None, migrate_to=1)
    await db.run(
        """
        INSERT INTO jobs (user_id, user_name, chat_id, chat_type, request_message_id,
                          reply_to_message_id, content_name, styles, options, created_at)
        VALUES (1, 'old', 1, 'private', 10, 9, 'content.jpg',
                '[{"preset": null, "image": "style-0.png", "weight": 1.0}]',
                '{"iterations": 2}', 1.0)
        """
    )
    await db.close()
    worker = WorkerProcess(data)
    try:
        async with await JobStore.open(data) as store:
            done = await wait_status(store, 1, {JobStatus.DONE, JobStatus.FAILED})
            assert done.status is JobStatus.DONE, done.error
    finally:
        worker.stop()
    con = sqlite3.connect(data / "picasso.db")
    assert con.execute("PRAGMA user_version").fetchone()[0] == LATEST
    con.close()


async def test_two_workers_share_fifty_jobs_each_done_exactly_once(tmp_path):
    data = tmp_path / "data"
    workers = [WorkerProcess(data, f"w{n}", ENGINE_EXCLUSIVE="false") for n in range(2)]
    try:
        async with await JobStore.open(data) as store:
            for worker in workers:
                await worker.ready()
            jobs = []
            for n in range(50):
                options = JobOptions(size=32 + 8 * (n % 5), iterations=2 + n % 4)
                jobs.append(await add_job(store, n % 6, seed=n, options=options))

            async def all_finished():
                return await store.active_count() == 0

            await eventually(all_finished, 300, "all 50 jobs to finish")
            finished = [await store.get(j.id) for j in jobs]
            assert {j.status for j in finished} == {JobStatus.DONE}, [j.error for j in finished]
            assert {j.attempts for j in finished} == {1}
            for j in finished:
                assert "result.png" in await store.file_names(j.id)
            # each job was painted by exactly one worker, and both workers took part
            logs = [w.log() for w in workers]
            for job in finished:
                assert sum(log.count(f"job {job.id} done:") for log in logs) == 1
            assert len({j.worker_id for j in finished}) == 2
            assert len(await store.engines()) == 2
    finally:
        for worker in workers:
            worker.stop()
