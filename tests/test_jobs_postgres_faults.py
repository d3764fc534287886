"""PostgreSQL faults: a malformed DATABASE_URL, a server that is not there yet, one that stops
and comes back mid-job; and the password, which no message, log or traceback may show."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import traceback

import pytest

from jobs import DatabaseUnavailable, EngineInfo, JobOptions, JobStatus, JobStore
from jobs.backends.opening import open_database
from jobs.backends.url import DatabaseUrlError, parse_database_url
from jobs.testing import FakeClock, enqueue
from jobs.testing_pg import free_port
from tests.test_worker_harness import WorkerProcess, add_job, wait_progress, wait_status
from tests.waiting import eventually

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"mysql://u:{SECRET}@h/db", "must start with postgresql://"),
        (f"postgresql://u:{SECRET}@/db", "names no host"),
        (f"postgresql://u:{SECRET}@h:5432", "no plain database name"),
        (f"postgresql://u:{SECRET}@h:99999/db", "bad host or port"),
        (f"postgresql://u:{SECRET[:4]}/{SECRET[4:]}@h/db", "percent-encode"),
        (f"postgresql://u:{SECRET}@h/db?sslrootcert=x", "unsupported options"),
    ],
)
def test_malformed_urls_are_refused_without_the_password(url, says):
    with pytest.raises(DatabaseUrlError, match=says) as err:
        parse_database_url(url)
    assert SECRET[:4] not in str(err.value) and SECRET[4:] not in str(err.value)


def test_parsed_url_shows_only_the_redacted_form():
    url = parse_database_url(f"postgresql://picasso:{SECRET}@db.example:6543/jobs?sslmode=require")
    assert (url.host, url.port, url.database, url.user, url.ssl) == (
        "db.example",
        6543,
        "jobs",
        "picasso",
        "require",
    )
    assert url.password == SECRET
    assert url.where == "db.example:6543/jobs"
    assert str(url) == "postgresql://picasso:***@db.example:6543/jobs"
    assert SECRET not in repr(url)


def _all_text(exc: BaseException, caplog) -> str:
    return "".join(traceback.format_exception(exc)) + caplog.text


async def test_unreachable_at_start_one_line_naming_the_host_then_gives_up(tmp_path, caplog):
    port = free_port()
    url = f"postgresql://picasso:{SECRET}@127.0.0.1:{port}/picasso"
    caplog.set_level(logging.DEBUG, logger="jobs")
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as err:
        await JobStore.open(tmp_path, database_url=url, connect_retry_for=2.5)
    assert time.monotonic() - started >= 1.0  # it retried (0.5 s, 1 s, ...)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, caplog.text
    assert f"PostgreSQL at 127.0.0.1:{port}/picasso is unreachable" in warnings[0].getMessage()
    assert f"127.0.0.1:{port}/picasso" in str(err.value)
    assert SECRET not in _all_text(err.value, caplog)


async def test_wrong_password_is_a_clear_error_at_once(tmp_path, postgres, caplog):
    url = postgres.url("postgres", password=SECRET)
    with pytest.raises(DatabaseUnavailable, match="password authentication failed") as err:
        await JobStore.open(tmp_path, database_url=url, connect_retry_for=60)
    assert "check the user, password and database" in str(err.value)
    assert SECRET not in _all_text(err.value, caplog)


async def test_waits_for_a_late_server_and_survives_a_restart(tmp_path, own_postgres, caplog):
    """Unreachable at start: retried until it comes; stopped later: calls fail with
    DatabaseUnavailable (host, no password), then work again, and so do the wake-ups."""
    url = own_postgres.url()
    opening = asyncio.create_task(JobStore.open(tmp_path, database_url=url, connect_retry_for=90))
    await eventually(lambda: "is unreachable" in caplog.text, 30, "a first try that failed")
    assert not opening.done()  # and it goes on trying
    await asyncio.to_thread(own_postgres.start)
    store = await asyncio.wait_for(opening, 60)
    try:
        assert sum(r.levelno >= logging.WARNING for r in caplog.records) == 1
        wakeup = store.wake_on_queue()
        await eventually(lambda: store._db.listening, 10, "LISTEN connection")
        await asyncio.to_thread(own_postgres.stop)
        store._db.patience = 1.0  # how long a call waits for the server (15 s by default)
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as err:
            await store.get(1)
        assert time.monotonic() - started >= 0.5  # it waited for the server before giving up
        assert f"127.0.0.1:{own_postgres.port}" in str(err.value)
        assert own_postgres.password not in _all_text(err.value, caplog)
        await asyncio.to_thread(own_postgres.start)
        job = await eventually(lambda: _enqueue_or_none(store, tmp_path), 30, "reconnect")
        assert (await store.get(job.id)).status is JobStatus.QUEUED
        await eventually(lambda: store._db.listening, 30, "LISTEN connection again")
        wakeup.clear()
        started = time.monotonic()
        await enqueue(store, user_id=2)
        assert await wakeup.wait(5)
        assert time.monotonic() - started < 1.0
    finally:
        await store.close()


async def test_a_server_stopping_mid_transaction_is_database_unavailable(own_postgres):
    """Connections the server ends under a transaction (the pool takes them back at once)
    fail as DatabaseUnavailable, never as a driver error, whether the next thing is a
    statement or the COMMIT; once the server is back the same database works again."""
    own_postgres.start()
    db = await open_database(None, own_postgres.url())  # type: ignore[arg-type]
    try:
        db.patience = 0.5
        for body in ("a statement", "the commit"):
            with pytest.raises(DatabaseUnavailable, match=f"127.0.0.1:{own_postgres.port}"):
                async with db.transaction() as tx:
                    await tx.all("SELECT 1")
                    await asyncio.to_thread(own_postgres.stop)
                    if body == "a statement":
                        await tx.all("SELECT 2")
            await asyncio.to_thread(own_postgres.start)
            assert (await db.one("SELECT 3 AS n"))["n"] == 3
    finally:
        await db.close()


async def _enqueue_or_none(store, tmp_path):
    try:
        return await enqueue(store)
    except DatabaseUnavailable:
        return None


async def test_painters_ride_out_a_server_restart_mid_job(tmp_path, own_postgres):
    """PostgreSQL stops for longer than STALE_AFTER_SECONDS while one painter paints and
    another idles: the painter keeps painting, then reconnects and records its result; the
    idle one does not take the job as a dead painter's (everyone's heartbeat stopped): done
    once, by the painter that claimed it, attempt counted once, nothing lost."""
    own_postgres.start()
    url = own_postgres.url()
    stale_after = 4.0
    env = {"DATABASE_URL": url, "IMAGE_SIZE": "48", "STALE_AFTER_SECONDS": str(stale_after)}
    painters = [WorkerProcess(tmp_path / f"host-{n}" / "data", f"painter-{n}", **env)
                for n in range(2)]  # fmt: skip
    try:
        await asyncio.gather(*(p.ready() for p in painters))
        async with await JobStore.open(tmp_path / "observer", database_url=url) as store:
            job = await add_job(store, options=JobOptions(iterations=60))
            claimed = await wait_progress(store, job.id, iteration=2)
            last_heartbeat = max(engine.last_seen for engine in await store.engines())
        await asyncio.to_thread(own_postgres.stop)
        # The outage is the scenario: it lasts until every heartbeat on record is older than
        # STALE_AFTER_SECONDS (by a second), so that each painter looks dead by the table.
        await eventually(lambda: time.time() - last_heartbeat > stale_after + 1, 30, "stale")
        await asyncio.to_thread(own_postgres.start)
        async with await JobStore.open(tmp_path / "observer", database_url=url) as store:
            done = await wait_status(store, job.id, {JobStatus.DONE, JobStatus.FAILED})
            assert done.status is JobStatus.DONE, done.error
            assert done.attempts == 1 and done.worker_id == claimed.worker_id
            assert len(await store.list_jobs(limit=10)) == 1
        for painter in painters:
            assert own_postgres.password not in painter.log()
    finally:
        for painter in painters:
            painter.stop()


async def test_nobody_is_judged_dead_until_the_server_was_back_for_stale_after(
    tmp_path, own_postgres
):
    """A painter's silence while the server was away is no sign of death (its heartbeats
    could not get through): recover_stale waits until the server has been back, as seen
    from this process, for `stale_after` seconds."""
    own_postgres.start()
    clock = FakeClock()
    url = own_postgres.url()
    async with await JobStore.open(tmp_path, database_url=url, clock=clock) as store:
        remote = EngineInfo("remote", 1, "elsewhere", "cpu", None)
        await store.register_engine(remote, exclusive=False)
        job = await enqueue(store)
        assert (await store.claim("remote")).id == job.id
        clock.advance(100)  # its heartbeat is long overdue
        await asyncio.to_thread(own_postgres.stop)
        waiting = asyncio.create_task(store.get(job.id))  # waits for the server
        await asyncio.sleep(1)
        await asyncio.to_thread(own_postgres.start)
        await waiting
        assert await store.recover_stale(stale_after=2) == []
        assert (await store.get(job.id)).status is JobStatus.RUNNING
        await asyncio.sleep(2)
        assert await store.recover_stale(stale_after=2) == [job.id]


async def test_worker_refuses_a_malformed_url_with_one_clear_line(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "engine", "worker"),
        env={"DATABASE_URL": f"postgres://u:{SECRET}@:5432/db", "DATA_DIR": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 2
    assert b"DATABASE_URL names no host" in out and SECRET.encode() not in out
