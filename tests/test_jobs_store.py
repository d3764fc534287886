"""The job table's life cycle, as the bot and the engine use it (real SQLite files)."""

from __future__ import annotations

import sqlite3

import pytest

from jobs import JobOptions, JobStatus, JobStore, NewJob, StyleRef, UserSettings
from jobs.testing import enqueue, new_job, stage


async def test_open_sets_up_db_and_dirs(tmp_path):
    async with await JobStore.open(tmp_path / "data") as store:
        assert (tmp_path / "data" / "picasso.db").is_file()
        assert (tmp_path / "data" / "jobs").is_dir()
        assert store.job_dir(7) == tmp_path / "data" / "jobs" / "7"
    con = sqlite3.connect(tmp_path / "data" / "picasso.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


async def test_enqueue_moves_files_and_round_trips_fields(store, tmp_path):
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
    content, style = stage(tmp_path / "in", data=b"C"), stage(tmp_path / "in", data=b"S")
    job, created = await store.enqueue(new, {"content.jpg": content, "style-0.png": style})
    assert created
    assert not content.exists() and not style.exists()
    assert (store.job_dir(job.id) / "content.jpg").read_bytes() == b"C"
    assert (store.job_dir(job.id) / "style-0.png").read_bytes() == b"S"
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


async def test_enqueue_is_idempotent_on_chat_and_request_message(store, tmp_path):
    new = new_job(5, message_id=77)
    first, created = await store.enqueue(new, {"content.jpg": stage(tmp_path / "in")})
    assert created
    again = stage(tmp_path / "in", data=b"second copy")
    second, created = await store.enqueue(new, {"content.jpg": again})
    assert not created and second.id == first.id
    assert not again.exists()  # staged files of the duplicate are deleted
    assert (store.job_dir(first.id) / "content.jpg").read_bytes() != b"second copy"
    assert await store.active_count(user_id=5) == 1
    # the same message id in another chat is another request
    other, created = await store.enqueue(
        new_job(5, chat_id=-9, message_id=77), {"content.jpg": stage(tmp_path / "in")}
    )
    assert created and other.id != first.id


async def test_enqueue_refuses_missing_or_unsafe_files(store, tmp_path):
    new = new_job(styles=(StyleRef(image="style-0.png"),))
    with pytest.raises(ValueError, match="style-0.png"):
        await store.enqueue(new, {"content.jpg": stage(tmp_path)})
    with pytest.raises(ValueError, match="plain file name"):
        await store.enqueue(new_job(), {"content.jpg": stage(tmp_path), "../x": stage(tmp_path)})
    with pytest.raises(ValueError):
        StyleRef()
    with pytest.raises(ValueError):
        StyleRef(preset="a", image="b.png")
    assert await store.list_jobs() == []


async def test_claim_progress_finish_deliver(store, tmp_path, clock):
    job = await enqueue(store, tmp_path)
    assert (await store.claim("w1")).id == job.id  # no engines row needed to claim
    got = await store.get(job.id)
    assert got.status is JobStatus.RUNNING and got.worker_id == "w1" and got.attempts == 1
    assert await store.queue_position(job.id) == 0
    clock.advance(2)
    stop = await store.report_progress(
        job.id, "w1", iteration=10, total=20, loss=3.5, preview_name="preview.jpg"
    )
    assert stop is False
    changed = await store.changed_since(clock.now - 1)
    assert [j.id for j in changed] == [job.id]
    assert changed[0].iteration == 10 and changed[0].loss == 3.5
    assert changed[0].preview_name == "preview.jpg" and changed[0].total_iterations == 20
    # another worker cannot report or finish it
    assert await store.report_progress(
        job.id, "w2", iteration=1, total=20, loss=1.0, preview_name=None
    )
    assert not await store.finish(job.id, "result.png", worker_id="w2")
    clock.advance(3)
    assert await store.finish(job.id, "result.png", worker_id="w1")
    done = await store.get(job.id)
    assert done.status is JobStatus.DONE and done.result_name == "result.png"
    assert done.finished_at == clock.now and done.iteration == 20 and not done.is_active
    assert [j.id for j in await store.undelivered()] == [job.id]
    clock.advance(1)
    await store.mark_delivered(job.id)
    assert await store.undelivered() == []
    assert (await store.get(job.id)).delivered_at == clock.now
    assert await store.queue_position(job.id) is None
    assert await store.eta_seconds(job.id) is None


async def test_fail_keeps_user_message(store, tmp_path):
    job = await enqueue(store, tmp_path)
    await store.claim("w")
    assert await store.fail(job.id, "That file is not a picture.")
    got = await store.get(job.id)
    assert got.status is JobStatus.FAILED and got.error == "That file is not a picture."
    assert not await store.fail(job.id, "again")  # finished jobs stay finished


async def test_cancel_queued_and_running(store, tmp_path):
    queued = await enqueue(store, tmp_path, user_id=1)
    running = await enqueue(store, tmp_path, user_id=2)
    assert (await store.claim("w")).id == queued.id  # oldest first
    queued, running = running, queued
    assert await store.cancel(queued.id) is JobStatus.CANCELLED
    assert (await store.get(queued.id)).status is JobStatus.CANCELLED
    assert await store.cancel(running.id) is JobStatus.RUNNING
    assert (await store.get(running.id)).cancel_requested
    stop = await store.report_progress(
        running.id, "w", iteration=1, total=5, loss=1, preview_name=None
    )
    assert stop is True
    assert await store.mark_cancelled(running.id, worker_id="w")
    assert (await store.get(running.id)).status is JobStatus.CANCELLED
    assert await store.cancel(running.id) is None
    assert await store.cancel(12345) is None
    assert await store.claim("w") is None


async def test_requeue_gives_back_the_attempt_unless_counted(store, tmp_path):
    job = await enqueue(store, tmp_path)
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


async def test_counts_listing_and_stats(store, tmp_path, clock):
    a1 = await enqueue(store, tmp_path, user_id=1, chat_id=-5)
    await enqueue(store, tmp_path, user_id=1, chat_id=1)
    b1 = await enqueue(store, tmp_path, user_id=2, chat_id=-5)
    assert await store.active_count() == 3
    assert await store.active_count(user_id=1) == 2
    assert await store.active_count(chat_id=-5) == 2
    assert await store.active_count(user_id=1, chat_id=-5) == 1
    since = clock.now
    claimed = await store.claim("w")
    assert claimed.id == a1.id
    clock.advance(10)
    await store.finish(a1.id, "result.png")
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
    job = await enqueue(store, tmp_path)
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
    job = await enqueue(store, tmp_path)
    assert not await store.is_paused()
    await store.set_paused(True)
    assert await store.is_paused()
    assert await store.claim("w") is None
    await store.set_paused(False)
    assert (await store.claim("w")).id == job.id


async def test_cleanup_removes_files_of_old_delivered_jobs(store, tmp_path, clock):
    old = await enqueue(store, tmp_path)
    undelivered = await enqueue(store, tmp_path)
    recent = await enqueue(store, tmp_path)
    for job in (old, undelivered):
        await store.claim("w")
        await store.finish(job.id, "result.png")
    await store.mark_delivered(old.id)
    clock.advance(3600)
    await store.claim("w")
    await store.finish(recent.id, "result.png")
    await store.mark_delivered(recent.id)
    clock.advance(60)
    assert await store.cleanup(older_than=600) == 1
    assert not store.job_dir(old.id).exists()
    assert store.job_dir(undelivered.id).exists() and store.job_dir(recent.id).exists()
    assert (await store.get(old.id)).files_deleted_at == clock.now
    assert await store.cleanup(older_than=600) == 0  # done once
    assert await store.get(old.id) is not None  # rows stay for stats


async def test_options_json_ignores_unknown_keys(store, tmp_path):
    job = await enqueue(store, tmp_path, options=JobOptions(size=300))
    con = sqlite3.connect(store.data_dir / "picasso.db")
    with con:
        con.execute(
            "UPDATE jobs SET options = ?, styles = ? WHERE id = ?",
            (
                '{"size": 300, "from_the_future": 1}',
                '[{"preset": "monet", "weight": 1.0, "new": 2}]',
                job.id,
            ),
        )
    con.close()
    got = await store.get(job.id)
    assert got.options == JobOptions(size=300) and got.styles == (StyleRef(preset="monet"),)
