"""Updates whose handler found the database away are handled again once it is back
(bot/redelivery.py): the real bot in-process against the fake Bot API, on a PostgreSQL of the
test's own that is stopped under it; and `python -m bot` stopped (or killed) during the outage
and started again, as a container that restarts would be."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path

import pytest
from telegram import Update

from bot import texts
from bot.app import METRICS_KEY
from bot.redelivery import KEEP_FILE, redelivery_of
from jobs import JobStore
from tests.fake_bot_api import make_user
from tests.style_support import jobs_of, make_settings, photo, style_bot
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(120)

ALICE = make_user(3001, "Alice")
BOB = make_user(3002, "Bob")
CAROL = make_user(3003, "Carol")  # sends a later update: once it is answered, the rest is done
PATIENCE = 0.5  # how long a store call waits for the away server (15 s by default)


def sent_texts(fake_api, chat_id: int) -> list[str]:
    return [c.text or "" for c in fake_api.calls("sendMessage") if c.chat_id == chat_id]


def settled(app) -> bool:
    """Nothing more can come of the updates so far: none waits for another try (kept, or
    sleeping out its back-off), none is on the update queue or in a handler, no album is
    being collected. A second job or message would have been made by now."""
    redelivery = redelivery_of(app)
    return not (
        redelivery._kept
        or redelivery._waiting
        or redelivery._scheduled
        or app.update_queue.qsize()
        or app.update_processor.current_concurrent_updates
        or app.bot_data.get("style_albums")
    )


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
        await eventually(lambda: settled(deps.app), 30, "every try over")
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
        await eventually(lambda: settled(deps.app), 10, "no try left")
        assert sent_texts(fake_api, ALICE["id"]) == [texts.DATABASE_AWAY]
        await asyncio.to_thread(own_postgres.start)
        assert await jobs_of(deps.store, ALICE["id"]) == []


def kept_update_ids(keep: Path) -> list[int]:
    try:
        entries = json.loads(keep.read_text())
    except (FileNotFoundError, ValueError):
        return []
    return sorted(u["update_id"] for entry in entries for u in entry["updates"])


@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
async def test_requests_waiting_for_the_database_survive_a_restart_of_the_bot(
    fake_api, bot_env, spawn_bot, own_postgres, how
):
    """A photo and an album arrive while PostgreSQL is stopped; while they wait for it, the
    bot process is stopped (SIGTERM, as `docker stop` does) or killed, and started again with
    the server still away; once it is back, each request has exactly one job and one queued
    message, and nobody was told of an error. Telegram had been told the updates were handled
    (they are not in getUpdates any more): the waiting updates come back from DATA_DIR."""
    own_postgres.start()
    env = {**bot_env, "DATABASE_URL": own_postgres.url(), "ALBUM_WAIT_SECONDS": "0.3"}
    keep = Path(env["DATA_DIR"]) / KEEP_FILE
    first = await spawn_bot(env)
    await first.wait_output("Picasso Me started", 60)
    await asyncio.to_thread(own_postgres.stop)
    single = fake_api.photo_update(photo(), "/style monet", user=ALICE)
    album = fake_api.album_update([photo(), photo(color=(0, 0, 255))], "/style udnie", user=BOB)
    ids = sorted(fake_api.push(single, *album))
    # Each handler waits out the store's patience (15 s), then its update waits for a retry.
    await eventually(lambda: kept_update_ids(keep) == ids, 60, "all three kept waiting")
    await eventually(lambda: not fake_api.pending_updates, 10, "the updates confirmed")
    assert await first.stop(how) == (0 if how == signal.SIGTERM else -signal.SIGKILL)
    if how == signal.SIGTERM:
        assert "kept in" in first.output, first.output
    assert kept_update_ids(keep) == ids  # still there for the next start

    second = await spawn_bot(env)
    await second.wait_output("is unreachable", 30)  # the store waits for the server at start
    await asyncio.to_thread(own_postgres.start)
    await second.wait_output("Picasso Me started", 60)

    def queued(user) -> list[str]:
        return [t for t in sent_texts(fake_api, user["id"]) if "Queued" in t]

    await eventually(lambda: len(queued(ALICE)) == 1 and len(queued(BOB)) == 2, 60, "queued")
    await eventually(lambda: not keep.exists(), 10, "the keep file emptied")
    # Every kept update had a try that got through; an update sent after that is handled too
    # (a second job or message would have shown up by then).
    probe = fake_api.text_update("/help", user=CAROL)
    fake_api.push(probe)
    await fake_api.wait_for("sendMessage", lambda c: c.chat_id == CAROL["id"], 30)
    assert len(queued(ALICE)) == 1 and len(queued(BOB)) == 2
    for user in (ALICE, BOB):
        assert not [t for t in sent_texts(fake_api, user["id"]) if "Queued" not in t]
    store = await JobStore.open(Path(env["DATA_DIR"]), database_url=own_postgres.url())
    try:
        [job] = await jobs_of(store, ALICE["id"])
        assert job.request_message_id == single["message"]["message_id"]
        bobs = await jobs_of(store, BOB["id"])
        assert sorted(j.request_message_id for j in bobs) == sorted(
            u["message"]["message_id"] for u in album
        )
    finally:
        await store.close()
    await second.stop()
    assert "Traceback" not in first.output + second.output, first.output + second.output


async def test_the_keep_file_round_trip_and_what_a_damaged_one_costs(fake_api, tmp_path):
    """What one process keeps, the next restores (the tries counted on, an album together);
    an unreadable entry is skipped, an unreadable file costs nothing but a warning."""
    from bot.app import build_application

    settings = make_settings(fake_api, tmp_path)
    keep = settings.data_dir / KEEP_FILE
    first = build_application(settings, with_services=False)
    updates = [
        Update.de_json({"update_id": n, **fake_api.text_update(f"/help {n}")}, first.bot)
        for n in (7, 8, 9)
    ]
    kept = redelivery_of(first)
    kept._remember(updates[:1], 2)
    kept._remember(updates[1:], 1)  # an album's items, together
    await kept.written()  # written in a thread, off the event loop
    assert kept_update_ids(keep) == [7, 8, 9]
    entries = json.loads(keep.read_text())
    keep.write_text(json.dumps([*entries, {"tries": "x"}, {"nothing": 1}]))

    second = build_application(settings, with_services=False)
    assert redelivery_of(second).restore() == 3
    queued = [second.update_queue.get_nowait() for _ in range(3)]
    assert [u.update_id for u in queued] == [7, 8, 9]
    assert queued[0].message.text == "/help 7"
    assert redelivery_of(second)._tries[7][0] == 2 and redelivery_of(second)._tries[9][0] == 1
    redelivery_of(second).done(queued[:1])  # handled: no longer kept
    await redelivery_of(second).written()
    assert kept_update_ids(keep) == [8, 9]

    keep.write_text("{not json")
    third = build_application(settings, with_services=False)
    assert redelivery_of(third).restore() == 0
