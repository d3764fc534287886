"""Updates whose handler found the database away are handled again once it is back
(bot/redelivery.py): the real bot in-process against the fake Bot API, on a PostgreSQL of the
test's own that is stopped under it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot import texts
from bot.app import METRICS_KEY
from bot.redelivery import redelivery_of
from tests.fake_bot_api import make_user
from tests.style_support import jobs_of, make_settings, photo, style_bot
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(120)

ALICE = make_user(3001, "Alice")
BOB = make_user(3002, "Bob")
PATIENCE = 0.5  # how long a store call waits for the away server (15 s by default)


def sent_texts(fake_api, chat_id: int) -> list[str]:
    return [c.text or "" for c in fake_api.calls("sendMessage") if c.chat_id == chat_id]


async def test_requests_meeting_a_stopped_database_are_queued_once_it_is_back(
    fake_api, tmp_path, own_postgres, caplog
):
    """A photo and an album arrive while PostgreSQL is stopped: their handlers fail, the
    updates are put back and handled again until it is back; then each request has exactly
    one job and one queued message, nobody is told of an error, nothing logs a traceback,
    and the updates are counted once."""
    caplog.set_level(logging.INFO, logger="bot.redelivery")
    own_postgres.start()
    settings = make_settings(fake_api, tmp_path, DATABASE_URL=own_postgres.url())
    async with style_bot(fake_api, settings) as deps:
        deps.store._db.patience = PATIENCE
        await asyncio.to_thread(own_postgres.stop)
        single = fake_api.photo_update(photo(), "/style monet", user=ALICE)
        album = fake_api.album_update([photo(), photo(color=(0, 0, 255))], "/style udnie", user=BOB)
        fake_api.push(single, *album)
        await eventually(  # each was put back at least twice
            lambda: caplog.text.count("(try 3 of") >= 2, 30, "two rounds of redelivery"
        )
        await asyncio.to_thread(own_postgres.start)

        def queued(user) -> list[str]:
            return [t for t in sent_texts(fake_api, user["id"]) if "Queued" in t]

        await eventually(lambda: len(queued(ALICE)) == 1 and len(queued(BOB)) == 2, 60, "queued")
        await asyncio.sleep(1.5)  # a second job or message would show up now
        [job] = await jobs_of(deps.store, ALICE["id"])
        assert job.request_message_id == single["message"]["message_id"]
        assert job.progress_message_id is not None
        bobs = await jobs_of(deps.store, BOB["id"])
        assert sorted(j.request_message_id for j in bobs) == sorted(
            u["message"]["message_id"] for u in album
        )
        assert len(queued(ALICE)) == 1 and len(queued(BOB)) == 2
        for user in (ALICE, BOB):
            assert not [t for t in sent_texts(fake_api, user["id"]) if "Queued" not in t]
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
        counted = deps.app.bot_data[METRICS_KEY].registry.get_sample_value(
            "picasso_telegram_updates_total"
        )
        assert counted == 3


async def test_a_request_is_declined_politely_when_the_database_stays_away(
    fake_api, tmp_path, own_postgres, caplog
):
    """After its last try the user is asked to send it again, once; nothing is queued."""
    caplog.set_level(logging.INFO, logger="bot.redelivery")
    own_postgres.start()
    settings = make_settings(fake_api, tmp_path, DATABASE_URL=own_postgres.url())
    async with style_bot(fake_api, settings) as deps:
        deps.store._db.patience = PATIENCE
        redelivery_of(deps.app).delays = (0.2, 0.2, 0.2)
        await asyncio.to_thread(own_postgres.stop)
        update = fake_api.photo_update(photo(), "/style monet", user=ALICE)
        fake_api.push(update)
        await fake_api.wait_for("sendMessage", lambda c: c.text == texts.DATABASE_AWAY, 30)
        assert caplog.text.count("(try 4 of 4)") == 1
        assert "gave up on update" in caplog.text
        await asyncio.sleep(1.5)  # no further try, no second apology
        assert sent_texts(fake_api, ALICE["id"]) == [texts.DATABASE_AWAY]
        await asyncio.to_thread(own_postgres.start)
        assert await jobs_of(deps.store, ALICE["id"]) == []
