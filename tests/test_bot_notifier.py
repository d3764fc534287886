"""bot/notifier.py against the fake Bot API: progress edits, coalescing, throttling, 429s,
deleted messages, delivery (exactly once, also across a restart), failures, group credit.

The engine is played by `FakeEngine` through the job store; the notifier is ticked by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from telegram.ext import ExtBot
from telegram.request import BaseRequest, HTTPXRequest

from bot import notifier as notifier_module
from bot.context import BotDeps
from bot.notifier import Notifier, progress_text
from jobs import JobStore, NewJob, StyleRef
from jobs.testing import FakeClock
from styles import load_catalogue
from tests.fake_bot_api import DEFAULT_GROUP_ID, DEFAULT_USER_ID, make_chat
from tests.style_support import FakeEngine, decode, make_settings, photo

pytestmark = pytest.mark.timeout(60)


class Rig:
    def __init__(self, fake, deps: BotDeps, bot: ExtBot) -> None:
        self.fake = fake
        self.deps = deps
        self.store = deps.store
        self.bot = bot
        self.engine = FakeEngine(deps.store)
        self.notifier = Notifier(bot, deps, poll_seconds=0.05)

    async def job(self, *, chat: str = "private", user_name: str = "@alice", queued=True):
        """A queued job whose user photo and "Queued" message exist in the fake chat."""
        if chat == "private":
            update = self.fake.photo_update(photo())
        else:
            update = self.fake.photo_update(photo(), chat=chat)
        message = update["message"]
        job, created = await self.store.enqueue(
            NewJob(
                user_id=DEFAULT_USER_ID,
                user_name=user_name,
                chat_id=message["chat"]["id"],
                chat_type=message["chat"]["type"],
                request_message_id=message["message_id"],
                reply_to_message_id=message["message_id"],
                content_name="content.jpg",
                styles=(StyleRef(preset="monet"),),
            ),
            {"content.jpg": photo()},
        )
        assert created
        if queued:
            sent = await self.bot.send_message(job.chat_id, "🎨 Queued")
            await self.store.set_progress_message(job.id, sent.message_id)
            job = await self.store.get(job.id)
        return job

    async def tick(self) -> None:
        await self.notifier.tick()


@contextlib.asynccontextmanager
async def rig_for(fake, tmp_path, request: BaseRequest | None = None, **env) -> AsyncIterator[Rig]:
    settings = make_settings(fake, tmp_path, **env)
    store = await JobStore.open(settings.data_dir)
    bot = ExtBot(
        fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url, request=request
    )
    async with bot:
        try:
            yield Rig(fake, BotDeps(settings, store, load_catalogue()), bot)
        finally:
            await store.close()


@pytest.fixture(autouse=True)
def fast_intervals(monkeypatch):
    monkeypatch.setattr(notifier_module, "PRIVATE_EDIT_INTERVAL", 0.2)
    monkeypatch.setattr(notifier_module, "GROUP_EDIT_INTERVAL", 0.6)


@pytest.fixture
def monotonic(monkeypatch) -> FakeClock:
    """The notifier's monotonic clock (edit spacing, 429 back-offs), moved by hand: a window
    such as "the next tick comes before 0.6 s" then holds however busy the machine is."""
    clock = FakeClock()
    monkeypatch.setattr(notifier_module, "time", SimpleNamespace(monotonic=clock, time=time.time))
    return clock


def caption_of(call) -> str:
    media = call.params.get("media")
    if isinstance(media, dict):
        return media.get("caption") or ""
    return call.text or ""


async def test_progress_then_result(fake_api, tmp_path):
    async with rig_for(fake_api, tmp_path) as rig:
        job = await rig.job()
        queued_id = job.progress_message_id
        job = await rig.engine.claim()
        mark = fake_api.mark()
        await rig.tick()  # claimed: "getting the brushes ready"
        start = fake_api.calls("editMessageText", since=mark)
        assert start and "brushes" in start[0].text

        await rig.engine.progress(job, 100, 200)
        await asyncio.sleep(0.25)
        mark = fake_api.mark()
        await rig.tick()
        # The fake, like older Bot APIs, can't put media on a text message: the notifier
        # replaces the queued message by a photo (and deletes the text one).
        calls = fake_api.calls(since=mark)
        methods = [c.method for c in calls]
        assert methods[:3] == ["editMessageMedia", "sendPhoto", "deleteMessage"]
        photo_msg = calls[1]
        assert "Step 100/200" in photo_msg.text and "50%" in photo_msg.text
        assert decode(photo_msg.file_bytes("photo")).size == (64, 48)
        assert calls[2].params["message_id"] == queued_id
        job = await rig.store.get(job.id)
        assert job.progress_message_id == photo_msg.result["message_id"]

        await rig.engine.progress(job, 200, 200)
        await asyncio.sleep(0.25)
        mark = fake_api.mark()
        await rig.tick()
        [edit] = fake_api.calls("editMessageMedia", since=mark)
        assert edit.ok and "Step 200/200" in caption_of(edit)
        assert edit.params["message_id"] == job.progress_message_id

        await rig.engine.finish(job, size=(120, 80))
        mark = fake_api.mark()
        await rig.tick()
        done = fake_api.calls("editMessageCaption", since=mark)
        assert done and done[0].params["caption"].startswith("✅ Done in")
        [result] = fake_api.calls("sendPhoto", since=mark)
        assert decode(result.file_bytes("photo")).size == (120, 80)
        reply = result.params["reply_parameters"]
        assert reply["message_id"] == job.reply_to_message_id
        assert reply["allow_sending_without_reply"] is True
        assert result.buttons()[0] == ("Full resolution (PNG)", f"png:{job.id}")  # no frames
        assert [data for _, data in result.buttons()[1:]] == [
            f"var:{job.id}:{kind}" for kind in ("more", "less", "colors", "styles")
        ]
        assert "The Water-Lily Pond" in result.text and "120×80" in result.text
        assert "for " not in result.text  # private chat: no credit line
        assert (await rig.store.get(job.id)).delivered_at is not None

        mark = fake_api.mark()
        await rig.tick()
        await rig.tick()
        assert not [c for c in fake_api.calls(since=mark) if c.method != "getUpdates"]


async def test_states_are_coalesced(fake_api, tmp_path):
    async with rig_for(fake_api, tmp_path) as rig:
        await rig.job()
        job = await rig.engine.claim()
        for i in (100, 200, 300):
            await rig.engine.progress(job, i, 500)
        mark = fake_api.mark()
        await rig.tick()
        shown = [
            c
            for c in fake_api.calls(since=mark)
            if c.method in ("sendPhoto", "editMessageMedia") and c.ok
        ]
        assert len(shown) == 1 and "300/500" in caption_of(shown[0])


async def test_edits_are_spaced_per_chat(fake_api, tmp_path, monotonic):
    async with rig_for(fake_api, tmp_path) as rig:
        await rig.job(chat="supergroup")
        job = await rig.engine.claim()
        await rig.engine.progress(job, 100, 500)
        await rig.tick()
        await rig.engine.progress(job, 200, 500)
        mark = fake_api.mark()
        monotonic.advance(0.55)
        await rig.tick()  # too soon for a group (0.6 s here, 3 s for real)
        assert not fake_api.calls("editMessageMedia", since=mark)
        await rig.engine.progress(job, 300, 500)
        monotonic.advance(0.1)
        await rig.tick()
        edits = fake_api.calls("editMessageMedia", since=mark)
        assert len(edits) == 1 and "300/500" in caption_of(edits[0])


async def test_flood_control_does_not_crash_and_backs_off(fake_api, tmp_path, monotonic):
    async with rig_for(fake_api, tmp_path) as rig:
        await rig.job()
        job = await rig.engine.claim()
        await rig.engine.progress(job, 100, 500)
        await rig.tick()
        monotonic.advance(0.25)
        await rig.engine.progress(job, 200, 500)
        fake_api.fail_next("editMessageMedia", 1, retry_after=1)
        mark = fake_api.mark()
        await rig.tick()
        [refused] = fake_api.calls("editMessageMedia", since=mark)
        assert refused.status == 429
        monotonic.advance(0.95)
        await rig.tick()  # still inside retry_after: nothing sent
        assert len(fake_api.calls("editMessageMedia", since=mark)) == 1
        monotonic.advance(0.1)
        await rig.tick()
        edits = fake_api.calls("editMessageMedia", since=mark)
        assert edits[-1].ok and "200/500" in caption_of(edits[-1])


async def test_deleted_progress_message_is_replaced(fake_api, tmp_path):
    async with rig_for(fake_api, tmp_path) as rig:
        job = await rig.job()
        fake_api.delete_message(job.chat_id, job.progress_message_id)
        job = await rig.engine.claim()
        await rig.engine.progress(job, 100, 500, preview=False)
        mark = fake_api.mark()
        await rig.tick()
        [fresh] = fake_api.calls("sendMessage", since=mark)
        assert "100/500" in fresh.text
        assert (await rig.store.get(job.id)).progress_message_id == fresh.result["message_id"]

        # Deleted again before the end: the final edit is skipped, the result still comes.
        fake_api.delete_message(job.chat_id, fresh.result["message_id"])
        await rig.engine.finish(job)
        mark = fake_api.mark()
        await rig.tick()
        assert len(fake_api.calls("sendPhoto", since=mark)) == 1
        assert (await rig.store.get(job.id)).delivered_at is not None


async def test_failed_and_cancelled_jobs(fake_api, tmp_path):
    async with rig_for(fake_api, tmp_path) as rig:
        failing = await rig.job()
        claimed = await rig.engine.claim()
        assert claimed.id == failing.id
        await rig.engine.fail(claimed, "This image is too big for the GPU right now.")  # shown
        cancelled = await rig.job()
        await rig.store.cancel(cancelled.id)
        mark = fake_api.mark()
        await rig.tick()
        edits = {
            c.params["message_id"]: c.text for c in fake_api.calls("editMessageText", since=mark)
        }
        assert (
            edits[failing.progress_message_id] == "😕 This image is too big for the GPU right now."
        )
        assert edits[cancelled.progress_message_id] == "Cancelled."
        assert not fake_api.calls("sendPhoto", since=mark)
        for job in (failing, cancelled):
            assert (await rig.store.get(job.id)).delivered_at is not None


async def test_group_result_credits_the_requester(fake_api, tmp_path):
    async with rig_for(fake_api, tmp_path) as rig:
        await rig.job(chat="supergroup", user_name="@alice")
        await rig.job(chat="supergroup", user_name="Bob <the builder>")
        for _ in range(2):
            job = await rig.engine.claim()
            await rig.engine.finish(job)
        mark = fake_api.mark()
        await rig.tick()
        results = fake_api.calls("sendPhoto", since=mark)
        assert [r.ok for r in results] == [True, True]
        assert all(r.chat_id == DEFAULT_GROUP_ID for r in results)
        assert results[0].text.endswith("for @alice")
        assert f'<a href="tg://user?id={DEFAULT_USER_ID}">Bob &lt;the builder&gt;</a>' in (
            results[1].text
        )
        assert results[0].params["parse_mode"] == "HTML"


async def test_delivered_exactly_once_across_a_restart(fake_api, tmp_path):
    async with rig_for(fake_api, tmp_path) as rig:
        await rig.job()
        job = await rig.engine.claim()
        await rig.engine.finish(job)
        mark = fake_api.mark()
        # A "restarted" bot: a brand-new notifier with no memory, twice.
        for _ in range(2):
            await Notifier(rig.bot, rig.deps).tick()
        await rig.tick()
        assert len(fake_api.calls("sendPhoto", since=mark)) == 1


async def test_blocked_chat_is_marked_delivered(fake_api, tmp_path):
    async with rig_for(fake_api, tmp_path) as rig:
        await rig.job()
        job = await rig.engine.claim()
        await rig.engine.finish(job)
        fake_api.fail_next_with(
            "editMessageText", 5, status=403, description="Forbidden: bot was blocked by the user"
        )
        fake_api.fail_next_with(
            "editMessageCaption",
            5,
            status=403,
            description="Forbidden: bot was blocked by the user",
        )
        await rig.tick()
        assert (await rig.store.get(job.id)).delivered_at is not None


async def test_result_without_progress_message(fake_api, tmp_path):
    async with rig_for(fake_api, tmp_path) as rig:
        job = await rig.job(queued=False)
        job = await rig.engine.claim()
        await rig.engine.fail(job, "Out of paint.")
        mark = fake_api.mark()
        await rig.tick()
        [sent] = fake_api.calls("sendMessage", since=mark)
        assert sent.text == "😕 Out of paint."


async def test_background_loop_survives_errors(fake_api, tmp_path):
    async with rig_for(fake_api, tmp_path) as rig:
        await rig.job()
        job = await rig.engine.claim()
        await rig.engine.finish(job)
        fake_api.fail_next_with("sendPhoto", 1, status=500, description="Internal Server Error")
        rig.notifier.start()
        try:
            call = await fake_api.wait_for("sendPhoto", lambda c: c.ok, timeout=5)
        finally:
            await rig.notifier.stop()
        assert call.ok
        assert len([c for c in fake_api.calls("sendPhoto") if c.ok]) == 1


def test_progress_text():
    from dataclasses import replace

    from jobs import Job, JobOptions, JobStatus

    job = Job(
        id=1,
        user_id=1,
        user_name="a",
        chat_id=1,
        chat_type="private",
        request_message_id=1,
        reply_to_message_id=1,
        content_name="content.jpg",
        styles=(StyleRef(preset="monet"),),
        options=JobOptions(),
        status=JobStatus.RUNNING,
        priority=0,
        progress_message_id=None,
        iteration=100,
        total_iterations=400,
        loss=None,
        preview_name=None,
        progress_at=1030.0,
        attempts=1,
        error=None,
        result_name=None,
        created_at=990.0,
        started_at=1000.0,
        finished_at=None,
        delivered_at=None,
        worker_id="w",
        cancel_requested=False,
    )
    text = progress_text(job, now=1030.0)
    assert "Step 100/400" in text and "25%" in text
    assert "30s elapsed" in text and "about 1m 30s left" in text
    assert "▰" in text
    assert "brushes" in progress_text(replace(job, iteration=0), now=1030.0)
    # The engine's own estimate wins over the straight line (coarse scales are cheap).
    assert "about 4m left" in progress_text(replace(job, eta_at=1270.0), now=1030.0)


async def test_restart_with_a_photo_progress_message(fake_api, tmp_path):
    async with rig_for(fake_api, tmp_path) as rig:
        await rig.job()
        job = await rig.engine.claim()
        await rig.engine.progress(job, 100, 300)
        await rig.tick()  # the progress message is now a photo
        job = await rig.store.get(job.id)
        fresh = Notifier(rig.bot, rig.deps)  # a restarted bot knows nothing about it
        await rig.engine.finish(job)
        mark = fake_api.mark()
        await fresh.tick()
        captions = [c for c in fake_api.calls("editMessageCaption", since=mark) if c.ok]
        assert captions and captions[0].params["message_id"] == job.progress_message_id
        assert captions[0].params["caption"].startswith("✅ Done in")
        assert len(fake_api.calls("sendPhoto", since=mark)) == 1


async def test_gives_up_on_a_result_telegram_keeps_refusing(fake_api, tmp_path, monkeypatch):
    monkeypatch.setattr(notifier_module, "MAX_DELIVERY_FAILURES", 3)
    async with rig_for(fake_api, tmp_path) as rig:
        await rig.job()
        job = await rig.engine.claim()
        await rig.engine.finish(job)
        for method in ("sendPhoto", "sendDocument"):
            fake_api.fail_next_with(method, 10, status=400, description="Bad Request: odd")
        for _ in range(2):
            await rig.tick()
            assert (await rig.store.get(job.id)).delivered_at is None
        await rig.tick()
        assert (await rig.store.get(job.id)).delivered_at is not None


async def test_queued_messages_follow_the_queue(fake_api, tmp_path, monkeypatch):
    monkeypatch.setattr(notifier_module, "QUEUE_REFRESH_SECONDS", 0.0)
    async with rig_for(fake_api, tmp_path) as rig:
        first = await rig.job()
        second = await rig.job()
        await rig.tick()  # notes the places; the handler already wrote them
        assert not [
            c for c in fake_api.calls("editMessageText")
            if str(c.params.get("message_id")) == str(second.progress_message_id)
        ]  # fmt: skip
        await rig.engine.claim()  # `first` starts painting: `second` moves up to next
        await asyncio.sleep(0.25)
        mark = fake_api.mark()
        await rig.tick()  # the chat's edit goes to `first` ("getting the brushes ready") ...
        await asyncio.sleep(0.25)
        await rig.tick()  # ... and, spaced out like every edit in a chat, `second`'s place
        edits = [
            c for c in fake_api.calls("editMessageText", since=mark)
            if str(c.params.get("message_id")) == str(second.progress_message_id)
        ]  # fmt: skip
        assert len(edits) == 1 and "you're next" in edits[0].text
        await asyncio.sleep(0.25)
        mark = fake_api.mark()
        await rig.tick()  # nothing moved: no more edits of it
        assert not [
            c for c in fake_api.calls("editMessageText", since=mark)
            if str(c.params.get("message_id")) == str(second.progress_message_id)
        ]  # fmt: skip
        assert first.id != second.id


@pytest.mark.parametrize("fault", ["error", "hang"])
async def test_a_result_that_fails_to_send_holds_back_none_of_the_others(fake_api, tmp_path, fault):
    """#28's fault injection at the deliver step: of three finished jobs in three chats, the
    first result sent Telegram refuses (500, as a photo and as a file) or never answers (the
    bot's request times out: 1 s here, 30 s in the bot); it waits for the next tick (its chat
    is left alone until then), the other two are delivered at once, and every chat gets its
    result exactly once."""
    request = HTTPXRequest(read_timeout=1.0) if fault == "hang" else None
    async with rig_for(fake_api, tmp_path, request=request) as rig:
        jobs = []
        for k in range(3):
            await rig.job(chat=make_chat(-1000 - k, title=f"Club {k}"))
            job = await rig.engine.claim()
            await rig.engine.finish(job)
            jobs.append(job)
        methods = ("sendPhoto", "sendDocument")
        if fault == "hang":
            fake_api.hang_next("sendPhoto")
        for method in methods if fault == "error" else ():
            fake_api.fail_next_with(method, 1, status=500, description="Internal Server Error")
        mark = fake_api.mark()
        await rig.tick()
        delivered = [(await rig.store.get(job.id)).delivered_at is not None for job in jobs]
        assert delivered.count(True) == 2
        await rig.tick()
        assert all([(await rig.store.get(job.id)).delivered_at is not None for job in jobs])
        sent = [c for m in methods for c in fake_api.calls(m, since=mark) if c.ok]
        replies = sorted((int(c.chat_id), c.params["reply_parameters"]["message_id"]) for c in sent)
        assert replies == sorted((job.chat_id, job.reply_to_message_id) for job in jobs)
        assert len(fake_api.hung) == (fault == "hang")
