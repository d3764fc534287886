"""`python -m jobs migrate --to postgresql://…` copies a SQLite installation, idempotently."""

from __future__ import annotations

import asyncio
import sys

from jobs import JobStatus, JobStore, UserSettings
from jobs.testing import enqueue, new_job
from tests.pg_fixtures import create_database, drop_database

RESULT = bytes(range(256)) * 8192  # 2 MB, like a big PNG


async def run_migrate(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "jobs", "migrate", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode()


async def make_installation(data) -> dict[str, int]:
    """A SQLite installation with a job in every state (each with its own photo; the done one
    with a big result), users with settings and a ban."""
    async with await JobStore.open(data) as store:
        claimed_first = (JobStatus.RUNNING, JobStatus.DONE, JobStatus.FAILED)
        order = [*claimed_first, JobStatus.QUEUED, JobStatus.CANCELLED]
        jobs = {}
        for i, status in enumerate(order):
            photo = {"content.jpg": f"photo {i}".encode()}
            jobs[status], _ = await store.enqueue(new_job(i + 1), photo)
        for status in claimed_first:
            claimed = await store.claim("old-painter")
            assert claimed.id == jobs[status].id
        await store.report_progress(
            jobs[JobStatus.RUNNING].id, "old-painter", iteration=1, total=9, loss=1, preview=b"P"
        )
        await store.finish(jobs[JobStatus.DONE].id, RESULT, extra_files={"frame-1.jpg": b"F"})
        await store.fail(jobs[JobStatus.FAILED].id, "That file is not a picture.")
        await store.cancel(jobs[JobStatus.CANCELLED].id)
        await store.mark_delivered(jobs[JobStatus.DONE].id)
        await store.set_user_settings(1, size=512, strength=2.0, preserve_colors=True)
        await store.set_banned(66, True)
        await store.set_paused(True)
        return {status.value: job.id for status, job in jobs.items()}


async def test_migrate_copies_everything_once(tmp_path, pg_url, postgres):
    data = tmp_path / "data"
    ids = await make_installation(data)
    code, out = await run_migrate("--to", pg_url, "--data-dir", str(data))
    assert code == 0, out
    assert postgres.password not in out
    assert "jobs: 5 copied, 0 already there" in out
    assert "1 cancelled, 1 done, 1 failed, 1 queued, 1 running" in out
    assert "users: 2 copied" in out and "control: 1 copied" in out
    assert "job_files: 8 copied" in out

    async with (
        await JobStore.open(tmp_path / "pg", database_url=pg_url) as pg,
        await JobStore.open(data) as sqlite,
    ):
        assert await pg.list_jobs(limit=100) == await sqlite.list_jobs(limit=100)
        for job_id in ids.values():
            names = await sqlite.file_names(job_id)
            assert await pg.file_names(job_id) == names
            for name in names:
                assert await pg.read_file(job_id, name) == await sqlite.read_file(job_id, name)
        assert await pg.read_file(ids["done"], "result.png") == RESULT
        assert await pg.get_user_settings(1) == UserSettings(512, 2.0, True)
        assert await pg.is_banned(66) and not await pg.is_banned(1)
        assert await pg.is_paused()
        # the old painter is gone: its running job goes back to the queue on the new database
        assert await pg.recover_stale(stale_after=60) == [ids["running"]]
        # new jobs get ids after the copied ones
        await pg.set_paused(False)
        new = await enqueue(pg, user_id=9)
        assert new.id > max(ids.values())

    code, out = await run_migrate("--to", pg_url, "--data-dir", str(data))
    assert code == 0, out
    assert "jobs: 0 copied, 5 already there" in out  # idempotent: nothing twice


async def test_migrate_refuses_a_database_of_another_installation(tmp_path, postgres):
    other = await create_database(postgres)
    try:
        async with await JobStore.open(tmp_path / "x", database_url=other) as store:
            await enqueue(store, user_id=1, chat_id=-77)
        data = tmp_path / "data"
        await make_installation(data)
        code, out = await run_migrate("--to", other, "--data-dir", str(data))
        assert code == 1 and "different job #1" in out, out
        assert postgres.password not in out
    finally:
        await drop_database(postgres, other)


async def test_migrate_explains_bad_arguments(tmp_path, pg_url):
    code, out = await run_migrate("--to", "mysql://root:hunter2@db/x", "--data-dir", str(tmp_path))
    assert code == 2 and "must start with postgresql://" in out and "hunter2" not in out
    code, out = await run_migrate("--to", pg_url, "--data-dir", str(tmp_path / "none"))
    assert code == 2 and "there is no" in out
