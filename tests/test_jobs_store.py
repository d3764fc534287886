"""The job table's life cycle, as the bot and the engine use it (real SQLite files)."""

from __future__ import annotations

import asyncio
import os
import sqlite3

import pytest

from jobs import EngineInfo, JobOptions, JobStatus, JobStore, NewJob, StyleRef, UserSettings
from jobs.failures import failure
from jobs.liveness import this_host
from jobs.testing import PLACEHOLDER, enqueue, execute_sql, new_job, stored_bytes


async def test_open_sets_up_the_database(tmp_path):
    async with await JobStore.open(tmp_path / "data"):
        assert (tmp_path / "data" / "picasso.db").is_file()
    assert list((tmp_path / "data").glob("jobs")) == []  # job files live in the database
    con = sqlite3.connect(tmp_path / "data" / "picasso.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental: cleanup shrinks it
    con.close()


async def test_enqueue_stores_files_and_round_trips_fields(store):
    styles = (StyleRef(preset="monet", weight=2.0), StyleRef(image="style-0.png", weight=0.5))
    options = JobOptions(size=256, iterations=50, strength=1.5, preserve_colors=True, seed=3)
    new = NewJob(
        user_id=42,
        user_name="Ada",
        chat_id=-100,
        chat_type="supergroup",
        request_message_id=11,
        reply_to_message_id=10,
        content_name="content.jpg",
        styles=styles,
        options=options,
    )
    job, created = await store.enqueue(new, {"content.jpg": b"C", "style-0.png": bytearray(b"S")})
    assert created
    assert await store.read_file(job.id, "content.jpg") == b"C"
    assert await store.read_file(job.id, "style-0.png") == b"S"
    assert await store.file_names(job.id) == ["content.jpg", "style-0.png"]
    assert await store.read_file(job.id, "result.png") is None
    got = await store.get(job.id)
    assert got == job
    assert (got.user_id, got.user_name, got.chat_id, got.chat_type) == (
        42,
        "Ada",
        -100,
        "supergroup",
    )
    assert (got.request_message_id, got.reply_to_message_id) == (11, 10)
    assert got.styles == styles and got.options == options
    assert got.status is JobStatus.QUEUED and got.is_active
    assert got.attempts == 0 and got.priority == 0 and got.cancel_requested is False
    assert got.started_at is None and got.finished_at is None and got.delivered_at is None


async def test_enqueue_is_idempotent_on_chat_and_request_message(store):
    new = new_job(5, message_id=77)
    first, created = await store.enqueue(new, {"content.jpg": b"first copy"})
    assert created
    second, created = await store.enqueue(new, {"content.jpg": b"second copy"})
    assert not created and second.id == first.id
    assert await store.read_file(first.id, "content.jpg") == b"first copy"
    assert await store.active_count(user_id=5) == 1
    # the same message id in another chat is another request
    other, created = await store.enqueue(
        new_job(5, chat_id=-9, message_id=77), {"content.jpg": PLACEHOLDER}
    )
    assert created and other.id != first.id


async def test_enqueue_refuses_missing_or_unsafe_files(store):
    new = new_job(styles=(StyleRef(image="style-0.png"),))
    with pytest.raises(ValueError, match="style-0.png"):
        await store.enqueue(new, {"content.jpg": PLACEHOLDER})
    with pytest.raises(ValueError, match="plain file name"):
        await store.enqueue(new_job(), {"content.jpg": PLACEHOLDER, "../x": PLACEHOLDER})
    with pytest.raises(ValueError):
        StyleRef()
    with pytest.raises(ValueError):
        StyleRef(preset="a", image="b.png")
    assert await store.list_jobs() == []


async def test_claim_progress_finish_deliver(store, tmp_path, clock):
    job = await enqueue(store)
    assert (await store.claim("w1")).id == job.id  # no engines row needed to claim
    got = await store.get(job.id)
    assert got.status is JobStatus.RUNNING and got.worker_id == "w1" and got.attempts == 1
    assert await store.queue_position(job.id) == 0
    clock.advance(2)
    stop = await store.report_progress(
        job.id, "w1", iteration=10, total=20, loss=3.5, preview=b"JPEG 1"
    )
    assert stop is False
    assert await store.report_progress(job.id, "w1", iteration=15, total=20, loss=3.0) is False
    assert await store.read_file(job.id, "preview.jpg") == b"JPEG 1"  # the last one sent
    changed = await store.changed_since(clock.now - 1)
    assert [j.id for j in changed] == [job.id]
    assert changed[0].iteration == 15 and changed[0].loss == 3.0
    assert changed[0].preview_name == "preview.jpg" and changed[0].total_iterations == 20
    # another worker cannot report, write files or finish it
    assert await store.report_progress(
        job.id, "w2", iteration=1, total=20, loss=1.0, preview=b"not mine"
    )
    assert not await store.write_file(job.id, "preview.jpg", b"not mine", worker_id="w2")
    assert not await store.finish(job.id, b"PNG w2", worker_id="w2", extra_files={"x": b"w2"})
    assert await store.read_file(job.id, "preview.jpg") == b"JPEG 1"
    assert await store.file_names(job.id) == ["content.jpg", "preview.jpg"]
    clock.advance(3)
    assert await store.finish(job.id, b"PNG w1", worker_id="w1", extra_files={"frames": b"F"})
    done = await store.get(job.id)
    assert done.status is JobStatus.DONE and done.result_name == "result.png"
    assert await store.read_file(job.id, done.result_name) == b"PNG w1"
    assert await store.read_file(job.id, "frames") == b"F"
    assert not await store.finish(job.id, b"again", worker_id="w1")  # done is done
    assert done.finished_at == clock.now and done.iteration == 20 and not done.is_active
    assert [j.id for j in await store.undelivered()] == [job.id]
    clock.advance(1)
    await store.mark_delivered(job.id)
    assert await store.undelivered() == []
    assert (await store.get(job.id)).delivered_at == clock.now
    assert await store.queue_position(job.id) is None
    assert await store.eta_seconds(job.id) is None


async def test_fail_keeps_user_message(store, tmp_path):
    job = await enqueue(store)
    await store.claim("w")
    assert await store.fail(job.id, "That file is not a picture.")
    got = await store.get(job.id)
    assert got.status is JobStatus.FAILED and got.error == "That file is not a picture."
    assert not await store.fail(job.id, "again")  # finished jobs stay finished


async def test_cancel_queued_and_running(store, tmp_path):
    queued = await enqueue(store, user_id=1)
    running = await enqueue(store, user_id=2)
    assert (await store.claim("w")).id == queued.id  # oldest first
    queued, running = running, queued
    assert await store.cancel(queued.id) is JobStatus.CANCELLED
    assert (await store.get(queued.id)).status is JobStatus.CANCELLED
    assert await store.cancel(running.id) is JobStatus.RUNNING
    assert (await store.get(running.id)).cancel_requested
    stop = await store.report_progress(running.id, "w", iteration=1, total=5, loss=1)
    assert stop is True
    assert await store.mark_cancelled(running.id, worker_id="w")
    assert (await store.get(running.id)).status is JobStatus.CANCELLED
    assert await store.cancel(running.id) is None
    assert await store.cancel(12345) is None
    assert await store.claim("w") is None


async def test_requeue_gives_back_the_attempt_unless_counted(store, tmp_path):
    job = await enqueue(store)
    await store.claim("w")
    assert await store.requeue(job.id, count_attempt=False) is JobStatus.QUEUED
    got = await store.get(job.id)
    assert got.status is JobStatus.QUEUED and got.attempts == 0 and got.worker_id is None
    assert got.started_at is None and got.iteration == 0
    await store.claim("w")
    assert await store.requeue(job.id, count_attempt=True, worker_id="other") is None
    assert await store.requeue(job.id, count_attempt=True, worker_id="w") is JobStatus.QUEUED
    assert (await store.get(job.id)).attempts == 1
    # a cancel requested while running wins over the requeue
    await store.claim("w")
    await store.cancel(job.id)
    assert await store.requeue(job.id, count_attempt=False) is JobStatus.CANCELLED


async def test_a_counted_requeue_at_max_attempts_fails_the_job_instead(store, tmp_path):
    job = await enqueue(store)
    give_up = {"max_attempts": 2, "why": failure("painting_stalled")}
    await store.claim("w")  # attempt 1
    assert await store.requeue(job.id, count_attempt=True, **give_up) is JobStatus.QUEUED
    await store.claim("w")  # attempt 2: the last
    assert await store.requeue(job.id, count_attempt=False, **give_up) is JobStatus.QUEUED
    await store.claim("w")  # attempt 2 again: a shutdown gave it back uncounted
    assert await store.requeue(job.id, count_attempt=True, **give_up) is JobStatus.FAILED
    got = await store.get(job.id)
    assert got.status is JobStatus.FAILED and got.finished_at is not None
    assert got.failure == failure("painting_stalled")


async def test_counts_listing_and_stats(store, tmp_path, clock):
    a1 = await enqueue(store, user_id=1, chat_id=-5)
    await enqueue(store, user_id=1, chat_id=1)
    b1 = await enqueue(store, user_id=2, chat_id=-5)
    assert await store.active_count() == 3
    assert await store.active_count(user_id=1) == 2
    assert await store.active_count(chat_id=-5) == 2
    assert await store.active_count(user_id=1, chat_id=-5) == 1
    since = clock.now
    claimed = await store.claim("w")
    assert claimed.id == a1.id
    clock.advance(10)
    await store.finish(a1.id, PLACEHOLDER)
    await store.cancel(b1.id)
    stats = await store.stats(since)
    assert (stats.done, stats.failed, stats.cancelled, stats.queued, stats.running) == (
        1,
        0,
        1,
        1,
        0,
    )
    assert stats.avg_duration == pytest.approx(10)
    assert [j.id for j in await store.user_jobs(1)] == [a1.id + 1]
    assert [j.id for j in await store.user_jobs(1, active_only=False)] == [a1.id, a1.id + 1]
    assert [j.id for j in await store.list_jobs()] == [b1.id, a1.id + 1, a1.id]
    assert [j.id for j in await store.list_jobs([JobStatus.DONE, "cancelled"])] == [b1.id, a1.id]
    assert await store.list_jobs([]) == []
    assert len(await store.list_jobs(limit=1)) == 1


async def test_progress_message_and_delivery_flags(store, tmp_path):
    job = await enqueue(store)
    await store.set_progress_message(job.id, 555)
    assert (await store.get(job.id)).progress_message_id == 555
    assert await store.undelivered() == []  # active jobs are not "undelivered"


async def test_user_settings_and_bans(store):
    assert await store.get_user_settings(9) == UserSettings()
    assert await store.set_user_settings(9, size=512) == UserSettings(size=512)
    got = await store.set_user_settings(9, strength=2.0, preserve_colors=True)
    assert got == UserSettings(size=512, strength=2.0, preserve_colors=True)
    assert await store.set_user_settings(9, size=None) == UserSettings(None, 2.0, True)
    with pytest.raises(TypeError):
        await store.set_user_settings(9, colour=True)
    assert not await store.is_banned(9)
    await store.set_banned(9, True)
    assert await store.is_banned(9)
    assert (await store.get_user_settings(9)).strength == 2.0  # a ban keeps settings
    await store.set_banned(9, False)
    assert not await store.is_banned(9)
    await store.set_banned(10, True)  # never seen before
    assert await store.is_banned(10)


async def test_pause_stops_claims(store, tmp_path):
    job = await enqueue(store)
    assert not await store.is_paused()
    await store.set_paused(True)
    assert await store.is_paused()
    assert await store.claim("w") is None
    await store.set_paused(False)
    assert (await store.claim("w")).id == job.id


def painter(worker_id: str) -> EngineInfo:
    return EngineInfo(worker_id, os.getpid(), this_host(), "cpu", None)


async def _listening(store: JobStore) -> None:
    """Until the store hears its own notifications (PostgreSQL's LISTEN connection is up)."""
    for _ in range(200):
        if getattr(store._db, "listening", True):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the LISTEN connection never came up")


async def test_claim_job_takes_the_named_batch_mate_as_claim_takes_the_head(store, clock):
    await store.register_engine(painter("w"))
    head = await enqueue(store, user_id=1)
    mate = await enqueue(store, user_id=2)
    later = await enqueue(store, user_id=3)
    # what an earlier, requeued run left on the row: the claim starts it afresh
    await execute_sql(
        store,
        "UPDATE jobs SET attempts = 1, iteration = 7, total_iterations = 20, loss = 2.5, "
        "eta_at = 1, cancel_requested = 1 WHERE id = ?",
        (mate.id,),
    )
    clock.advance(5)
    assert (await store.claim("w")).id == head.id
    assert await store.queue_order() == [mate.id, later.id]
    changes = store.wake_on_changes()
    await _listening(store)
    changes.clear()
    clock.advance(1)
    got = await store.claim_job("w", mate.id)
    assert got is not None and got == await store.get(mate.id)
    assert got.status is JobStatus.RUNNING and got.worker_id == "w" and got.attempts == 2
    assert got.started_at == got.progress_at == clock.now
    assert (got.iteration, got.total_iterations, got.loss, got.eta_at) == (0, None, None, None)
    assert got.cancel_requested is False
    assert await changes.wait(5)  # the bot hears that the job started
    (engine,) = await store.engines()
    assert engine.current_job == head.id  # the head's claim set it; the batch mate leaves it
    assert await store.queue_order() == [later.id]
    assert (await store.get(later.id)).status is JobStatus.QUEUED
    assert await store.claim_job("w", mate.id) is None  # taken once
    assert (await store.get(mate.id)).attempts == 2
    # the batch mate is this painter's as a claimed head is: it reports and finishes it
    assert await store.report_progress(mate.id, "w", iteration=1, total=5, loss=1.0) is False
    assert await store.finish(mate.id, PLACEHOLDER, worker_id="w")


async def test_claim_job_takes_only_queued_jobs(store):
    running, done, cancelled, failed, queued = [await enqueue(store, u) for u in range(1, 6)]
    assert await store.cancel(cancelled.id) is JobStatus.CANCELLED
    for job in (running, done, failed):
        assert (await store.claim("w1")).id == job.id
    assert await store.finish(done.id, PLACEHOLDER, worker_id="w1")
    assert await store.fail(failed.id, "no", worker_id="w1")
    before = {job.id: await store.get(job.id) for job in (running, done, cancelled, failed)}
    for job_id in before:
        assert await store.claim_job("w2", job_id) is None
    assert {job_id: await store.get(job_id) for job_id in before} == before  # untouched
    assert await store.claim_job("w2", 12345) is None  # no such job
    assert (await store.claim_job("w2", queued.id)).worker_id == "w2"


async def test_claim_job_waits_while_paused_or_the_painter_drains(store):
    for worker_id in ("a", "b"):
        await store.register_engine(painter(worker_id), exclusive=False)
    job = await enqueue(store)
    await store.set_paused(True)
    assert await store.claim_job("a", job.id) is None
    assert (await store.get(job.id)).status is JobStatus.QUEUED
    await store.set_paused(False)
    await store.drain("a")
    assert await store.claim_job("a", job.id) is None
    assert (await store.get(job.id)).status is JobStatus.QUEUED
    claimed = await store.claim_job("b", job.id)  # another painter is not draining
    assert claimed is not None and claimed.worker_id == "b" and claimed.attempts == 1


async def test_painters_racing_for_one_batch_mate_one_gets_it(store, tmp_path, clock, database_url):
    """Two painters (two connections to the same database) ask for the same job at once."""
    async with await JobStore.open(
        tmp_path / "data", database_url=database_url, clock=clock
    ) as other:
        jobs = [await enqueue(store, user_id=u) for u in range(1, 9)]
        for job in jobs:
            results = await asyncio.gather(
                store.claim_job("a", job.id), other.claim_job("b", job.id)
            )
            winners = [r for r in results if r is not None]
            assert len(winners) == 1, results
            got = await store.get(job.id)
            assert got.worker_id == winners[0].worker_id and got.attempts == 1


async def test_cleanup_removes_files_of_old_delivered_jobs(store, tmp_path, clock):
    old = await enqueue(store)
    undelivered = await enqueue(store)
    recent = await enqueue(store)
    for job in (old, undelivered):
        await store.claim("w")
        await store.finish(job.id, PLACEHOLDER)
    await store.mark_delivered(old.id)
    clock.advance(3600)
    await store.claim("w")
    await store.finish(recent.id, PLACEHOLDER)
    await store.mark_delivered(recent.id)
    clock.advance(60)
    assert await store.cleanup(older_than=600) == 1
    assert await store.file_names(old.id) == []
    assert await store.file_names(undelivered.id) == ["content.jpg", "result.png"]
    assert await store.file_names(recent.id) == ["content.jpg", "result.png"]
    assert (await store.get(old.id)).files_deleted_at == clock.now
    assert await store.cleanup(older_than=600) == 0  # done once
    assert await store.get(old.id) is not None  # rows stay for stats


async def test_options_json_ignores_unknown_keys(store, tmp_path):
    job = await enqueue(store, options=JobOptions(size=300))
    await execute_sql(
        store,
        "UPDATE jobs SET options = ?, styles = ? WHERE id = ?",
        (
            '{"size": 300, "from_the_future": 1}',
            '[{"preset": "monet", "weight": 1.0, "new": 2}]',
            job.id,
        ),
    )
    got = await store.get(job.id)
    assert got.options == JobOptions(size=300) and got.styles == (StyleRef(preset="monet"),)


async def test_big_results_round_trip_and_cleanup_gives_the_space_back(store, tmp_path, clock):
    """Results at MAX_IMAGE_SIZE are several MB of PNG; retention must really free the disk."""
    results = [os.urandom(6 * 2**20) for _ in range(3)]  # incompressible, like a big PNG
    jobs = [await enqueue(store, user) for user in (1, 2, 3)]
    for job, result in zip(jobs, results, strict=True):
        assert (await store.claim("w")).id == job.id
        assert await store.finish(job.id, result, worker_id="w")
        await store.mark_delivered(job.id)
    for job, result in zip(jobs, results, strict=True):
        assert await store.read_file(job.id, "result.png") == result
    before = await stored_bytes(store, tmp_path / "data")
    assert before > 18 * 2**20
    clock.advance(86400)
    assert await store.cleanup(older_than=3600) == 3
    after = await stored_bytes(store, tmp_path / "data")
    assert after < 2 * 2**20, (before, after)
