"""LISTEN/NOTIFY on PostgreSQL: an idle painter starts a new job, and the bot shows progress
and results, long before their polling interval would have made them look."""

from __future__ import annotations

import time

import pytest
from telegram.ext import ExtBot

from bot.context import BotDeps
from bot.notifier import Notifier
from jobs import JobOptions, JobStatus, JobStore, NewJob, StyleRef
from styles import load_catalogue
from tests.fake_bot_api import DEFAULT_USER_ID
from tests.style_support import FakeEngine, make_settings, photo
from tests.test_worker_harness import WorkerProcess, add_job, wait_status
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(240)
SLOW_POLL = 30.0  # what the bot would wait without a notification
WORKER_POLL = 5.0  # POLL_SECONDS' largest allowed value


async def test_notifier_shows_progress_and_results_on_notify(fake_api, tmp_path, pg_url):
    settings = make_settings(fake_api, tmp_path, DATABASE_URL=pg_url)
    store = await JobStore.open(tmp_path, database_url=pg_url)
    bot = ExtBot(fake_api.token, base_url=fake_api.base_url, base_file_url=fake_api.base_file_url)
    async with bot:
        notifier = Notifier(bot, BotDeps(settings, store, load_catalogue()), poll_seconds=SLOW_POLL)
        try:
            update = fake_api.photo_update(photo())
            message = update["message"]
            job, _ = await store.enqueue(
                NewJob(
                    user_id=DEFAULT_USER_ID,
                    user_name="@alice",
                    chat_id=message["chat"]["id"],
                    chat_type="private",
                    request_message_id=message["message_id"],
                    reply_to_message_id=message["message_id"],
                    content_name="content.jpg",
                    styles=(StyleRef(preset="monet"),),
                ),
                {"content.jpg": photo()},
            )
            notifier.start()
            await eventually(lambda: store._db.listening, 10, "the LISTEN connection")
            engine = FakeEngine(store)
            mark = fake_api.mark()
            started = time.monotonic()
            job = await engine.claim()
            await eventually(lambda: fake_api.calls(since=mark), 5, "a call after the claim")
            await engine.progress(job, 100, 200)
            await eventually(
                lambda: (
                    fake_api.calls("editMessageMedia", since=mark)
                    or fake_api.calls("sendPhoto", since=mark)
                ),
                5,
                "the preview",
            )
            mark = fake_api.mark()
            await engine.finish(job)
            result = await eventually(lambda: fake_api.calls("sendPhoto", since=mark), 5, "result")
            assert result and time.monotonic() - started < SLOW_POLL / 3

            async def delivered():
                return (await store.get(job.id)).delivered_at is not None

            await eventually(delivered, 5, "the job marked delivered")
        finally:
            await notifier.stop()
            await store.close()


async def test_idle_painter_starts_a_new_job_on_notify(tmp_path, pg_url):
    data = tmp_path / "data"
    worker = WorkerProcess(data, "painter", DATABASE_URL=pg_url, POLL_SECONDS=str(WORKER_POLL))
    try:
        await worker.ready()
        async with await JobStore.open(data, database_url=pg_url) as store:
            waits = []
            for user in (1, 2, 3):
                job = await add_job(store, user, options=JobOptions(iterations=1))
                done = await wait_status(store, job.id, {JobStatus.DONE, JobStatus.FAILED})
                assert done.status is JobStatus.DONE, done.error
                waits.append(done.started_at - done.created_at)
            # Polling alone would take 2.5 s on average; three times under a second by chance
            # is a one-in-a-hundred event.
            assert max(waits) < 1.0, waits
    finally:
        worker.stop()
